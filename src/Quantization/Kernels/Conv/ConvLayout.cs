namespace Quantization.Kernels.Conv;

/// <summary>
/// Layout changes around the GEMM. The public tensors are NCHW; inside, a convolution works on NHWC so that
/// an im2col row is a few contiguous channel runs (one per kernel tap) and a 1×1 convolution needs no im2col.
/// </summary>
internal static class ConvLayout
{
    /// <summary>One image: [C, H·W] → [H·W, C].</summary>
    public static void ChannelsLast<T>(ReadOnlySpan<T> chw, int channels, int pixels, Span<T> hwc) => Transpose(chw, channels, pixels, hwc);

    /// <summary>One image: [H·W, C] → [C, H·W].</summary>
    public static void ChannelsFirst<T>(ReadOnlySpan<T> hwc, int pixels, int channels, Span<T> chw) => Transpose(hwc, pixels, channels, chw);

    /// <summary>
    /// im2col over one NHWC image for one group: row p = (oh, ow) holds, for each tap (kh, kw) in order, the group's
    /// channels at that input pixel, or <paramref name="padValue"/> where the tap falls in the padding. Row length
    /// <see cref="Conv2dGeometry.PatchSize"/>, column order (kh, kw, c) — the order the weights are packed in.
    /// </summary>
    public static void Im2Col<T>(ReadOnlySpan<T> hwc, int height, int width, int group, Conv2dGeometry g, T padValue, Span<T> columns)
    {
        int oh = g.OutputHeight(height), ow = g.OutputWidth(width);
        int cig = g.InChannelsPerGroup, channels = g.InChannels, patch = g.PatchSize;
        for (int i = 0; i < oh; i++)
        {
            for (int j = 0; j < ow; j++)
            {
                Span<T> row = columns.Slice((i * ow + j) * patch, patch);
                int tap = 0;
                for (int kh = 0; kh < g.KernelH; kh++)
                {
                    int ih = i * g.StrideH - g.PadTop + kh * g.DilationH;
                    for (int kw = 0; kw < g.KernelW; kw++, tap += cig)
                    {
                        int iw = j * g.StrideW - g.PadLeft + kw * g.DilationW;
                        Span<T> destination = row.Slice(tap, cig);
                        if ((uint)ih < (uint)height && (uint)iw < (uint)width)
                            hwc.Slice((ih * width + iw) * channels + group * cig, cig).CopyTo(destination);
                        else
                            destination.Fill(padValue);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Reorders PyTorch weights [co, ci, kh, kw] of one group into rows [co, (kh, kw, ci)], the im2col column order.
    /// </summary>
    public static T[] WeightsToTapMajor<T>(ReadOnlySpan<T> weights, int group, Conv2dGeometry g)
    {
        int cog = g.OutChannelsPerGroup, cig = g.InChannelsPerGroup, taps = g.KernelH * g.KernelW;
        var result = new T[cog * g.PatchSize];
        for (int co = 0; co < cog; co++)
        {
            int source = (group * cog + co) * cig * taps;
            for (int c = 0; c < cig; c++)
            {
                for (int t = 0; t < taps; t++)
                    result[co * g.PatchSize + t * cig + c] = weights[source + c * taps + t];
            }
        }

        return result;
    }

    /// <summary>
    /// col2im for a transposed convolution: adds each input pixel's per-tap contributions (row p = input pixel, columns
    /// (tap, output channel of the group)) into the NHWC output pixels they land on.
    /// </summary>
    public static void ColumnsToImage<T>(ReadOnlySpan<T> contributions, int height, int width, int group, ConvTranspose2dGeometry g, Span<T> sums)
        where T : System.Numerics.IAdditionOperators<T, T, T>, System.Numerics.IAdditiveIdentity<T, T>
    {
        int oh = g.OutputHeight(height), ow = g.OutputWidth(width), cog = g.OutChannelsPerGroup, columns = g.Taps * cog;
        for (int i = 0; i < height; i++)
        {
            for (int j = 0; j < width; j++)
            {
                ReadOnlySpan<T> pixel = contributions.Slice((i * width + j) * columns, columns);
                for (int kh = 0; kh < g.KernelH; kh++)
                {
                    int o = i * g.StrideH - g.PadTop + kh * g.DilationH;
                    if ((uint)o >= (uint)oh)
                        continue;
                    for (int kw = 0; kw < g.KernelW; kw++)
                    {
                        int p = j * g.StrideW - g.PadLeft + kw * g.DilationW;
                        if ((uint)p >= (uint)ow)
                            continue;
                        Span<T> target = sums.Slice((o * ow + p) * g.OutChannels + group * cog, cog);
                        System.Numerics.Tensors.TensorPrimitives.Add(target, pixel.Slice((kh * g.KernelW + kw) * cog, cog), target);
                    }
                }
            }
        }
    }

    /// <summary>Cache-blocked transpose of a rows × cols matrix.</summary>
    private static void Transpose<T>(ReadOnlySpan<T> source, int rows, int cols, Span<T> destination)
    {
        const int Block = 32;
        for (int r0 = 0; r0 < rows; r0 += Block)
        {
            int r1 = Math.Min(rows, r0 + Block);
            for (int c0 = 0; c0 < cols; c0 += Block)
            {
                int c1 = Math.Min(cols, c0 + Block);
                for (int r = r0; r < r1; r++)
                {
                    for (int c = c0; c < c1; c++)
                        destination[c * rows + r] = source[r * cols + c];
                }
            }
        }
    }
}
