using Quantization.Kernels.Elementwise;

namespace Quantization.Kernels.Quantized;

/// <summary>
/// The scalar reference for the quantized QUInt8 operators: the specification that <see cref="QuantizedOps"/> must
/// match bit for bit. Each method follows the scalar path of PyTorch's quantized CPU kernel named in its summary
/// (aten/src/ATen/native/quantized/cpu); written for clarity, not speed. Arguments are not validated here.
/// </summary>
/// <remarks>
/// The two primitives are PyTorch's <c>dequantize_val</c>, <c>(float)(q - zp) * scale</c> (one rounding: the
/// difference is an exact small integer), and <c>quantize_val</c>, <c>clamp(zp + round_half_even(x * (1f / scale)),
/// 0, 255)</c> (<see cref="QuantizeReference"/> with <see cref="RoundingConvention.PyTorch"/>). PyTorch's AVX2 vector
/// paths dequantize with an FMA against a pre-rounded <c>-zp * scale</c>, which can differ from its own scalar path
/// by one ulp and so, rarely, flip a rounding tie; we follow the scalar path everywhere. These are the x86 (fbgemm
/// engine) kernels; with the QNNPACK engine PyTorch runs QNNPACK's fixed-point add and average pools instead, which
/// round differently.
/// </remarks>
internal static class QuantizedOpsReference
{
    /// <summary>The fixed output scale of Sigmoid and Hardsigmoid on QUInt8 (PyTorch: 1 / 2^8, zero point 0).</summary>
    public const float BoundedOutputScale = 1f / 256f;

    /// <summary><c>scale * (q - zp)</c> as PyTorch's <c>dequantize_val</c>.</summary>
    public static float Dequantize(byte q, float scale, int zeroPoint) => QuantizeReference.Dequantize(q, scale, zeroPoint);

    /// <summary>PyTorch's <c>quantize_val</c> to QUInt8.</summary>
    public static byte Quantize(float x, float scale, int zeroPoint) =>
        (byte)QuantizeReference.Quantize(x, scale, zeroPoint, 0, 255, RoundingConvention.PyTorch);

    /// <summary>PyTorch's <c>requantize_val</c>: dequantize with the input parameters, quantize with the output ones.</summary>
    public static void Requantize(ReadOnlySpan<byte> x, float xScale, int xZp, float yScale, int yZp, Span<byte> y)
    {
        for (int i = 0; i < x.Length; i++)
            y[i] = Quantize(Dequantize(x[i], xScale, xZp), yScale, yZp);
    }

    /// <summary>PyTorch's <c>qadd_kernel</c> (and <c>qadd_relu</c>): <c>c = da + db</c> in float, ReLU on the float sum.</summary>
    public static void Add(ReadOnlySpan<byte> a, float aScale, int aZp, ReadOnlySpan<byte> b, float bScale, int bZp, float yScale, int yZp, bool relu, Span<byte> y)
    {
        for (int i = 0; i < a.Length; i++)
        {
            float c = Dequantize(a[i], aScale, aZp) + Dequantize(b[i], bScale, bZp);
            if (relu)
                c = MathF.Max(c, 0f);
            y[i] = Quantize(c, yScale, yZp);
        }
    }

    /// <summary>
    /// PyTorch's <c>qmul_kernel</c> (and <c>qmul_relu</c>): the integer product <c>(a - za)(b - zb)</c> requantized
    /// by <c>requantize_from_int</c> with the float multiplier <c>aScale * bScale * (1f / yScale)</c>; ReLU as
    /// <c>max(q, yZp)</c> after requantization.
    /// </summary>
    public static void Mul(ReadOnlySpan<byte> a, float aScale, int aZp, ReadOnlySpan<byte> b, float bScale, int bZp, float yScale, int yZp, bool relu, Span<byte> y)
    {
        float multiplier = MulMultiplier(aScale, bScale, yScale);
        for (int i = 0; i < a.Length; i++)
        {
            int product = (a[i] - aZp) * (b[i] - bZp);
            // lrintf(product * multiplier): the product is exact in float (|p| <= 255^2 < 2^24); ties to even.
            double q = yZp + (double)MathF.Round(product * multiplier, MidpointRounding.ToEven);
            int clamped = (int)Math.Clamp(q, 0, 255);
            y[i] = (byte)(relu ? Math.Max(clamped, yZp) : clamped);
        }
    }

    /// <summary>The requantization multiplier of <see cref="Mul"/>, in PyTorch's float evaluation order.</summary>
    public static float MulMultiplier(float aScale, float bScale, float yScale) => aScale * bScale * (1f / yScale);

    /// <summary>PyTorch's quantized <c>relu</c>: <c>max(q, zp)</c>, same parameters.</summary>
    public static void Relu(ReadOnlySpan<byte> x, int zeroPoint, Span<byte> y)
    {
        for (int i = 0; i < x.Length; i++)
            y[i] = (byte)Math.Max(x[i], zeroPoint);
    }

    /// <summary>PyTorch's quantized <c>relu6</c> (<c>qclamp</c> to [0, 6]): <c>min(max(q, zp), quantize(6))</c>, same parameters.</summary>
    public static void Relu6(ReadOnlySpan<byte> x, float scale, int zeroPoint, Span<byte> y)
    {
        int six = Quantize(6f, scale, zeroPoint);
        for (int i = 0; i < x.Length; i++)
            y[i] = (byte)Math.Min(Math.Max(x[i], zeroPoint), six);
    }

    /// <summary>PyTorch's <c>qhardswish_kernel</c>: <c>x * min(max(x + 3, 0), 6) / 6</c> in float, evaluated left to right.</summary>
    public static byte Hardswish(byte q, float xScale, int xZp, float yScale, int yZp)
    {
        float x = Dequantize(q, xScale, xZp);
        return Quantize(x * MathF.Min(MathF.Max(x + 3f, 0f), 6f) / 6f, yScale, yZp);
    }

    /// <summary>PyTorch's <c>qhardsigmoid_kernel</c>: <c>min(max(x + 3, 0), 6) / 6</c>, output scale 1/256, zero point 0.</summary>
    public static byte Hardsigmoid(byte q, float xScale, int xZp)
    {
        float x = Dequantize(q, xScale, xZp);
        return Quantize(MathF.Min(MathF.Max(x + 3f, 0f), 6f) / 6f, BoundedOutputScale, 0);
    }

    /// <summary>
    /// PyTorch's <c>qsigmoid_kernel</c> (scalar path): <c>1.0f / (1.0 + exp(-x))</c>, the exponential in float and
    /// the rest in double, then output scale 1/256, zero point 0.
    /// </summary>
    public static byte Sigmoid(byte q, float xScale, int xZp)
    {
        float x = Dequantize(q, xScale, xZp);
        return Quantize((float)(1.0 / (1.0 + MathF.Exp(-x))), BoundedOutputScale, 0);
    }

    /// <summary>
    /// PyTorch's <c>spatial_dilated_max_pooling</c> (qpool.cpp) on NCHW bytes: the largest value over the window
    /// positions inside the input; padding never wins. Same parameters in and out.
    /// </summary>
    public static void MaxPool2d(ReadOnlySpan<byte> x, int n, int c, int h, int w, int kernelH, int kernelW, int strideH, int strideW, int padH, int padW, int dilationH, int dilationW, bool ceilMode, Span<byte> y)
    {
        int outH = QuantizedOps.PoolOutputSize(h, kernelH, strideH, padH, dilationH, ceilMode);
        int outW = QuantizedOps.PoolOutputSize(w, kernelW, strideW, padW, dilationW, ceilMode);
        for (int plane = 0; plane < n * c; plane++)
        {
            for (int oh = 0; oh < outH; oh++)
            {
                for (int ow = 0; ow < outW; ow++)
                {
                    int max = 0;
                    for (int kh = 0; kh < kernelH; kh++)
                    {
                        int ih = oh * strideH - padH + kh * dilationH;
                        for (int kw = 0; kw < kernelW; kw++)
                        {
                            int iw = ow * strideW - padW + kw * dilationW;
                            if (ih >= 0 && ih < h && iw >= 0 && iw < w)
                                max = Math.Max(max, x[(plane * h + ih) * w + iw]);
                        }
                    }

                    y[(plane * outH + oh) * outW + ow] = (byte)max;
                }
            }
        }
    }

    /// <summary>
    /// PyTorch's <c>avg_pool2d_out_frame</c> (q_avgpool.cpp) with the output parameters equal to the input ones:
    /// <c>sum(q - zp)</c> over the window cells inside the input, times the float multiplier
    /// <c>1 / divisor</c>, plus zp, rounded half to even (zero point added before rounding, unlike quantize_val).
    /// The divisor counts the window clipped to the padded input when <paramref name="countIncludePad"/>, else
    /// the cells inside the input; <paramref name="divisorOverride"/> replaces it when positive.
    /// </summary>
    public static void AvgPool2d(ReadOnlySpan<byte> x, int n, int c, int h, int w, int kernelH, int kernelW, int strideH, int strideW, int padH, int padW, bool ceilMode, bool countIncludePad, int divisorOverride, int zeroPoint, Span<byte> y)
    {
        int outH = QuantizedOps.PoolOutputSize(h, kernelH, strideH, padH, 1, ceilMode);
        int outW = QuantizedOps.PoolOutputSize(w, kernelW, strideW, padW, 1, ceilMode);
        for (int plane = 0; plane < n * c; plane++)
        {
            for (int oh = 0; oh < outH; oh++)
            {
                for (int ow = 0; ow < outW; ow++)
                {
                    int hStart = oh * strideH - padH, wStart = ow * strideW - padW;
                    int hEnd = Math.Min(hStart + kernelH, h + padH), wEnd = Math.Min(wStart + kernelW, w + padW);
                    int poolSize = (hEnd - hStart) * (wEnd - wStart);
                    hStart = Math.Max(hStart, 0);
                    wStart = Math.Max(wStart, 0);
                    hEnd = Math.Min(hEnd, h);
                    wEnd = Math.Min(wEnd, w);
                    int cells = (hEnd - hStart) * (wEnd - wStart);
                    int sum = 0;
                    for (int ih = hStart; ih < hEnd; ih++)
                    {
                        for (int iw = wStart; iw < wEnd; iw++)
                            sum += x[(plane * h + ih) * w + iw];
                    }

                    int divisor = divisorOverride > 0 ? divisorOverride : countIncludePad ? poolSize : cells;
                    float multiplier = (float)(1.0 / divisor);
                    float value = (sum - cells * zeroPoint) * multiplier + zeroPoint;
                    double rounded = MathF.Round(value, MidpointRounding.ToEven);
                    y[(plane * outH + oh) * outW + ow] = (byte)Math.Clamp(rounded, 0, 255);
                }
            }
        }
    }

    /// <summary>
    /// PyTorch's <c>adaptive_avg_pool_single_out_frame</c> (q_adaavgpool.cpp), same parameters in and out: window
    /// rows <c>[floor(oh * H / outH), ceil((oh + 1) * H / outH))</c> (each quotient in float) and likewise for
    /// columns; <c>round_half_even(sum(q) * ((1f / kH) / kW))</c>. The zero point cancels: the mean of <c>q</c> is the
    /// mean of <c>q - zp</c> plus zp.
    /// </summary>
    public static void AdaptiveAvgPool2d(ReadOnlySpan<byte> x, int n, int c, int h, int w, int outH, int outW, Span<byte> y)
    {
        for (int plane = 0; plane < n * c; plane++)
        {
            for (int oh = 0; oh < outH; oh++)
            {
                int hStart = QuantizedOps.AdaptiveStart(oh, outH, h), hEnd = QuantizedOps.AdaptiveEnd(oh, outH, h);
                for (int ow = 0; ow < outW; ow++)
                {
                    int wStart = QuantizedOps.AdaptiveStart(ow, outW, w), wEnd = QuantizedOps.AdaptiveEnd(ow, outW, w);
                    long sum = 0;
                    for (int ih = hStart; ih < hEnd; ih++)
                    {
                        for (int iw = wStart; iw < wEnd; iw++)
                            sum += x[(plane * h + ih) * w + iw];
                    }

                    float reciprocal = 1f / (hEnd - hStart) / (wEnd - wStart);
                    double rounded = MathF.Round(sum * reciprocal, MidpointRounding.ToEven);
                    y[(plane * outH + oh) * outW + ow] = (byte)Math.Clamp(rounded, 0, 255);
                }
            }
        }
    }
}
