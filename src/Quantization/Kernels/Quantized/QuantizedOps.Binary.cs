using System.Numerics;
using System.Runtime.InteropServices;

namespace Quantization.Kernels.Quantized;

internal static partial class QuantizedOps
{
    /// <summary>
    /// PyTorch's quantized <c>add</c> / <c>add_relu</c> (FloatFunctional.add, add_relu) on operands of one shape:
    /// <c>y = quantize(max?(dequantize(a) + dequantize(b), 0), yScale, yZp)</c>, the sum in float.
    /// <paramref name="y"/> may be <paramref name="a"/> or <paramref name="b"/>.
    /// </summary>
    public static void Add(ReadOnlySpan<byte> a, float aScale, int aZp, ReadOnlySpan<byte> b, float bScale, int bZp, float yScale, int yZp, bool relu, Span<byte> y)
    {
        CheckBinary(a, aScale, aZp, b, bScale, bZp, yScale, yZp, y);
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var zpA = new Vector<float>(aZp);
            var scaleA = new Vector<float>(aScale);
            var zpB = new Vector<float>(bZp);
            var scaleB = new Vector<float>(bScale);
            var inverse = new Vector<float>(1f / yScale);
            var zpOut = new Vector<float>(yZp);
            // With relu off the floor is -inf, so the max is the identity and one loop serves both.
            var floor = new Vector<float>(relu ? 0f : float.NegativeInfinity);
            ref byte srcA = ref MemoryMarshal.GetReference(a);
            ref byte srcB = ref MemoryMarshal.GetReference(b);
            ref byte dst = ref MemoryMarshal.GetReference(y);
            for (; i <= a.Length - Vector<byte>.Count; i += Vector<byte>.Count)
            {
                Widen(Vector.LoadUnsafe(ref srcA, (nuint)i), out var a0, out var a1, out var a2, out var a3);
                Widen(Vector.LoadUnsafe(ref srcB, (nuint)i), out var b0, out var b1, out var b2, out var b3);
                var q0 = QuantizeLanes(Vector.Max((a0 - zpA) * scaleA + (b0 - zpB) * scaleB, floor), inverse, zpOut);
                var q1 = QuantizeLanes(Vector.Max((a1 - zpA) * scaleA + (b1 - zpB) * scaleB, floor), inverse, zpOut);
                var q2 = QuantizeLanes(Vector.Max((a2 - zpA) * scaleA + (b2 - zpB) * scaleB, floor), inverse, zpOut);
                var q3 = QuantizeLanes(Vector.Max((a3 - zpA) * scaleA + (b3 - zpB) * scaleB, floor), inverse, zpOut);
                Narrow(q0, q1, q2, q3).StoreUnsafe(ref dst, (nuint)i);
            }
        }

        QuantizedOpsReference.Add(a[i..], aScale, aZp, b[i..], bScale, bZp, yScale, yZp, relu, y[i..]);
    }

    /// <summary>
    /// PyTorch's quantized <c>mul</c> / <c>mul_relu</c> (FloatFunctional.mul) on operands of one shape: the integer
    /// product <c>(a - aZp)(b - bZp)</c> times the float multiplier <c>aScale * bScale * (1 / yScale)</c>, rounded
    /// half to even, plus yZp, clamped; with <paramref name="relu"/> the result is then raised to at least yZp.
    /// Products whose scaled value overflows 64-bit integers saturate (PyTorch's <c>lrintf</c> is undefined there).
    /// <paramref name="y"/> may be <paramref name="a"/> or <paramref name="b"/>.
    /// </summary>
    /// <exception cref="ArgumentException">The multiplier overflows float.</exception>
    public static void Mul(ReadOnlySpan<byte> a, float aScale, int aZp, ReadOnlySpan<byte> b, float bScale, int bZp, float yScale, int yZp, bool relu, Span<byte> y)
    {
        CheckBinary(a, aScale, aZp, b, bScale, bZp, yScale, yZp, y);
        float multiplier = QuantizedOpsReference.MulMultiplier(aScale, bScale, yScale);
        if (!float.IsFinite(multiplier))
            throw new ArgumentException($"aScale * bScale / yScale = {aScale} * {bScale} / {yScale} overflows float.", nameof(yScale));
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var zpA = new Vector<int>(aZp);
            var zpB = new Vector<int>(bZp);
            var m = new Vector<float>(multiplier);
            var zpOut = new Vector<float>(yZp);
            var floor = new Vector<int>(relu ? yZp : 0);
            ref byte srcA = ref MemoryMarshal.GetReference(a);
            ref byte srcB = ref MemoryMarshal.GetReference(b);
            ref byte dst = ref MemoryMarshal.GetReference(y);
            for (; i <= a.Length - Vector<byte>.Count; i += Vector<byte>.Count)
            {
                WidenInt(Vector.LoadUnsafe(ref srcA, (nuint)i), out var a0, out var a1, out var a2, out var a3);
                WidenInt(Vector.LoadUnsafe(ref srcB, (nuint)i), out var b0, out var b1, out var b2, out var b3);
                // |product| <= 255^2 < 2^24, so its conversion to float is exact, as in the reference.
                var q0 = Vector.Max(MulLanes((a0 - zpA) * (b0 - zpB), m, zpOut), floor);
                var q1 = Vector.Max(MulLanes((a1 - zpA) * (b1 - zpB), m, zpOut), floor);
                var q2 = Vector.Max(MulLanes((a2 - zpA) * (b2 - zpB), m, zpOut), floor);
                var q3 = Vector.Max(MulLanes((a3 - zpA) * (b3 - zpB), m, zpOut), floor);
                Narrow(q0, q1, q2, q3).StoreUnsafe(ref dst, (nuint)i);
            }
        }

        QuantizedOpsReference.Mul(a[i..], aScale, aZp, b[i..], bScale, bZp, yScale, yZp, relu, y[i..]);
    }

    private static Vector<int> MulLanes(Vector<int> product, Vector<float> multiplier, Vector<float> zp) =>
        Vector.ConvertToInt32(Vector.Clamp(Vector.Round(Vector.ConvertToSingle(product) * multiplier) + zp, Vector<float>.Zero, new Vector<float>(255f)));

    private static void WidenInt(Vector<byte> bytes, out Vector<int> i0, out Vector<int> i1, out Vector<int> i2, out Vector<int> i3)
    {
        Vector.Widen(bytes, out Vector<ushort> lo, out Vector<ushort> hi);
        Vector.Widen(lo, out Vector<uint> a, out Vector<uint> b);
        Vector.Widen(hi, out Vector<uint> c, out Vector<uint> d);
        i0 = Vector.AsVectorInt32(a);
        i1 = Vector.AsVectorInt32(b);
        i2 = Vector.AsVectorInt32(c);
        i3 = Vector.AsVectorInt32(d);
    }

    private static void CheckBinary(ReadOnlySpan<byte> a, float aScale, int aZp, ReadOnlySpan<byte> b, float bScale, int bZp, float yScale, int yZp, Span<byte> y)
    {
        CheckScale(aScale, nameof(aScale));
        CheckZeroPoint(aZp, nameof(aZp));
        CheckScale(bScale, nameof(bScale));
        CheckZeroPoint(bZp, nameof(bZp));
        CheckScale(yScale, nameof(yScale));
        CheckZeroPoint(yZp, nameof(yZp));
        CheckSameLength(a.Length, b.Length, nameof(b));
        CheckDestination(a.Length, y.Length, nameof(y));
    }
}
