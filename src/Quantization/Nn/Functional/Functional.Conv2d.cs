using Quantization.Kernels.Conv;
using Quantization.Kernels.Gemm;

namespace Quantization.Nn;

internal static partial class Functional
{
    /// <summary>
    /// 2-D convolution of x [N, Ci, H, W] with W [Co, Ci/groups, kh, kw] as GEMMs over the whole batch: per group,
    /// <c>Y[co, (n, p)] = W[co, (ci, kh, kw)] · col[(ci, kh, kw), (n, p)]</c>, with col the channels-first im2col of
    /// the batch, so PyTorch's weight layout is the GEMM's A as is. Backward: dW = dY · colᵀ (colᵀ packed as a
    /// transposed B), dcol = Wᵀ · dY, and dX = col2im(dcol).
    /// </summary>
    public static Variable Conv2d(Variable x, Variable weight, Variable? bias, Conv2dGeometry g)
    {
        int n = x.Shape[0], h = x.Shape[2], w = x.Shape[3];
        int oh = g.OutputHeight(h), ow = g.OutputWidth(w), pixels = oh * ow, columns = n * pixels;
        int cig = g.InChannelsPerGroup, cog = g.OutChannelsPerGroup, patch = g.PatchSize;
        var cols = new float[g.Groups][];
        var yGrouped = new float[(long)g.OutChannels * columns];
        var wv = weight.Value.AsSpan();
        for (int grp = 0; grp < g.Groups; grp++)
        {
            cols[grp] = new float[(long)patch * columns];
            Im2ColChannelsFirst(x.Value.AsSpan(), n, h, w, grp, g, cols[grp]);
            Fp32Gemm.MultiplyUnpacked(wv.Slice(grp * cog * patch, cog * patch), cog, patch, cols[grp], columns,
                yGrouped.AsSpan(grp * cog * columns, cog * columns));
        }

        // [Co, N, P] -> [N, Co, P], adding the bias on the way.
        var y = new Tensor(n, g.OutChannels, oh, ow);
        var ys = y.AsSpan();
        for (int co = 0; co < g.OutChannels; co++)
        {
            float b = bias is null ? 0f : bias.Value.AsSpan()[co];
            for (int img = 0; img < n; img++)
            {
                var source = yGrouped.AsSpan((co * n + img) * pixels, pixels);
                var destination = ys.Slice((img * g.OutChannels + co) * pixels, pixels);
                System.Numerics.Tensors.TensorPrimitives.Add(source, b, destination);
            }
        }

        Variable[] inputs = bias is null ? [x, weight] : [x, weight, bias];
        return Variable.Record(y, inputs, dy =>
        {
            // dY back to [Co, N, P], the GEMM layout.
            var dyGrouped = new float[yGrouped.Length];
            var dys = dy.AsSpan();
            for (int co = 0; co < g.OutChannels; co++)
            {
                for (int img = 0; img < n; img++)
                    dys.Slice((img * g.OutChannels + co) * pixels, pixels).CopyTo(dyGrouped.AsSpan((co * n + img) * pixels, pixels));
            }

            if (bias is not null && bias.RequiresGrad)
            {
                var db = new Tensor(g.OutChannels);
                for (int co = 0; co < g.OutChannels; co++)
                    db.AsSpan()[co] = System.Numerics.Tensors.TensorPrimitives.Sum(dyGrouped.AsSpan(co * columns, columns));
                bias.AccumulateGrad(db);
            }

            var dw = weight.RequiresGrad ? new Tensor(weight.Shape) : null;
            var dx = x.RequiresGrad ? new Tensor(x.Shape) : null;
            for (int grp = 0; grp < g.Groups; grp++)
            {
                var dyg = dyGrouped.AsSpan(grp * cog * columns, cog * columns);
                if (dw is not null)
                {
                    var colT = Fp32Gemm.Pack(cols[grp], columns, patch, transposed: true);
                    Fp32Gemm.Multiply(dyg, cog, columns, colT, default, dw.AsSpan().Slice(grp * cog * patch, cog * patch), patch);
                }

                if (dx is not null)
                {
                    var wT = Transpose(weight.Value.AsSpan().Slice(grp * cog * patch, cog * patch), cog, patch);
                    var dcol = cols[grp];   // reused: the forward columns are not needed once dW is done
                    Fp32Gemm.MultiplyUnpacked(wT, patch, cog, dyg, columns, dcol);
                    Col2ImChannelsFirst(dcol, n, h, w, grp, g, dx.AsSpan());
                }
            }

            if (dw is not null)
                weight.AccumulateGrad(dw);
            if (dx is not null)
                x.AccumulateGrad(dx);
        });
    }

    /// <summary>
    /// Channels-first im2col of one group over the batch: row (ci, kh, kw) of <paramref name="columns"/> holds, for each
    /// image n and output pixel p, the input value under that tap, or 0 in the padding. Rows are [N · P] long.
    /// </summary>
    internal static void Im2ColChannelsFirst(ReadOnlySpan<float> x, int n, int h, int w, int group, Conv2dGeometry g, Span<float> columns)
    {
        int oh = g.OutputHeight(h), ow = g.OutputWidth(w), pixels = oh * ow, columnsLength = n * pixels;
        int row = 0;
        for (int c = 0; c < g.InChannelsPerGroup; c++)
        {
            int channel = group * g.InChannelsPerGroup + c;
            for (int kh = 0; kh < g.KernelH; kh++)
            {
                for (int kw = 0; kw < g.KernelW; kw++, row++)
                {
                    var destination = columns.Slice(row * columnsLength, columnsLength);
                    for (int img = 0; img < n; img++)
                    {
                        var plane = x.Slice((img * g.InChannels + channel) * h * w, h * w);
                        var outPlane = destination.Slice(img * pixels, pixels);
                        for (int i = 0; i < oh; i++)
                        {
                            int ih = i * g.StrideH - g.PadTop + kh * g.DilationH;
                            var outRow = outPlane.Slice(i * ow, ow);
                            if ((uint)ih >= (uint)h)
                            {
                                outRow.Clear();
                                continue;
                            }

                            var inRow = plane.Slice(ih * w, w);
                            int iw0 = kw * g.DilationW - g.PadLeft;
                            if (g.StrideW == 1 && iw0 >= 0 && iw0 + ow <= w)
                            {
                                inRow.Slice(iw0, ow).CopyTo(outRow);
                                continue;
                            }

                            for (int j = 0; j < ow; j++)
                            {
                                int iw = iw0 + j * g.StrideW;
                                outRow[j] = (uint)iw < (uint)w ? inRow[iw] : 0f;
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>The adjoint of <see cref="Im2ColChannelsFirst"/>: adds each column entry back to the input pixel it came from.</summary>
    internal static void Col2ImChannelsFirst(ReadOnlySpan<float> columns, int n, int h, int w, int group, Conv2dGeometry g, Span<float> dx)
    {
        int oh = g.OutputHeight(h), ow = g.OutputWidth(w), pixels = oh * ow, columnsLength = n * pixels;
        int row = 0;
        for (int c = 0; c < g.InChannelsPerGroup; c++)
        {
            int channel = group * g.InChannelsPerGroup + c;
            for (int kh = 0; kh < g.KernelH; kh++)
            {
                for (int kw = 0; kw < g.KernelW; kw++, row++)
                {
                    var source = columns.Slice(row * columnsLength, columnsLength);
                    for (int img = 0; img < n; img++)
                    {
                        var plane = dx.Slice((img * g.InChannels + channel) * h * w, h * w);
                        var inPlane = source.Slice(img * pixels, pixels);
                        for (int i = 0; i < oh; i++)
                        {
                            int ih = i * g.StrideH - g.PadTop + kh * g.DilationH;
                            if ((uint)ih >= (uint)h)
                                continue;
                            var colRow = inPlane.Slice(i * ow, ow);
                            var outRow = plane.Slice(ih * w, w);
                            int iw0 = kw * g.DilationW - g.PadLeft;
                            if (g.StrideW == 1 && iw0 >= 0 && iw0 + ow <= w)
                            {
                                var target = outRow.Slice(iw0, ow);
                                System.Numerics.Tensors.TensorPrimitives.Add(target, colRow, target);
                                continue;
                            }

                            for (int j = 0; j < ow; j++)
                            {
                                int iw = iw0 + j * g.StrideW;
                                if ((uint)iw < (uint)w)
                                    outRow[iw] += colRow[j];
                            }
                        }
                    }
                }
            }
        }
    }
}
