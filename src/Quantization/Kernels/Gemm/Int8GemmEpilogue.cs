using System.Diagnostics;

namespace Quantization.Kernels.Gemm;

/// <summary>What the INT8 GEMM writes for each int32 accumulator.</summary>
internal enum Int8OutputKind
{
    /// <summary>The raw accumulator.</summary>
    Int32,

    /// <summary><c>(float)acc * scale[n] + bias[n]</c> (dynamic quantization).</summary>
    Float,

    /// <summary>Requantized to u8 (static quantization).</summary>
    UInt8,

    /// <summary>Requantized to s8 (static quantization).</summary>
    Int8,
}

/// <summary>
/// The output stage fused into the INT8 GEMM, built once per layer. See <see cref="Int8GemmReference"/> for the
/// exact formulas; the vectorized stage matches them bit for bit.
/// </summary>
internal sealed class Int8GemmEpilogue
{
    private Int8GemmEpilogue(Int8OutputKind kind, float[]? scales, float[]? bias, int[]? intBias, int outputZeroPoint, int min, int max)
    {
        Kind = kind;
        Scales = scales;
        Bias = bias;
        IntBias = intBias;
        OutputZeroPoint = outputZeroPoint;
        Min = min;
        Max = max;
    }

    public Int8OutputKind Kind { get; }

    /// <summary>Per output column: <c>sa * sw[n]</c> for float output, <c>sa * sw[n] / so</c> for requantized output.</summary>
    public float[]? Scales { get; }

    /// <summary>Per-column float bias of the float output, or null.</summary>
    public float[]? Bias { get; }

    /// <summary>Per-column int32 bias (scale <c>sa * sw[n]</c>, zero point 0) of the requantized output, or null.</summary>
    public int[]? IntBias { get; }

    public int OutputZeroPoint { get; }

    /// <summary>The clamp of the requantized output: the dtype's range, narrowed by a fused ReLU or clamp.</summary>
    public int Min { get; }

    public int Max { get; }

    public static Int8GemmEpilogue Int32 { get; } = new(Int8OutputKind.Int32, null, null, null, 0, 0, 0);

    /// <summary>Float output <c>(float)acc * scales[n] + bias[n]</c>.</summary>
    public static Int8GemmEpilogue ToFloat(float[] scales, float[]? bias)
    {
        Debug.Assert(bias is null || bias.Length == scales.Length);
        return new(Int8OutputKind.Float, scales, bias, null, 0, 0, 0);
    }

    /// <summary>
    /// Requantized output <c>clamp(round_half_even((float)(acc + bias[n]) * multipliers[n]) + zo, min, max)</c>;
    /// <paramref name="min"/>/<paramref name="max"/> within the output type's range (a fused ReLU sets min = zo).
    /// </summary>
    public static Int8GemmEpilogue Requantize(float[] multipliers, int[]? bias, int outputZeroPoint, int min, int max, bool signedOutput)
    {
        Debug.Assert(bias is null || bias.Length == multipliers.Length);
        Debug.Assert(signedOutput ? min >= sbyte.MinValue && max <= sbyte.MaxValue : min >= 0 && max <= byte.MaxValue);
        Debug.Assert(min <= max);
        return new(signedOutput ? Int8OutputKind.Int8 : Int8OutputKind.UInt8, multipliers, null, bias, outputZeroPoint, min, max);
    }
}
