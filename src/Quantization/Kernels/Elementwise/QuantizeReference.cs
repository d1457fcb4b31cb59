namespace Quantization.Kernels.Elementwise;

/// <summary>
/// The scalar reference for quantize, dequantize and fake-quantize: the specification the vectorized
/// kernels in <see cref="QuantizeKernels"/> must match bit for bit. Written for clarity, not speed.
/// </summary>
/// <remarks>
/// PyTorch: <c>q = clamp(zp + round_half_even(x * (1 / scale)), qmin, qmax)</c> (FBGEMM's non-legacy order:
/// round, then add the zero point). ONNX: <c>q = saturate(round_half_even(x / scale) + zp)</c>.
/// The sum and the clamp are done in double so that infinities and huge values saturate instead of
/// overflowing an integer cast. Callers reject NaN before calling.
/// </remarks>
internal static class QuantizeReference
{
    /// <summary>Quantizes one value to an integer in [<paramref name="qmin"/>, <paramref name="qmax"/>].</summary>
    public static int Quantize(float x, float scale, int zeroPoint, int qmin, int qmax, RoundingConvention convention)
    {
        float scaled = convention == RoundingConvention.PyTorch ? x * (1f / scale) : x / scale;
        double q = (double)MathF.Round(scaled, MidpointRounding.ToEven) + zeroPoint;
        return (int)Math.Clamp(q, qmin, qmax);
    }

    /// <summary>The real value an integer stands for: <c>scale * (q - zp)</c>.</summary>
    public static float Dequantize(int q, float scale, int zeroPoint) => (float)((long)q - zeroPoint) * scale;

    /// <summary>Quantize then dequantize (PyTorch's <c>fake_quantize_per_tensor_affine</c>).</summary>
    public static float FakeQuantize(float x, float scale, int zeroPoint, int qmin, int qmax) =>
        Dequantize(Quantize(x, scale, zeroPoint, qmin, qmax, RoundingConvention.PyTorch), scale, zeroPoint);
}
