namespace Quantization.Kernels.Gemm;

/// <summary>
/// The specification of the INT8 GEMM, written for clarity: plain loops over unpacked row-major operands.
/// Every packed variant must return exactly these int32 accumulators and, through the shared epilogue,
/// exactly these outputs.
/// </summary>
/// <remarks>
/// <c>acc[m, n] = Σ_k (A[m, k] - za) * (W[k, n] - zw[n])</c> with u8 activations and s8 weights, summed in
/// int32 with two's-complement wrap-around. Integer addition is associative modulo 2^32, so any summation
/// order gives these bits.
/// </remarks>
internal static class Int8GemmReference
{
    /// <summary>The int32 accumulators for A (M×K, row-major) times W (K×N, row-major).</summary>
    public static int[] Accumulate(ReadOnlySpan<byte> a, int m, int k, int aZeroPoint, ReadOnlySpan<sbyte> w, int n, ReadOnlySpan<int> weightZeroPoints)
    {
        var acc = new int[m * n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                int zw = weightZeroPoints.Length == 1 ? weightZeroPoints[0] : weightZeroPoints[j];
                int sum = 0;
                for (int p = 0; p < k; p++)
                    sum = unchecked(sum + (a[i * k + p] - aZeroPoint) * (w[p * n + j] - zw));
                acc[i * n + j] = sum;
            }
        }

        return acc;
    }

    /// <summary>Dynamic-quantization output: <c>y = (float)acc * scale[n] + bias[n]</c>, multiply and add rounded separately.</summary>
    public static float ToFloat(int acc, float scale, float bias) => (float)acc * scale + bias;

    /// <summary>
    /// Static-quantization output: <c>y = clamp(round_half_even((float)(acc + bias) * multiplier) + zo, min, max)</c>,
    /// where <c>multiplier = sa * sw[n] / so</c> and the int32 bias is quantized with scale <c>sa * sw[n]</c>.
    /// The sum wraps like the accumulator; the clamp happens in double so huge values saturate.
    /// </summary>
    public static int Requantize(int acc, int bias, float multiplier, int outputZeroPoint, int min, int max)
    {
        float scaled = (float)unchecked(acc + bias) * multiplier;
        double q = (double)MathF.Round(scaled, MidpointRounding.ToEven) + outputZeroPoint;
        return (int)Math.Clamp(q, min, max);
    }
}
