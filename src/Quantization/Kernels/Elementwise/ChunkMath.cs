using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Quantization.Kernels.Elementwise;

/// <summary>
/// Elementwise float arithmetic on short spans (the L1-sized chunks of a <see cref="Graph.FloatChain"/>): plain vector
/// loops, the same IEEE operations as <see cref="System.Numerics.Tensors.TensorPrimitives"/> and so the same values bit
/// for bit, with less per-call cost: a decomposed HardSwish over 512-value chunks took 0.30 instead of 0.41 ns per value
/// (Zen 5, one thread, same run, after warm-up).
/// </summary>
/// <remarks><see cref="ArithmeticOp.Max"/> and <see cref="ArithmeticOp.Min"/> follow IEEE 754-2019 as <c>TensorPrimitives</c> does (NaN wins, +0 is above -0).</remarks>
internal static class ChunkMath
{
    /// <summary><c>destination[i] = op(x[i], y[i])</c>.</summary>
    public static void Apply(ArithmeticOp op, ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> destination)
    {
        if (y.Length != x.Length)
            throw new ArgumentException($"Operands of {x.Length} and {y.Length} values.", nameof(y));
        Apply(op, new SpanOperand(x), new SpanOperand(y), x.Length, destination);
    }

    /// <summary><c>destination[i] = op(x[i], c)</c>.</summary>
    public static void Apply(ArithmeticOp op, ReadOnlySpan<float> x, float c, Span<float> destination) =>
        Apply(op, new SpanOperand(x), new ScalarOperand(c), x.Length, destination);

    /// <summary><c>destination[i] = op(c, x[i])</c>.</summary>
    public static void Apply(ArithmeticOp op, float c, ReadOnlySpan<float> x, Span<float> destination) =>
        Apply(op, new ScalarOperand(c), new SpanOperand(x), x.Length, destination);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Apply<TA, TB>(ArithmeticOp op, TA a, TB b, int length, Span<float> destination)
        where TA : IOperand, allows ref struct
        where TB : IOperand, allows ref struct
    {
        switch (op)
        {
            case ArithmeticOp.Add:
                Run<AddOp, TA, TB>(a, b, length, destination);
                break;
            case ArithmeticOp.Subtract:
                Run<SubtractOp, TA, TB>(a, b, length, destination);
                break;
            case ArithmeticOp.Multiply:
                Run<MultiplyOp, TA, TB>(a, b, length, destination);
                break;
            case ArithmeticOp.Divide:
                Run<DivideOp, TA, TB>(a, b, length, destination);
                break;
            case ArithmeticOp.Max:
                Run<MaxOp, TA, TB>(a, b, length, destination);
                break;
            case ArithmeticOp.Min:
                Run<MinOp, TA, TB>(a, b, length, destination);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(op), op, "Not an arithmetic operation.");
        }
    }

    private interface IOperator
    {
        static abstract float Invoke(float a, float b);

        static abstract Vector512<float> Invoke(Vector512<float> a, Vector512<float> b);

        static abstract Vector256<float> Invoke(Vector256<float> a, Vector256<float> b);

        static abstract Vector128<float> Invoke(Vector128<float> a, Vector128<float> b);
    }

    private readonly struct AddOp : IOperator
    {
        public static float Invoke(float a, float b) => a + b;

        public static Vector512<float> Invoke(Vector512<float> a, Vector512<float> b) => a + b;

        public static Vector256<float> Invoke(Vector256<float> a, Vector256<float> b) => a + b;

        public static Vector128<float> Invoke(Vector128<float> a, Vector128<float> b) => a + b;
    }

    private readonly struct SubtractOp : IOperator
    {
        public static float Invoke(float a, float b) => a - b;

        public static Vector512<float> Invoke(Vector512<float> a, Vector512<float> b) => a - b;

        public static Vector256<float> Invoke(Vector256<float> a, Vector256<float> b) => a - b;

        public static Vector128<float> Invoke(Vector128<float> a, Vector128<float> b) => a - b;
    }

    private readonly struct MultiplyOp : IOperator
    {
        public static float Invoke(float a, float b) => a * b;

        public static Vector512<float> Invoke(Vector512<float> a, Vector512<float> b) => a * b;

        public static Vector256<float> Invoke(Vector256<float> a, Vector256<float> b) => a * b;

        public static Vector128<float> Invoke(Vector128<float> a, Vector128<float> b) => a * b;
    }

    private readonly struct DivideOp : IOperator
    {
        public static float Invoke(float a, float b) => a / b;

        public static Vector512<float> Invoke(Vector512<float> a, Vector512<float> b) => a / b;

        public static Vector256<float> Invoke(Vector256<float> a, Vector256<float> b) => a / b;

        public static Vector128<float> Invoke(Vector128<float> a, Vector128<float> b) => a / b;
    }

    private readonly struct MaxOp : IOperator
    {
        public static float Invoke(float a, float b) => MathF.Max(a, b);

        public static Vector512<float> Invoke(Vector512<float> a, Vector512<float> b) => Vector512.Max(a, b);

        public static Vector256<float> Invoke(Vector256<float> a, Vector256<float> b) => Vector256.Max(a, b);

        public static Vector128<float> Invoke(Vector128<float> a, Vector128<float> b) => Vector128.Max(a, b);
    }

    private readonly struct MinOp : IOperator
    {
        public static float Invoke(float a, float b) => MathF.Min(a, b);

        public static Vector512<float> Invoke(Vector512<float> a, Vector512<float> b) => Vector512.Min(a, b);

        public static Vector256<float> Invoke(Vector256<float> a, Vector256<float> b) => Vector256.Min(a, b);

        public static Vector128<float> Invoke(Vector128<float> a, Vector128<float> b) => Vector128.Min(a, b);
    }

    /// <summary>A value source: element i of a span, or one scalar everywhere.</summary>
    private interface IOperand
    {
        float At(int i);

        Vector512<float> At512(int i);

        Vector256<float> At256(int i);

        Vector128<float> At128(int i);
    }

    private readonly ref struct SpanOperand(ReadOnlySpan<float> values) : IOperand
    {
        private readonly ReadOnlySpan<float> _values = values;

        public float At(int i) => _values[i];

        public Vector512<float> At512(int i) => Vector512.LoadUnsafe(ref MemoryMarshal.GetReference(_values), (nuint)i);

        public Vector256<float> At256(int i) => Vector256.LoadUnsafe(ref MemoryMarshal.GetReference(_values), (nuint)i);

        public Vector128<float> At128(int i) => Vector128.LoadUnsafe(ref MemoryMarshal.GetReference(_values), (nuint)i);
    }

    private readonly struct ScalarOperand(float value) : IOperand
    {
        public float At(int i) => value;

        public Vector512<float> At512(int i) => Vector512.Create(value);

        public Vector256<float> At256(int i) => Vector256.Create(value);

        public Vector128<float> At128(int i) => Vector128.Create(value);
    }

    /// <summary>
    /// <c>destination[i] = op(a[i], b[i])</c>. Each vector is loaded before its result is stored, so the destination may
    /// be an operand exactly (not shifted against it).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Run<TOp, TA, TB>(TA a, TB b, int length, Span<float> destination)
        where TOp : IOperator
        where TA : IOperand, allows ref struct
        where TB : IOperand, allows ref struct
    {
        if (destination.Length < length)
            throw new ArgumentException($"The destination holds {destination.Length} values; {length} are needed.", nameof(destination));
        ref float d = ref MemoryMarshal.GetReference(destination);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            for (; i <= length - Vector512<float>.Count; i += Vector512<float>.Count)
                TOp.Invoke(a.At512(i), b.At512(i)).StoreUnsafe(ref d, (nuint)i);
        }
        else if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= length - Vector256<float>.Count; i += Vector256<float>.Count)
                TOp.Invoke(a.At256(i), b.At256(i)).StoreUnsafe(ref d, (nuint)i);
        }
        else if (Vector128.IsHardwareAccelerated)
        {
            for (; i <= length - Vector128<float>.Count; i += Vector128<float>.Count)
                TOp.Invoke(a.At128(i), b.At128(i)).StoreUnsafe(ref d, (nuint)i);
        }

        for (; i < length; i++)
            Unsafe.Add(ref d, i) = TOp.Invoke(a.At(i), b.At(i));
    }
}
