using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Quantization.Kernels.Quantized;

/// <summary>
/// The kernels of the static quantized modules on QUInt8 activations with per-tensor parameters, NCHW row-major,
/// bit-exact with <see cref="QuantizedOpsReference"/> (PyTorch's quantized CPU semantics). Arguments are validated
/// here with <see cref="ArgumentException"/>s that name the parameter.
/// </summary>
/// <remarks>
/// The elementwise loops use <see cref="Vector{T}"/> (256-bit with AVX2, 128-bit with AdvSimd, scalar otherwise): they
/// are bound by memory bandwidth, so one width-agnostic loop serves every ISA. The float pipelines equal the
/// reference because every vector operation is the same IEEE single-precision operation in the same order, and
/// <see cref="Vector.Round(Vector{float})"/> rounds half to even like <see cref="MathF.Round(float)"/>; adding the zero
/// point to the rounded integer-valued float is exact wherever the result can land in [0, 255], and larger or infinite
/// values stay beyond the same clamp bound (the argument of <c>QuantizeKernels</c>).
/// </remarks>
internal static partial class QuantizedOps
{
    /// <summary>
    /// PyTorch's <c>requantize_val</c> elementwise: <c>y = quantize(dequantize(x, xScale, xZp), yScale, yZp)</c>.
    /// <paramref name="y"/> may be <paramref name="x"/>.
    /// </summary>
    public static void Requantize(ReadOnlySpan<byte> x, float xScale, int xZp, float yScale, int yZp, Span<byte> y)
    {
        CheckScale(xScale, nameof(xScale));
        CheckZeroPoint(xZp, nameof(xZp));
        CheckScale(yScale, nameof(yScale));
        CheckZeroPoint(yZp, nameof(yZp));
        CheckDestination(x.Length, y.Length, nameof(y));
        RequantizeUnchecked(x, xScale, xZp, yScale, yZp, y);
    }

    /// <summary>
    /// PyTorch's quantized <c>cat</c> (its general path: dequantize every input, concatenate, quantize with the
    /// output parameters), which is <see cref="Requantize"/> of each input into its slices of the output.
    /// </summary>
    /// <param name="inputs">The inputs: contiguous row-major data, shape, scale and zero point each.</param>
    /// <param name="axis">The axis to concatenate along, in [0, rank).</param>
    /// <param name="yScale">The output scale.</param>
    /// <param name="yZp">The output zero point.</param>
    /// <param name="y">The output, <see cref="ConcatShape"/> in size.</param>
    public static void Concat(IReadOnlyList<(byte[] Data, int[] Shape, float Scale, int ZeroPoint)> inputs, int axis, float yScale, int yZp, Span<byte> y)
    {
        int[] shape = ConcatShape(inputs, axis);
        CheckScale(yScale, nameof(yScale));
        CheckZeroPoint(yZp, nameof(yZp));
        long total = 1;
        foreach (int d in shape)
            total *= d;
        if (y.Length != total)
            throw new ArgumentException($"The output holds {y.Length} elements but the concatenation has {total}.", nameof(y));
        for (int i = 0; i < inputs.Count; i++)
        {
            var (data, inShape, scale, zp) = inputs[i];
            CheckScale(scale, $"{nameof(inputs)}[{i}].Scale");
            CheckZeroPoint(zp, $"{nameof(inputs)}[{i}].ZeroPoint");
            if (data.Length != Volume(inShape, 0))
                throw new ArgumentException($"inputs[{i}] holds {data.Length} elements but its shape needs {Volume(inShape, 0)}.", nameof(inputs));
        }

        // Row-major: the output is `outer` blocks, each the inputs' trailing blocks (from `axis` on) side by side.
        int outer = Volume(shape.AsSpan(0, axis), 0);
        int outBlock = Volume(shape, axis);
        int offset = 0;
        foreach (var (data, inShape, scale, zp) in inputs)
        {
            int block = Volume(inShape, axis);
            for (int o = 0; o < outer; o++)
                RequantizeUnchecked(data.AsSpan(o * block, block), scale, zp, yScale, yZp, y.Slice(o * outBlock + offset, block));
            offset += block;
        }
    }

    /// <summary>The shape of <see cref="Concat"/>'s output; throws unless the inputs agree off <paramref name="axis"/>.</summary>
    public static int[] ConcatShape(IReadOnlyList<(byte[] Data, int[] Shape, float Scale, int ZeroPoint)> inputs, int axis)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Count == 0)
            throw new ArgumentException("Concatenation needs at least one input.", nameof(inputs));
        int[] first = inputs[0].Shape;
        if ((uint)axis >= (uint)first.Length)
            throw new ArgumentOutOfRangeException(nameof(axis), axis, $"The axis must be in [0, {first.Length}).");
        int[] shape = (int[])first.Clone();
        for (int i = 0; i < inputs.Count; i++)
        {
            int[] s = inputs[i].Shape;
            if (s.Any(d => d < 0))
                throw new ArgumentException($"inputs[{i}] has a negative dimension: [{string.Join(", ", s)}].", nameof(inputs));
            if (i == 0)
                continue;
            bool agree = s.Length == first.Length;
            for (int d = 0; agree && d < s.Length; d++)
                agree = d == axis || s[d] == first[d];
            if (!agree)
                throw new ArgumentException($"inputs[{i}] has shape [{string.Join(", ", s)}], which differs from [{string.Join(", ", first)}] off axis {axis}.", nameof(inputs));
            shape[axis] += s[axis];
        }

        return shape;
    }

    /// <summary>The vector loop of <see cref="Requantize"/>, for callers that have validated the arguments.</summary>
    private static void RequantizeUnchecked(ReadOnlySpan<byte> x, float xScale, int xZp, float yScale, int yZp, Span<byte> y)
    {
        // Same parameters: (q - zp) * s * (1 / s) is within a few ulps of the integer q - zp, so it rounds back to q.
        if (xScale == yScale && xZp == yZp)
        {
            x.CopyTo(y);
            return;
        }

        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var zpIn = new Vector<float>(xZp);
            var scaleIn = new Vector<float>(xScale);
            var inverse = new Vector<float>(1f / yScale);
            var zpOut = new Vector<float>(yZp);
            ref byte src = ref MemoryMarshal.GetReference(x);
            ref byte dst = ref MemoryMarshal.GetReference(y);
            for (; i <= x.Length - Vector<byte>.Count; i += Vector<byte>.Count)
            {
                Widen(Vector.LoadUnsafe(ref src, (nuint)i), out var f0, out var f1, out var f2, out var f3);
                var q0 = QuantizeLanes((f0 - zpIn) * scaleIn, inverse, zpOut);
                var q1 = QuantizeLanes((f1 - zpIn) * scaleIn, inverse, zpOut);
                var q2 = QuantizeLanes((f2 - zpIn) * scaleIn, inverse, zpOut);
                var q3 = QuantizeLanes((f3 - zpIn) * scaleIn, inverse, zpOut);
                Narrow(q0, q1, q2, q3).StoreUnsafe(ref dst, (nuint)i);
            }
        }

        QuantizedOpsReference.Requantize(x[i..], xScale, xZp, yScale, yZp, y[i..]);
    }

    /// <summary>Widens one byte vector into four float vectors, lanes in order (exact: bytes fit any float).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Widen(Vector<byte> bytes, out Vector<float> f0, out Vector<float> f1, out Vector<float> f2, out Vector<float> f3)
    {
        Vector.Widen(bytes, out Vector<ushort> lo, out Vector<ushort> hi);
        Vector.Widen(lo, out Vector<uint> a, out Vector<uint> b);
        Vector.Widen(hi, out Vector<uint> c, out Vector<uint> d);
        f0 = Vector.ConvertToSingle(Vector.AsVectorInt32(a));
        f1 = Vector.ConvertToSingle(Vector.AsVectorInt32(b));
        f2 = Vector.ConvertToSingle(Vector.AsVectorInt32(c));
        f3 = Vector.ConvertToSingle(Vector.AsVectorInt32(d));
    }

    /// <summary><c>clamp(round_half_even(x * inverse) + zp, 0, 255)</c> as int32 lanes: quantize_val.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<int> QuantizeLanes(Vector<float> x, Vector<float> inverse, Vector<float> zp) =>
        Vector.ConvertToInt32(Vector.Clamp(Vector.Round(x * inverse) + zp, Vector<float>.Zero, new Vector<float>(255f)));

    /// <summary>Narrows four int32 vectors holding values in [0, 255] into one byte vector (the truncation is exact).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector<byte> Narrow(Vector<int> q0, Vector<int> q1, Vector<int> q2, Vector<int> q3) =>
        Vector.Narrow(
            Vector.Narrow(Vector.AsVectorUInt32(q0), Vector.AsVectorUInt32(q1)),
            Vector.Narrow(Vector.AsVectorUInt32(q2), Vector.AsVectorUInt32(q3)));

    private static int Volume(ReadOnlySpan<int> shape, int from)
    {
        long v = 1;
        for (int d = from; d < shape.Length; d++)
            v *= shape[d];
        return checked((int)v);
    }

    /// <summary>
    /// A scale must be positive with a finite reciprocal (the kernels multiply by 1 / scale) and keep every
    /// dequantized value finite (255 * scale), so that no NaN can arise between dequantizing and rounding.
    /// </summary>
    private static void CheckScale(float scale, string name)
    {
        if (!(scale > 0f) || !float.IsFinite(255f * scale) || !float.IsFinite(1f / scale))
            throw new ArgumentOutOfRangeException(name, scale, "A scale must be positive, with 255 * scale and 1 / scale finite.");
    }

    private static void CheckZeroPoint(int zeroPoint, string name)
    {
        if ((uint)zeroPoint > 255)
            throw new ArgumentOutOfRangeException(name, zeroPoint, "A QUInt8 zero point must be in [0, 255].");
    }

    private static void CheckDestination(long needed, int length, string name)
    {
        if (length != needed)
            throw new ArgumentException($"The destination holds {length} elements but {needed} are produced.", name);
    }

    private static void CheckSameLength(int expected, int length, string name)
    {
        if (length != expected)
            throw new ArgumentException($"The operands differ in length: {expected} and {length}.", name);
    }
}
