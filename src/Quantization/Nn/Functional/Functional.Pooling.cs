namespace Quantization.Nn;

internal static partial class Functional
{
    /// <summary>
    /// Max pooling over kernel windows (padding counts as -∞). The forward pass keeps the flat index of each
    /// window's maximum (the first one on ties, as PyTorch); backward routes dy there.
    /// </summary>
    public static Variable MaxPool2d(Variable x, int kernel, int stride, int padding)
    {
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        int oh = (h + 2 * padding - kernel) / stride + 1, ow = (w + 2 * padding - kernel) / stride + 1;
        var y = new Tensor(n, c, oh, ow);
        var argmax = new int[y.Length];
        var xs = x.Value.AsSpan();
        var ys = y.AsSpan();
        for (int plane = 0; plane < n * c; plane++)
        {
            int inBase = plane * h * w, outBase = plane * oh * ow;
            for (int i = 0; i < oh; i++)
            {
                for (int j = 0; j < ow; j++)
                {
                    float best = float.NegativeInfinity;
                    int bestIndex = -1;
                    for (int ki = 0; ki < kernel; ki++)
                    {
                        int ih = i * stride - padding + ki;
                        if ((uint)ih >= (uint)h)
                            continue;
                        for (int kj = 0; kj < kernel; kj++)
                        {
                            int iw = j * stride - padding + kj;
                            if ((uint)iw >= (uint)w)
                                continue;
                            float v = xs[inBase + ih * w + iw];
                            if (v > best || bestIndex < 0 || float.IsNaN(v))
                            {
                                best = v;
                                bestIndex = inBase + ih * w + iw;
                            }
                        }
                    }

                    ys[outBase + i * ow + j] = best;
                    argmax[outBase + i * ow + j] = bestIndex;
                }
            }
        }

        return Variable.Record(y, [x], dy =>
        {
            var dx = new Tensor(x.Shape);
            var d = dx.AsSpan();
            var g = dy.AsSpan();
            for (int k = 0; k < argmax.Length; k++)
                d[argmax[k]] += g[k];
            x.AccumulateGrad(dx);
        });
    }

    /// <summary>
    /// Average pooling over kernel windows with zero padding; the divisor is the full window (PyTorch's
    /// count_include_pad = true) or, with <paramref name="countIncludePad"/> false, the taps inside the image.
    /// </summary>
    public static Variable AvgPool2d(Variable x, int kernel, int stride, int padding, bool countIncludePad)
    {
        int h = x.Shape[2], w = x.Shape[3];
        int oh = (h + 2 * padding - kernel) / stride + 1, ow = (w + 2 * padding - kernel) / stride + 1;
        return WindowAverage(x, oh, ow, (i, j) =>
        {
            int h0 = i * stride - padding, w0 = j * stride - padding;
            int h1 = Math.Min(h0 + kernel, h), w1 = Math.Min(w0 + kernel, w);
            int ch0 = Math.Max(h0, 0), cw0 = Math.Max(w0, 0);
            int count = countIncludePad ? kernel * kernel : (h1 - ch0) * (w1 - cw0);
            return (ch0, h1, cw0, w1, count);
        });
    }

    /// <summary>Adaptive average pooling: output cell (i, j) averages rows [⌊i·H/oh⌋, ⌈(i+1)·H/oh⌉) and the same for columns.</summary>
    public static Variable AdaptiveAvgPool2d(Variable x, int oh, int ow)
    {
        int h = x.Shape[2], w = x.Shape[3];
        return WindowAverage(x, oh, ow, (i, j) =>
        {
            int h0 = i * h / oh, h1 = ((i + 1) * h + oh - 1) / oh;
            int w0 = j * w / ow, w1 = ((j + 1) * w + ow - 1) / ow;
            return (h0, h1, w0, w1, (h1 - h0) * (w1 - w0));
        });
    }

    /// <summary>Shared by the average pools: each output cell is the sum of a window divided by a count.</summary>
    private static Variable WindowAverage(Variable x, int oh, int ow, Func<int, int, (int H0, int H1, int W0, int W1, int Count)> window)
    {
        int n = x.Shape[0], c = x.Shape[1], h = x.Shape[2], w = x.Shape[3];
        var windows = new (int H0, int H1, int W0, int W1, int Count)[oh * ow];
        for (int i = 0; i < oh; i++)
        {
            for (int j = 0; j < ow; j++)
                windows[i * ow + j] = window(i, j);
        }

        var y = new Tensor(n, c, oh, ow);
        var xs = x.Value.AsSpan();
        var ys = y.AsSpan();
        for (int plane = 0; plane < n * c; plane++)
        {
            for (int k = 0; k < windows.Length; k++)
            {
                var (h0, h1, w0, w1, count) = windows[k];
                float sum = 0f;
                for (int ih = h0; ih < h1; ih++)
                    sum += System.Numerics.Tensors.TensorPrimitives.Sum(xs.Slice(plane * h * w + ih * w + w0, w1 - w0));
                ys[plane * windows.Length + k] = sum / count;
            }
        }

        return Variable.Record(y, [x], dy =>
        {
            var dx = new Tensor(x.Shape);
            var d = dx.AsSpan();
            var g = dy.AsSpan();
            for (int plane = 0; plane < n * c; plane++)
            {
                for (int k = 0; k < windows.Length; k++)
                {
                    var (h0, h1, w0, w1, count) = windows[k];
                    float share = g[plane * windows.Length + k] / count;
                    for (int ih = h0; ih < h1; ih++)
                    {
                        var row = d.Slice(plane * h * w + ih * w + w0, w1 - w0);
                        System.Numerics.Tensors.TensorPrimitives.Add(row, share, row);
                    }
                }
            }

            x.AccumulateGrad(dx);
        });
    }
}
