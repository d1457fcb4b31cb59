namespace Quantization.Observers;

/// <summary>
/// PyTorch's <c>_calculate_qparams</c>, in float32 as PyTorch's tensors compute it:
/// <c>min_neg = min(min, 0)</c>, <c>max_pos = max(max, 0)</c> (zero stays exactly representable);
/// symmetric: <c>scale = max(max(-min_neg, max_pos) / ((qmax - qmin) / 2), eps)</c>, zero point 0 (QInt8) or 128
/// (QUInt8; the floored midpoint of a custom range);
/// affine: <c>scale = max((max_pos - min_neg) / (qmax - qmin), eps)</c>,
/// <c>zero_point = clamp(qmin - round_half_even(min_neg / scale), qmin, qmax)</c>.
/// </summary>
internal static class QParamsMath
{
    public static (float Scale, int ZeroPoint) Calculate(float min, float max, int qmin, int qmax, bool symmetric, QuantDType dtype, bool customRange, float eps)
    {
        float minNeg = MathF.Min(min, 0f), maxPos = MathF.Max(max, 0f);
        if (symmetric)
        {
            float amax = MathF.Max(-minNeg, maxPos);
            float scale = MathF.Max(amax / ((float)(qmax - qmin) / 2f), eps);
            int zp = dtype != QuantDType.QUInt8 ? 0 : customRange ? (int)Math.Floor((qmin + qmax) / 2.0) : 128;
            return (scale, zp);
        }

        float affineScale = MathF.Max((maxPos - minNeg) / (float)(qmax - qmin), eps);
        int zeroPoint = qmin - (int)MathF.Round(minNeg / affineScale, MidpointRounding.ToEven);
        return (affineScale, Math.Clamp(zeroPoint, qmin, qmax));
    }
}
