namespace Quantization.Kernels.Quantized;

/// <summary>
/// Quantization parameters chosen per call from a batch's range, for dynamically quantized activations: PyTorch's
/// (dynamic Linear/LSTM) and ONNX's <c>DynamicQuantizeLinear</c>.
/// </summary>
internal static class DynamicQuantization
{
    /// <summary>The smallest scale PyTorch allows (<c>SMALL_SCALE_THRESHOLD</c>, fp16's smallest normal).</summary>
    public const float SmallScaleThreshold = 6.1e-5f;

    /// <summary>
    /// PyTorch's <c>quant_utils::ChooseQuantizationParams</c> (aten/src/ATen/native/quantized/cpu/QuantUtils.h), which
    /// dynamic Linear calls with [0, 255] and reduce_range on x86:
    /// <list type="number">
    /// <item><paramref name="reduceRange"/> halves qmin and qmax (integer division).</item>
    /// <item><paramref name="preserveSparsity"/> with <c>min &lt; 0 &lt; max</c> widens the range symmetrically.</item>
    /// <item>min/max are extended to include 0; <c>scale = ((double)max - min) / (qmax - qmin)</c> in double.</item>
    /// <item>A scale that is 0 in float or whose float reciprocal is infinite becomes 0.1; so does an infinite scale
    /// (from an infinite min or max), as DESIGN.md asks, where PyTorch would keep it.</item>
    /// <item><paramref name="forceScaleToPowerOfTwo"/> rounds the scale to a power of two (down below 1, up above).</item>
    /// <item>A scale below <see cref="SmallScaleThreshold"/> is raised to it, scaling min/max along (in float).</item>
    /// <item>The zero point comes from <c>qmin - min / scale</c> or <c>qmax - max / scale</c>, whichever has the smaller
    /// "error" <c>|qmin| - |min / scale|</c> vs <c>|qmax| - |max / scale|</c> (PyTorch subtracts here; FBGEMM's copy
    /// adds), the midpoint with preserve_sparsity; clamped to [qmin, qmax], else rounded half to even.</item>
    /// </list>
    /// The scale is returned as the float the kernels use.
    /// Deviations: the infinite scale above, and a power-of-two exponent beyond 30 uses the true power where
    /// PyTorch's <c>1 &lt;&lt; k</c> overflows.
    /// </summary>
    /// <exception cref="ArgumentException">min or max is NaN, min &gt; max, or qmin &gt;= qmax after reduce_range.</exception>
    public static (float Scale, int ZeroPoint) ChooseQParams(float min, float max, int qmin, int qmax, bool preserveSparsity = false, bool forceScaleToPowerOfTwo = false, bool reduceRange = false)
    {
        CheckRange(min, max);
        if (min > max)
            throw new ArgumentException($"min ({min}) must not exceed max ({max}).", nameof(min));
        if (reduceRange)
        {
            qmin /= 2;
            qmax /= 2;
        }

        if (qmin >= qmax)
            throw new ArgumentException($"qmin ({qmin}) must be less than qmax ({qmax}){(reduceRange ? " after reduce_range" : "")}.", nameof(qmin));

        if (min < 0 && max > 0 && preserveSparsity)
        {
            int symmetricQmin = -((qmax - qmin) / 2 + 1);
            int symmetricQmax = (qmax - qmin) / 2;
            double maxScale = MathF.Max(MathF.Abs(min / symmetricQmin), MathF.Abs(max / symmetricQmax));
            min = (float)(maxScale * symmetricQmin);
            max = (float)(maxScale * symmetricQmax);
        }

        min = MathF.Min(min, 0f);
        max = MathF.Max(max, 0f);

        double scale = ((double)max - min) / (qmax - qmin);
        if ((float)scale == 0f || float.IsInfinity(1f / (float)scale) || double.IsInfinity(scale))
            scale = 0.1;

        if (forceScaleToPowerOfTwo)
        {
            // PyTorch's log(x) / log(2), not log2(x): the two can differ in the last bit near powers of two.
            scale = scale < 1
                ? 1.0 / Math.ScaleB(1.0, (int)Math.Floor(Math.Log(1.0 / scale) / Math.Log(2)))
                : Math.ScaleB(1.0, (int)Math.Ceiling(Math.Log(scale) / Math.Log(2)));
        }

        if (scale < SmallScaleThreshold)
        {
            float originalScale = (float)scale;
            scale = SmallScaleThreshold;
            if (min == 0f)
            {
                max = SmallScaleThreshold * (qmax - qmin);
            }
            else if (max == 0f)
            {
                min = -SmallScaleThreshold * (qmax - qmin);
            }
            else
            {
                float amplifier = SmallScaleThreshold / originalScale;
                min *= amplifier;
                max *= amplifier;
            }
        }

        double zeroPointFromMin = qmin - min / scale;
        double zeroPointFromMax = qmax - max / scale;
        double zeroPointFromMinError = Math.Abs(qmin) - Math.Abs(min / scale);
        double zeroPointFromMaxError = Math.Abs(qmax) - Math.Abs(max / scale);
        double initialZeroPoint = zeroPointFromMinError < zeroPointFromMaxError ? zeroPointFromMin : zeroPointFromMax;
        if (min < 0 && max > 0 && preserveSparsity)
            initialZeroPoint = (qmin + qmax) / 2.0;

        int zeroPoint = initialZeroPoint < qmin ? qmin
            : initialZeroPoint > qmax ? qmax
            : (int)Math.Round(initialZeroPoint, MidpointRounding.ToEven);
        return ((float)scale, zeroPoint);
    }

    /// <summary>
    /// ONNX <c>DynamicQuantizeLinear</c>'s parameters as ONNX Runtime computes them (in float):
    /// <c>scale = (max(max, 0) - min(min, 0)) / 255</c>, or 1 when that range is empty (the operator's formula would
    /// give 0 and a NaN zero point); <c>zero_point = round_half_even(clamp(0 - min(min, 0) / scale, 0, 255))</c>.
    /// A range narrower than about 1.8e-43 still underflows the scale to 0, as in ONNX Runtime; treat it as empty.
    /// </summary>
    /// <exception cref="ArgumentException">min or max is NaN or infinite, or min &gt; max.</exception>
    public static (float Scale, byte ZeroPoint) OnnxDynamicQParams(float min, float max)
    {
        CheckRange(min, max);
        if (float.IsInfinity(min) || float.IsInfinity(max))
            throw new ArgumentOutOfRangeException(float.IsInfinity(min) ? nameof(min) : nameof(max), "The range must be finite.");
        if (min > max)
            throw new ArgumentException($"min ({min}) must not exceed max ({max}).", nameof(min));
        min = MathF.Min(min, 0f);
        max = MathF.Max(max, 0f);
        float scale = max == min ? 1f : (max - min) / 255f;
        float initialZeroPoint = 0f - min / scale;
        return (scale, (byte)MathF.Round(Math.Clamp(initialZeroPoint, 0f, 255f), MidpointRounding.ToEven));
    }

    private static void CheckRange(float min, float max)
    {
        if (float.IsNaN(min))
            throw new ArgumentOutOfRangeException(nameof(min), min, "The range must not be NaN.");
        if (float.IsNaN(max))
            throw new ArgumentOutOfRangeException(nameof(max), max, "The range must not be NaN.");
    }
}
