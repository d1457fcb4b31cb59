using System.Diagnostics;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Quantization.Kernels.Elementwise;

/// <summary>
/// Vectorized quantize, dequantize and fake-quantize over spans, bit-exact with <see cref="QuantizeReference"/>.
/// </summary>
/// <remarks>
/// The loops use <see cref="Vector{T}"/> (256-bit with AVX2, 128-bit with AdvSimd): these kernels are bound by
/// memory bandwidth, so one width-agnostic loop is as fast as per-ISA variants.
/// Why the float pipeline equals the reference: <c>Vector.Round</c> rounds half to even like
/// <see cref="MathF.Round(float)"/>; the rounded value is an integer-valued float, and adding a zero point in
/// [-128, 255] is exact whenever the result can land inside [qmin, qmax] (|r| &lt; 2^24), while larger or infinite
/// values stay beyond the same clamp bound. So clamping in float before the integer conversion gives the same
/// integer as the reference's double arithmetic. QInt32 output has a range float cannot represent exactly and
/// takes the scalar path.
/// </remarks>
internal static class QuantizeKernels
{
    /// <summary>Quantizes to bytes holding values in [<paramref name="qmin"/>, <paramref name="qmax"/>] ⊆ [0, 255].</summary>
    public static void QuantizeToUInt8(ReadOnlySpan<float> source, float scale, int zeroPoint, int qmin, int qmax, RoundingConvention convention, Span<byte> destination)
    {
        Debug.Assert(destination.Length >= source.Length && qmin >= 0 && qmax <= 255);
        int i = QuantizeVectorized(source, scale, zeroPoint, qmin, qmax, convention, destination, signed: false);
        for (; i < source.Length; i++)
            destination[i] = (byte)QuantizeReference.Quantize(source[i], scale, zeroPoint, qmin, qmax, convention);
    }

    /// <summary>Quantizes to signed bytes holding values in [<paramref name="qmin"/>, <paramref name="qmax"/>] ⊆ [-128, 127].</summary>
    public static void QuantizeToInt8(ReadOnlySpan<float> source, float scale, int zeroPoint, int qmin, int qmax, RoundingConvention convention, Span<sbyte> destination)
    {
        Debug.Assert(destination.Length >= source.Length && qmin >= -128 && qmax <= 127);
        int i = QuantizeVectorized(source, scale, zeroPoint, qmin, qmax, convention, MemoryMarshal.AsBytes(destination), signed: true);
        for (; i < source.Length; i++)
            destination[i] = (sbyte)QuantizeReference.Quantize(source[i], scale, zeroPoint, qmin, qmax, convention);
    }

    /// <summary>Quantizes to 32-bit integers (scalar: see the remarks on the class).</summary>
    public static void QuantizeToInt32(ReadOnlySpan<float> source, float scale, int zeroPoint, int qmin, int qmax, RoundingConvention convention, Span<int> destination)
    {
        Debug.Assert(destination.Length >= source.Length);
        for (int i = 0; i < source.Length; i++)
            destination[i] = QuantizeReference.Quantize(source[i], scale, zeroPoint, qmin, qmax, convention);
    }

    /// <summary><c>destination[i] = scale * (source[i] - zeroPoint)</c>.</summary>
    public static void DequantizeUInt8(ReadOnlySpan<byte> source, float scale, int zeroPoint, Span<float> destination)
    {
        Debug.Assert(destination.Length >= source.Length);
        int i = 0;
        if (Vector.IsHardwareAccelerated && source.Length >= Vector<byte>.Count)
        {
            var zp = new Vector<float>(zeroPoint);
            var s = new Vector<float>(scale);
            ref byte src = ref MemoryMarshal.GetReference(source);
            ref float dst = ref MemoryMarshal.GetReference(destination);
            for (; i <= source.Length - Vector<byte>.Count; i += Vector<byte>.Count)
            {
                var bytes = Vector.LoadUnsafe(ref src, (nuint)i);
                Vector.Widen(bytes, out Vector<ushort> lo16, out Vector<ushort> hi16);
                StoreDequantized(Vector.AsVectorInt16(lo16), zp, s, ref dst, i);
                StoreDequantized(Vector.AsVectorInt16(hi16), zp, s, ref dst, i + Vector<ushort>.Count);
            }
        }

        for (; i < source.Length; i++)
            destination[i] = QuantizeReference.Dequantize(source[i], scale, zeroPoint);
    }

    /// <summary><c>destination[i] = scale * (source[i] - zeroPoint)</c>.</summary>
    public static void DequantizeInt8(ReadOnlySpan<sbyte> source, float scale, int zeroPoint, Span<float> destination)
    {
        Debug.Assert(destination.Length >= source.Length);
        int i = 0;
        if (Vector.IsHardwareAccelerated && source.Length >= Vector<sbyte>.Count)
        {
            var zp = new Vector<float>(zeroPoint);
            var s = new Vector<float>(scale);
            ref sbyte src = ref MemoryMarshal.GetReference(source);
            ref float dst = ref MemoryMarshal.GetReference(destination);
            for (; i <= source.Length - Vector<sbyte>.Count; i += Vector<sbyte>.Count)
            {
                var bytes = Vector.LoadUnsafe(ref src, (nuint)i);
                Vector.Widen(bytes, out Vector<short> lo16, out Vector<short> hi16);
                StoreDequantized(lo16, zp, s, ref dst, i);
                StoreDequantized(hi16, zp, s, ref dst, i + Vector<short>.Count);
            }
        }

        for (; i < source.Length; i++)
            destination[i] = QuantizeReference.Dequantize(source[i], scale, zeroPoint);
    }

    /// <summary><c>destination[i] = scale * (source[i] - zeroPoint)</c>, the difference taken in 64 bits.</summary>
    public static void DequantizeInt32(ReadOnlySpan<int> source, float scale, int zeroPoint, Span<float> destination)
    {
        Debug.Assert(destination.Length >= source.Length);
        for (int i = 0; i < source.Length; i++)
            destination[i] = QuantizeReference.Dequantize(source[i], scale, zeroPoint);
    }

    /// <summary>
    /// <c>destination[i] = scale * (clamp(zp + round_half_even(source[i] / scale), qmin, qmax) - zp)</c> with
    /// PyTorch's reciprocal multiply. <paramref name="destination"/> may be <paramref name="source"/>.
    /// </summary>
    public static void FakeQuantize(ReadOnlySpan<float> source, float scale, int zeroPoint, int qmin, int qmax, Span<float> destination)
    {
        Debug.Assert(destination.Length >= source.Length);
        int i = 0;
        float inverse = 1f / scale;
        if (Vector.IsHardwareAccelerated)
        {
            var inv = new Vector<float>(inverse);
            var s = new Vector<float>(scale);
            var zp = new Vector<float>(zeroPoint);
            var lo = new Vector<float>(qmin);
            var hi = new Vector<float>(qmax);
            ref float src = ref MemoryMarshal.GetReference(source);
            ref float dst = ref MemoryMarshal.GetReference(destination);
            for (; i <= source.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var q = Vector.Clamp(Vector.Round(Vector.LoadUnsafe(ref src, (nuint)i) * inv) + zp, lo, hi);
                ((q - zp) * s).StoreUnsafe(ref dst, (nuint)i);
            }
        }

        for (; i < source.Length; i++)
            destination[i] = QuantizeReference.FakeQuantize(source[i], scale, zeroPoint, qmin, qmax);
    }

    /// <summary>
    /// The smallest and largest of <paramref name="values"/> in one pass, both NaN when any value is NaN (the signs of
    /// zeros may differ from <see cref="Math.Min(float, float)"/>'s: ranges that include 0 do not care).
    /// </summary>
    public static (float Min, float Max) MinMax(ReadOnlySpan<float> values)
    {
        float min = float.PositiveInfinity, max = float.NegativeInfinity;
        int i = 0;
        if (Vector.IsHardwareAccelerated && values.Length >= Vector<float>.Count)
        {
            var low = new Vector<float>(min);
            var high = new Vector<float>(max);
            var ordered = Vector<int>.AllBitsSet;
            ref float src = ref MemoryMarshal.GetReference(values);
            for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var v = Vector.LoadUnsafe(ref src, (nuint)i);
                low = Vector.MinNative(low, v);
                high = Vector.MaxNative(high, v);
                ordered &= Vector.Equals(v, v);
            }

            if (!Vector.EqualsAll(ordered, Vector<int>.AllBitsSet))
                return (float.NaN, float.NaN);
            for (int k = 0; k < Vector<float>.Count; k++)
                (min, max) = (Math.Min(min, low[k]), Math.Max(max, high[k]));
        }

        for (; i < values.Length; i++)
        {
            if (float.IsNaN(values[i]))
                return (float.NaN, float.NaN);
            (min, max) = (Math.Min(min, values[i]), Math.Max(max, values[i]));
        }

        return (min, max);
    }

    /// <summary>Index of the first NaN in <paramref name="values"/>, or -1.</summary>
    public static int IndexOfNaN(ReadOnlySpan<float> values)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            ref float src = ref MemoryMarshal.GetReference(values);
            for (; i <= values.Length - Vector<float>.Count; i += Vector<float>.Count)
            {
                var v = Vector.LoadUnsafe(ref src, (nuint)i);
                if (!Vector.EqualsAll(v, v))
                    break;
            }
        }

        for (; i < values.Length; i++)
        {
            if (float.IsNaN(values[i]))
                return i;
        }

        return -1;
    }

    /// <summary>
    /// The vector part of 8-bit quantization: four float vectors become one byte vector. Returns how many
    /// elements it wrote; the caller finishes the tail with the reference.
    /// </summary>
    private static int QuantizeVectorized(ReadOnlySpan<float> source, float scale, int zeroPoint, int qmin, int qmax, RoundingConvention convention, Span<byte> destination, bool signed)
    {
        if (!Vector.IsHardwareAccelerated || source.Length < Vector<byte>.Count)
            return 0;

        bool divide = convention == RoundingConvention.Onnx;
        var factor = new Vector<float>(divide ? scale : 1f / scale);
        var zp = new Vector<float>(zeroPoint);
        var lo = new Vector<float>(qmin);
        var hi = new Vector<float>(qmax);
        ref float src = ref MemoryMarshal.GetReference(source);
        ref byte dst = ref MemoryMarshal.GetReference(destination);
        int step = Vector<byte>.Count;
        int i = 0;
        for (; i <= source.Length - step; i += step)
        {
            var a = Scale(ref src, i, factor, zp, lo, hi, divide);
            var b = Scale(ref src, i + Vector<float>.Count, factor, zp, lo, hi, divide);
            var c = Scale(ref src, i + 2 * Vector<float>.Count, factor, zp, lo, hi, divide);
            var d = Scale(ref src, i + 3 * Vector<float>.Count, factor, zp, lo, hi, divide);
            // Values are already clamped into the byte range, so the truncating narrows are exact.
            var ab = Vector.Narrow(a, b);
            var cd = Vector.Narrow(c, d);
            Vector<byte> bytes = signed
                ? Vector.AsVectorByte(Vector.Narrow(ab, cd))
                : Vector.Narrow(Vector.AsVectorUInt16(ab), Vector.AsVectorUInt16(cd));
            bytes.StoreUnsafe(ref dst, (nuint)i);
        }

        return i;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<int> Scale(ref float src, int offset, Vector<float> factor, Vector<float> zp, Vector<float> lo, Vector<float> hi, bool divide)
    {
        var x = Vector.LoadUnsafe(ref src, (nuint)offset);
        var scaled = divide ? x / factor : x * factor;
        // The platform's clamp and conversion are exact for every number; a NaN lane becomes 0, as the reference's
        // saturating conversion gives.
        var q = Vector.ConvertToInt32Native(Vector.ClampNative(Vector.Round(scaled) + zp, lo, hi));
        return q & Vector.Equals(scaled, scaled);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void StoreDequantized(Vector<short> values, Vector<float> zp, Vector<float> scale, ref float dst, int offset)
    {
        Vector.Widen(values, out Vector<int> lo, out Vector<int> hi);
        ((Vector.ConvertToSingle(lo) - zp) * scale).StoreUnsafe(ref dst, (nuint)offset);
        ((Vector.ConvertToSingle(hi) - zp) * scale).StoreUnsafe(ref dst, (nuint)(offset + Vector<int>.Count));
    }
}
