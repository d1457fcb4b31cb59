using System.Numerics;
using System.Runtime.InteropServices;

namespace Quantization.Kernels.Quantized;

internal static partial class QuantizedOps
{
    /// <summary>
    /// PyTorch's <c>pooling_output_shape</c>: <c>floor((in + 2 pad - dilation (kernel - 1) - 1 + (ceil ? stride - 1 : 0))
    /// / stride) + 1</c>, less one in ceil mode when the last window would start beyond the input and left padding.
    /// </summary>
    public static int PoolOutputSize(int input, int kernel, int stride, int pad, int dilation, bool ceilMode)
    {
        long numerator = (long)input + 2L * pad - (long)dilation * (kernel - 1) - 1 + (ceilMode ? stride - 1 : 0);
        long size = (numerator >= 0 ? numerator / stride : -((-numerator + stride - 1) / stride)) + 1;
        if (ceilMode && (size - 1) * stride >= (long)input + pad)
            size--;
        return (int)Math.Clamp(size, int.MinValue, int.MaxValue);
    }

    /// <summary>PyTorch's adaptive pooling start index: <c>floor((float)(o * in) / out)</c>.</summary>
    public static int AdaptiveStart(int o, int outSize, int inSize) => (int)MathF.Floor((float)((long)o * inSize) / outSize);

    /// <summary>PyTorch's adaptive pooling end index (exclusive): <c>ceil((float)((o + 1) * in) / out)</c>.</summary>
    public static int AdaptiveEnd(int o, int outSize, int inSize) => (int)MathF.Ceiling((float)((long)(o + 1) * inSize) / outSize);

    /// <summary>
    /// PyTorch's quantized <c>max_pool2d</c> on NCHW bytes: the largest value over the window positions inside the
    /// input (padding never wins), output parameters equal to the input ones. Output shape
    /// <c>(n, c, PoolOutputSize(h, ...), PoolOutputSize(w, ...))</c>.
    /// </summary>
    /// <exception cref="ArgumentException">Bad geometry (kernel, stride, dilation &lt; 1; padding outside
    /// [0, kernel / 2]; an empty output) or span lengths that do not match the shapes.</exception>
    public static void MaxPool2d(ReadOnlySpan<byte> x, int n, int c, int h, int w, int kernelH, int kernelW, int strideH, int strideW, int padH, int padW, int dilationH, int dilationW, bool ceilMode, Span<byte> y)
    {
        var (outH, outW) = CheckPool(x.Length, n, c, h, w, kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW, ceilMode, y.Length);
        // Vector columns: outputs [ow, ow + V) whose whole windows lie inside the row. Output ow + j reads column
        // strideW * (ow + j) - padW + kw * dilationW, so with unit stride a vector of outputs is the lane-wise max of
        // V consecutive bytes per tap; with stride 2 it is the even lanes of the max of 2V consecutive bytes per tap
        // (max commutes with picking lanes), and narrowing ushort lanes keeps exactly the even bytes. The bounds keep
        // every byte read, odd lanes included, inside the row.
        int vectorStart = (padW + strideW - 1) / strideW;
        int vectorEnd = Math.Min(outW, (w + padW - (kernelW - 1) * dilationW) / strideW);
        bool vectorRows = Vector.IsHardwareAccelerated && strideW <= 2;
        for (int plane = 0; plane < n * c; plane++)
        {
            ReadOnlySpan<byte> src = x.Slice(plane * h * w, h * w);
            Span<byte> dst = y.Slice(plane * outH * outW, outH * outW);
            ref byte s = ref MemoryMarshal.GetReference(src);
            for (int oh = 0; oh < outH; oh++)
            {
                int hBase = oh * strideH - padH;
                var (kh0, kh1) = Taps(hBase, dilationH, kernelH, h);
                Span<byte> row = dst.Slice(oh * outW, outW);
                int ow = 0;
                if (vectorRows)
                {
                    for (; ow < Math.Min(vectorStart, outW); ow++)
                        row[ow] = MaxWindow(src, w, hBase, kh0, kh1, dilationH, ow * strideW - padW, dilationW, kernelW);
                    for (; ow + Vector<byte>.Count <= vectorEnd; ow += Vector<byte>.Count)
                    {
                        Vector<byte> max;
                        if (strideW == 1)
                        {
                            max = Vector<byte>.Zero;
                            for (int kh = kh0; kh < kh1; kh++)
                            {
                                int start = (hBase + kh * dilationH) * w + ow - padW;
                                for (int kw = 0; kw < kernelW; kw++)
                                    max = Vector.Max(max, Vector.LoadUnsafe(ref s, (nuint)(start + kw * dilationW)));
                            }
                        }
                        else
                        {
                            Vector<byte> lo = Vector<byte>.Zero, hi = Vector<byte>.Zero;
                            for (int kh = kh0; kh < kh1; kh++)
                            {
                                int start = (hBase + kh * dilationH) * w + 2 * ow - padW;
                                for (int kw = 0; kw < kernelW; kw++)
                                {
                                    lo = Vector.Max(lo, Vector.LoadUnsafe(ref s, (nuint)(start + kw * dilationW)));
                                    hi = Vector.Max(hi, Vector.LoadUnsafe(ref s, (nuint)(start + kw * dilationW + Vector<byte>.Count)));
                                }
                            }

                            max = Vector.Narrow(Vector.AsVectorUInt16(lo), Vector.AsVectorUInt16(hi));
                        }

                        max.CopyTo(row[ow..]);
                    }
                }

                for (; ow < outW; ow++)
                    row[ow] = MaxWindow(src, w, hBase, kh0, kh1, dilationH, ow * strideW - padW, dilationW, kernelW);
            }
        }
    }

    /// <summary>
    /// PyTorch's quantized <c>avg_pool2d</c> on NCHW bytes with the output parameters equal to the input ones
    /// (see <see cref="QuantizedOpsReference.AvgPool2d"/> for the rounding). PyTorch's defaults are
    /// <paramref name="countIncludePad"/> = true and no divisor override (0).
    /// </summary>
    /// <exception cref="ArgumentException">Bad geometry (kernel, stride &lt; 1; padding outside [0, kernel / 2]; an
    /// empty output), a negative divisor override, a zero point outside [0, 255], or span lengths that do not match
    /// the shapes. PyTorch does not bound the padding of its quantized avg_pool2d; we use its float rule.</exception>
    public static void AvgPool2d(ReadOnlySpan<byte> x, int n, int c, int h, int w, int kernelH, int kernelW, int strideH, int strideW, int padH, int padW, bool ceilMode, bool countIncludePad, int divisorOverride, int zeroPoint, Span<byte> y)
    {
        var (outH, outW) = CheckPool(x.Length, n, c, h, w, kernelH, kernelW, strideH, strideW, padH, padW, 1, 1, ceilMode, y.Length);
        if (divisorOverride < 0)
            throw new ArgumentOutOfRangeException(nameof(divisorOverride), divisorOverride, "The divisor override must be positive, or 0 for none.");
        CheckZeroPoint(zeroPoint, nameof(zeroPoint));
        // Vector columns, as in MaxPool2d: windows wholly inside the row, so every one in an output row has the same
        // cell count and divisor. Window sums fit 16-bit lanes while the window has at most 257 cells (257 * 255 =
        // 65535); with stride 2, masking each ushort lane to its low byte picks the even bytes, which are the taps.
        int vectorStart = (padW + strideW - 1) / strideW;
        int vectorEnd = Math.Min(outW, (w + padW - kernelW + 1) / strideW);
        bool vectorRows = Vector.IsHardwareAccelerated && strideW <= 2 && kernelH * kernelW <= 257;
        for (int plane = 0; plane < n * c; plane++)
        {
            ReadOnlySpan<byte> src = x.Slice(plane * h * w, h * w);
            Span<byte> dst = y.Slice(plane * outH * outW, outH * outW);
            ref byte s = ref MemoryMarshal.GetReference(src);
            for (int oh = 0; oh < outH; oh++)
            {
                int hStart = oh * strideH - padH;
                int hEnd = Math.Min(hStart + kernelH, h + padH);
                int poolRows = hEnd - hStart;
                hStart = Math.Max(hStart, 0);
                hEnd = Math.Min(hEnd, h);
                Span<byte> row = dst.Slice(oh * outW, outW);
                int ow = 0;
                if (vectorRows)
                {
                    for (; ow < Math.Min(vectorStart, outW); ow++)
                        row[ow] = AvgWindow(src, w, hStart, hEnd, poolRows, ow * strideW - padW, kernelW, padW, countIncludePad, divisorOverride, zeroPoint);
                    int cells = (hEnd - hStart) * kernelW;
                    int divisor = divisorOverride > 0 ? divisorOverride : countIncludePad ? poolRows * kernelW : cells;
                    var multiplier = new Vector<float>((float)(1.0 / divisor));
                    var zp = new Vector<float>(zeroPoint);
                    var offset = new Vector<int>(cells * zeroPoint);
                    var lowByte = new Vector<ushort>(0xFF);
                    for (; ow + Vector<byte>.Count <= vectorEnd; ow += Vector<byte>.Count)
                    {
                        Vector<ushort> sumLo = Vector<ushort>.Zero, sumHi = Vector<ushort>.Zero;
                        for (int ih = hStart; ih < hEnd; ih++)
                        {
                            int start = ih * w + strideW * ow - padW;
                            for (int kw = 0; kw < kernelW; kw++)
                            {
                                if (strideW == 1)
                                {
                                    Vector.Widen(Vector.LoadUnsafe(ref s, (nuint)(start + kw)), out Vector<ushort> lo, out Vector<ushort> hi);
                                    sumLo += lo;
                                    sumHi += hi;
                                }
                                else
                                {
                                    sumLo += Vector.AsVectorUInt16(Vector.LoadUnsafe(ref s, (nuint)(start + kw))) & lowByte;
                                    sumHi += Vector.AsVectorUInt16(Vector.LoadUnsafe(ref s, (nuint)(start + kw + Vector<byte>.Count))) & lowByte;
                                }
                            }
                        }

                        Vector.Widen(sumLo, out Vector<uint> s0, out Vector<uint> s1);
                        Vector.Widen(sumHi, out Vector<uint> s2, out Vector<uint> s3);
                        Narrow(
                            AverageLanes(Vector.AsVectorInt32(s0) - offset, multiplier, zp),
                            AverageLanes(Vector.AsVectorInt32(s1) - offset, multiplier, zp),
                            AverageLanes(Vector.AsVectorInt32(s2) - offset, multiplier, zp),
                            AverageLanes(Vector.AsVectorInt32(s3) - offset, multiplier, zp)).CopyTo(row[ow..]);
                    }
                }

                for (; ow < outW; ow++)
                    row[ow] = AvgWindow(src, w, hStart, hEnd, poolRows, ow * strideW - padW, kernelW, padW, countIncludePad, divisorOverride, zeroPoint);
            }
        }
    }

    /// <summary>
    /// PyTorch's quantized <c>adaptive_avg_pool2d</c> on NCHW bytes to <c>(n, c, outH, outW)</c>, output parameters
    /// equal to the input ones (see <see cref="QuantizedOpsReference.AdaptiveAvgPool2d"/>).
    /// </summary>
    /// <exception cref="ArgumentException">A non-positive size or span lengths that do not match the shapes.</exception>
    public static void AdaptiveAvgPool2d(ReadOnlySpan<byte> x, int n, int c, int h, int w, int outH, int outW, Span<byte> y)
    {
        CheckPlanes(x.Length, n, c, h, w);
        if (outH <= 0 || outW <= 0)
            throw new ArgumentOutOfRangeException(outH <= 0 ? nameof(outH) : nameof(outW), "The output size must be positive.");
        CheckDestination((long)n * c * outH * outW, y.Length, nameof(y));
        for (int plane = 0; plane < n * c; plane++)
        {
            ReadOnlySpan<byte> src = x.Slice(plane * h * w, h * w);
            Span<byte> dst = y.Slice(plane * outH * outW, outH * outW);
            for (int oh = 0; oh < outH; oh++)
            {
                int hStart = AdaptiveStart(oh, outH, h), hEnd = AdaptiveEnd(oh, outH, h);
                float rowReciprocal = 1f / (hEnd - hStart);
                for (int ow = 0; ow < outW; ow++)
                {
                    int wStart = AdaptiveStart(ow, outW, w), wEnd = AdaptiveEnd(ow, outW, w);
                    long sum = SumWindow(src, w, hStart, hEnd, wStart, wEnd);
                    float rounded = MathF.Round(sum * (rowReciprocal / (wEnd - wStart)), MidpointRounding.ToEven);
                    dst[oh * outW + ow] = (byte)Math.Clamp(rounded, 0f, 255f);
                }
            }
        }
    }

    /// <summary>The taps <c>[first, end)</c> of a window at <paramref name="start"/> that fall inside <c>[0, size)</c>.</summary>
    private static (int First, int End) Taps(int start, int dilation, int kernel, int size)
    {
        int first = start < 0 ? (-start + dilation - 1) / dilation : 0;
        int end = start >= size ? 0 : Math.Min(kernel, (size - 1 - start) / dilation + 1);
        return (first, Math.Max(first, end));
    }

    private static byte MaxWindow(ReadOnlySpan<byte> src, int w, int hBase, int kh0, int kh1, int dilationH, int wBase, int dilationW, int kernelW)
    {
        var (kw0, kw1) = Taps(wBase, dilationW, kernelW, w);
        byte max = 0;
        for (int kh = kh0; kh < kh1; kh++)
        {
            ReadOnlySpan<byte> line = src.Slice((hBase + kh * dilationH) * w);
            for (int kw = kw0; kw < kw1; kw++)
                max = Math.Max(max, line[wBase + kw * dilationW]);
        }

        return max;
    }

    /// <summary>
    /// One average-pool output from its clipped rows and unclipped column start: the reference's float steps verbatim
    /// (the multiplier is a rounded 1 / divisor, and the zero point is added before rounding).
    /// </summary>
    private static byte AvgWindow(ReadOnlySpan<byte> src, int w, int hStart, int hEnd, int poolRows, int wStart, int kernelW, int padW, bool countIncludePad, int divisorOverride, int zeroPoint)
    {
        int wEnd = Math.Min(wStart + kernelW, w + padW);
        int poolSize = poolRows * (wEnd - wStart);
        wStart = Math.Max(wStart, 0);
        wEnd = Math.Min(wEnd, w);
        int cells = (hEnd - hStart) * (wEnd - wStart);
        int divisor = divisorOverride > 0 ? divisorOverride : countIncludePad ? poolSize : cells;
        int sum = (int)SumWindow(src, w, hStart, hEnd, wStart, wEnd) - cells * zeroPoint;
        float value = sum * (float)(1.0 / divisor) + zeroPoint;
        return (byte)Math.Clamp(MathF.Round(value, MidpointRounding.ToEven), 0f, 255f);
    }

    /// <summary><c>clamp(round_half_even(sum * multiplier + zp), 0, 255)</c>; the sums are exact in float (&lt; 2^24).</summary>
    private static Vector<int> AverageLanes(Vector<int> sum, Vector<float> multiplier, Vector<float> zp) =>
        Vector.ConvertToInt32(Vector.Clamp(Vector.Round(Vector.ConvertToSingle(sum) * multiplier + zp), Vector<float>.Zero, new Vector<float>(255f)));

    /// <summary>The sum of the bytes in rows [hStart, hEnd) and columns [wStart, wEnd) of a plane <paramref name="w"/> wide.</summary>
    private static long SumWindow(ReadOnlySpan<byte> plane, int w, int hStart, int hEnd, int wStart, int wEnd)
    {
        // Full-width windows (global pooling) are one contiguous run.
        if (wStart == 0 && wEnd == w)
            return SumBytes(plane.Slice(hStart * w, (hEnd - hStart) * w));
        long sum = 0;
        for (int ih = hStart; ih < hEnd; ih++)
            sum += SumBytes(plane.Slice(ih * w + wStart, wEnd - wStart));
        return sum;
    }

    /// <summary>The sum of a run of bytes; integer addition, so any order gives the reference's result.</summary>
    private static long SumBytes(ReadOnlySpan<byte> run)
    {
        long sum = 0;
        int i = 0;
        if (Vector.IsHardwareAccelerated && run.Length >= Vector<byte>.Count)
        {
            ref byte src = ref MemoryMarshal.GetReference(run);
            while (i <= run.Length - Vector<byte>.Count)
            {
                // A 32-bit lane gains at most 4 * 255 per step, so 2^16 steps per block cannot overflow it.
                var acc = Vector<uint>.Zero;
                int blockEnd = Math.Min(run.Length - Vector<byte>.Count, i + (Vector<byte>.Count << 16));
                for (; i <= blockEnd; i += Vector<byte>.Count)
                {
                    Vector.Widen(Vector.LoadUnsafe(ref src, (nuint)i), out Vector<ushort> lo, out Vector<ushort> hi);
                    Vector.Widen(lo + hi, out Vector<uint> a, out Vector<uint> b);
                    acc += a + b;
                }

                sum += Vector.Sum(acc);
            }
        }

        for (; i < run.Length; i++)
            sum += run[i];
        return sum;
    }

    private static void CheckPlanes(int length, int n, int c, int h, int w)
    {
        if (n < 0)
            throw new ArgumentOutOfRangeException(nameof(n), n, "The batch size must not be negative.");
        if (c <= 0 || h <= 0 || w <= 0)
            throw new ArgumentOutOfRangeException(c <= 0 ? nameof(c) : h <= 0 ? nameof(h) : nameof(w), "Channels, height and width must be positive.");
        if (length != (long)n * c * h * w)
            throw new ArgumentException($"The input holds {length} elements but (n, c, h, w) = ({n}, {c}, {h}, {w}) needs {(long)n * c * h * w}.", "x");
    }

    private static (int OutH, int OutW) CheckPool(int xLength, int n, int c, int h, int w, int kernelH, int kernelW, int strideH, int strideW, int padH, int padW, int dilationH, int dilationW, bool ceilMode, int yLength)
    {
        CheckPlanes(xLength, n, c, h, w);
        CheckPositive(kernelH, nameof(kernelH));
        CheckPositive(kernelW, nameof(kernelW));
        CheckPositive(strideH, nameof(strideH));
        CheckPositive(strideW, nameof(strideW));
        CheckPositive(dilationH, nameof(dilationH));
        CheckPositive(dilationW, nameof(dilationW));
        if (padH < 0 || padH > kernelH / 2)
            throw new ArgumentOutOfRangeException(nameof(padH), padH, $"Padding must be in [0, kernelH / 2] = [0, {kernelH / 2}].");
        if (padW < 0 || padW > kernelW / 2)
            throw new ArgumentOutOfRangeException(nameof(padW), padW, $"Padding must be in [0, kernelW / 2] = [0, {kernelW / 2}].");
        int outH = PoolOutputSize(h, kernelH, strideH, padH, dilationH, ceilMode);
        int outW = PoolOutputSize(w, kernelW, strideW, padW, dilationW, ceilMode);
        if (outH <= 0 || outW <= 0)
            throw new ArgumentException($"A {kernelH}x{kernelW} window (dilation {dilationH}x{dilationW}, padding {padH}x{padW}) does not fit a {h}x{w} input.", outH <= 0 ? nameof(h) : nameof(w));
        CheckDestination((long)n * c * outH * outW, yLength, "y");
        return (outH, outW);
    }

    private static void CheckPositive(int value, string name)
    {
        if (value <= 0)
            throw new ArgumentOutOfRangeException(name, value, "Must be positive.");
    }
}
