using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Quantization.Kernels.Quantized;

internal static partial class QuantizedOps
{
    /// <summary>The output scale of <see cref="Sigmoid"/> and <see cref="Hardsigmoid"/> (PyTorch's fixed 1/256; zero point 0).</summary>
    public const float BoundedOutputScale = QuantizedOpsReference.BoundedOutputScale;

    /// <summary>The output zero point of <see cref="Sigmoid"/> and <see cref="Hardsigmoid"/> on QUInt8.</summary>
    public const int BoundedOutputZeroPoint = 0;

    /// <summary>PyTorch's quantized <c>relu</c>: <c>y = max(x, zeroPoint)</c>, output parameters equal to the input ones.</summary>
    public static void Relu(ReadOnlySpan<byte> x, int zeroPoint, Span<byte> y)
    {
        CheckZeroPoint(zeroPoint, nameof(zeroPoint));
        CheckDestination(x.Length, y.Length, nameof(y));
        Clamp(x, (byte)zeroPoint, byte.MaxValue, y);
    }

    /// <summary>
    /// PyTorch's quantized <c>relu6</c> (a clamp to [0, 6]): <c>y = min(max(x, zeroPoint), quantize(6))</c>, output
    /// parameters equal to the input ones.
    /// </summary>
    public static void Relu6(ReadOnlySpan<byte> x, float scale, int zeroPoint, Span<byte> y)
    {
        CheckScale(scale, nameof(scale));
        CheckZeroPoint(zeroPoint, nameof(zeroPoint));
        CheckDestination(x.Length, y.Length, nameof(y));
        Clamp(x, (byte)zeroPoint, QuantizedOpsReference.Quantize(6f, scale, zeroPoint), y);
    }

    /// <summary>PyTorch's quantized <c>hardswish</c>: <c>x * min(max(x + 3, 0), 6) / 6</c> between the given parameters.</summary>
    public static void Hardswish(ReadOnlySpan<byte> x, float xScale, int xZp, float yScale, int yZp, Span<byte> y)
    {
        CheckScale(xScale, nameof(xScale));
        CheckZeroPoint(xZp, nameof(xZp));
        CheckScale(yScale, nameof(yScale));
        CheckZeroPoint(yZp, nameof(yZp));
        CheckDestination(x.Length, y.Length, nameof(y));
        Span<byte> table = stackalloc byte[256];
        for (int q = 0; q < table.Length; q++)
            table[q] = QuantizedOpsReference.Hardswish((byte)q, xScale, xZp, yScale, yZp);
        Lookup(x, table, y);
    }

    /// <summary>
    /// PyTorch's quantized <c>hardsigmoid</c>: <c>min(max(x + 3, 0), 6) / 6</c>, output scale
    /// <see cref="BoundedOutputScale"/> and zero point <see cref="BoundedOutputZeroPoint"/>.
    /// </summary>
    public static void Hardsigmoid(ReadOnlySpan<byte> x, float xScale, int xZp, Span<byte> y)
    {
        CheckScale(xScale, nameof(xScale));
        CheckZeroPoint(xZp, nameof(xZp));
        CheckDestination(x.Length, y.Length, nameof(y));
        Span<byte> table = stackalloc byte[256];
        for (int q = 0; q < table.Length; q++)
            table[q] = QuantizedOpsReference.Hardsigmoid((byte)q, xScale, xZp);
        Lookup(x, table, y);
    }

    /// <summary>
    /// PyTorch's quantized <c>sigmoid</c> (its scalar path, <c>1.0f / (1.0 + exp(-x))</c>): output scale
    /// <see cref="BoundedOutputScale"/> and zero point <see cref="BoundedOutputZeroPoint"/>. PyTorch's AVX2 path uses
    /// its own vector exponential, which may differ by an ulp and so, rarely, by one step after rounding.
    /// </summary>
    public static void Sigmoid(ReadOnlySpan<byte> x, float xScale, int xZp, Span<byte> y)
    {
        CheckScale(xScale, nameof(xScale));
        CheckZeroPoint(xZp, nameof(xZp));
        CheckDestination(x.Length, y.Length, nameof(y));
        Span<byte> table = stackalloc byte[256];
        for (int q = 0; q < table.Length; q++)
            table[q] = QuantizedOpsReference.Sigmoid((byte)q, xScale, xZp);
        Lookup(x, table, y);
    }

    /// <summary><c>y = min(max(x, lo), hi)</c> on bytes.</summary>
    private static void Clamp(ReadOnlySpan<byte> x, byte lo, byte hi, Span<byte> y)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vlo = new Vector<byte>(lo);
            var vhi = new Vector<byte>(hi);
            ref byte src = ref MemoryMarshal.GetReference(x);
            ref byte dst = ref MemoryMarshal.GetReference(y);
            for (; i <= x.Length - Vector<byte>.Count; i += Vector<byte>.Count)
                Vector.Min(Vector.Max(Vector.LoadUnsafe(ref src, (nuint)i), vlo), vhi).StoreUnsafe(ref dst, (nuint)i);
        }

        for (; i < x.Length; i++)
            y[i] = Math.Min(Math.Max(x[i], lo), hi);
    }

    /// <summary>
    /// <c>y[i] = table[x[i]]</c>. A unary operator on bytes has 256 possible inputs, so a table filled by the
    /// reference is bit-exact by construction, and one load per element beats any float pipeline.
    /// </summary>
    private static void Lookup(ReadOnlySpan<byte> x, ReadOnlySpan<byte> table, Span<byte> y)
    {
        ref byte t = ref MemoryMarshal.GetReference(table);
        for (int i = 0; i < x.Length; i++)
            y[i] = Unsafe.Add(ref t, x[i]);
    }
}
