using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace Quantization.Kernels.Gemm;

/// <summary>
/// The output stage every INT8 GEMM variant shares: zero-point corrections, then the epilogue, vectorized with
/// <see cref="Vector{T}"/> over a tile row and bit-exact with <see cref="Int8GemmReference"/>. The float steps are
/// the same IEEE operations in the same order as the reference (convert, multiply, then add; never a fused
/// multiply-add), and the requantize clamp happens in float before the integer conversion, which gives the
/// reference's saturation (see <see cref="Elementwise.QuantizeKernels"/> for why).
/// </summary>
internal static class Int8GemmOutput
{
    /// <summary><c>acc[j] -= zeroPoints[j] * rowTerm</c>, wrapping like the accumulator: the term weight zero points add.</summary>
    public static void Correct(Span<int> acc, int rowTerm, ReadOnlySpan<int> zeroPoints)
    {
        for (int j = 0; j < acc.Length; j++)
            acc[j] = unchecked(acc[j] - zeroPoints[j] * rowTerm);
    }

    /// <summary>Writes corrected accumulators for columns [<paramref name="n0"/>, n0 + acc.Length) at element <paramref name="offset"/> of the output.</summary>
    public static void Write(Span<int> acc, Int8GemmEpilogue epilogue, int n0, nint output, long offset) =>
        Write(acc, epilogue, n0, acc.Length, output, offset);

    /// <summary>
    /// Writes accumulators that all belong to output channel <paramref name="channel"/> (a row of an NCHW plane) at
    /// element <paramref name="offset"/> of the output: the channel's scale, bias and multiplier are broadcast.
    /// </summary>
    public static void WriteChannel(Span<int> acc, Int8GemmEpilogue epilogue, int channel, nint output, long offset) =>
        Write(acc, epilogue, channel, 1, output, offset);

    /// <summary>
    /// The output stage over per-channel arrays sliced at [<paramref name="n0"/>, n0 + <paramref name="channels"/>):
    /// one entry per accumulator, or a single entry (<paramref name="channels"/> = 1) that all of them share.
    /// </summary>
    private static unsafe void Write(Span<int> acc, Int8GemmEpilogue epilogue, int n0, int channels, nint output, long offset)
    {
        switch (epilogue.Kind)
        {
            case Int8OutputKind.Int32:
                acc.CopyTo(new Span<int>((int*)output + offset, acc.Length));
                break;
            case Int8OutputKind.Float:
                WriteFloat(acc, epilogue.Scales!.AsSpan(n0, channels), epilogue.Bias is null ? default : epilogue.Bias.AsSpan(n0, channels),
                    new Span<float>((float*)output + offset, acc.Length));
                break;
            default:
                Requantize(acc, epilogue, n0, channels);
                Narrow(acc, (byte*)output + offset, epilogue.Kind == Int8OutputKind.Int8);
                break;
        }
    }

    /// <summary>
    /// Requantizes a micro-kernel tile (<paramref name="rows"/> rows of <paramref name="columns"/> accumulators,
    /// <paramref name="tileStride"/> ints apart) into 8-bit rows <paramref name="outputStride"/> bytes apart: the same
    /// arithmetic as <see cref="Write(Span{int}, Int8GemmEpilogue, int, nint, long)"/> row by row, with each column
    /// vector's multipliers and biases loaded once per tile. Small layers run a tile per few hundred multiply-adds, and
    /// setting up the output stage per row cost as much as the arithmetic.
    /// </summary>
    public static unsafe void RequantizeTile(int* tile, int tileStride, int rows, int columns, Int8GemmEpilogue epilogue, int n0, byte* output, long outputStride)
    {
        int vectors = Vector256.IsHardwareAccelerated ? columns / 8 : 0;
        float[] scales = epilogue.Scales!;
        int[]? intBias = epilogue.IntBias;
        Vector256<float>* multipliers = stackalloc Vector256<float>[Math.Max(1, vectors)];
        Vector256<int>* biases = stackalloc Vector256<int>[Math.Max(1, vectors)];
        for (int v = 0; v < vectors; v++)
        {
            multipliers[v] = Vector256.Create(scales.AsSpan(n0 + 8 * v, 8));
            biases[v] = intBias is null ? Vector256<int>.Zero : Vector256.Create(intBias.AsSpan(n0 + 8 * v, 8));
        }

        int zo = epilogue.OutputZeroPoint, min = epilogue.Min, max = epilogue.Max;
        var zero = Vector256.Create((float)zo);
        var lo = Vector256.Create((float)min);
        var hi = Vector256.Create((float)max);
        for (int r = 0; r < rows; r++)
        {
            int* acc = tile + (long)r * tileStride;
            byte* target = output + r * outputStride;
            for (int v = 0; v < vectors; v++)
            {
                var scaled = Vector256.ConvertToSingle(Vector256.Load(acc + 8 * v) + biases[v]) * multipliers[v];
                var values = Vector256.ConvertToInt32(Vector256.Min(Vector256.Max(Vector256.Round(scaled) + zero, lo), hi)).AsUInt32();
                // In range already: narrowing keeps the low bits, exact for u8 and s8 alike.
                var words = Vector128.Narrow(values.GetLower(), values.GetUpper());
                Unsafe.WriteUnaligned(target + 8 * v, Vector128.Narrow(words, words).AsUInt64().ToScalar());
            }

            for (int j = 8 * vectors; j < columns; j++)
                target[j] = (byte)Int8GemmReference.Requantize(acc[j], intBias is null ? 0 : intBias[n0 + j], scales[n0 + j], zo, min, max);
        }
    }

    /// <summary><c>y = (float)acc * scale + bias</c>; scale and bias have one entry per accumulator, or one for all.</summary>
    private static void WriteFloat(ReadOnlySpan<int> acc, ReadOnlySpan<float> scales, ReadOnlySpan<float> bias, Span<float> destination)
    {
        bool broadcast = scales.Length == 1 && acc.Length != 1;
        int j = 0;
        if (Vector.IsHardwareAccelerated)
        {
            ref int a = ref MemoryMarshal.GetReference(acc);
            ref float s = ref MemoryMarshal.GetReference(scales);
            ref float b = ref MemoryMarshal.GetReference(bias);
            ref float d = ref MemoryMarshal.GetReference(destination);
            for (; j <= acc.Length - Vector<int>.Count; j += Vector<int>.Count)
            {
                var y = Vector.ConvertToSingle(Vector.LoadUnsafe(ref a, (nuint)j)) * (broadcast ? new Vector<float>(s) : Vector.LoadUnsafe(ref s, (nuint)j));
                if (!bias.IsEmpty)
                    y += broadcast ? new Vector<float>(b) : Vector.LoadUnsafe(ref b, (nuint)j);
                y.StoreUnsafe(ref d, (nuint)j);
            }
        }

        for (; j < acc.Length; j++)
        {
            int c = broadcast ? 0 : j;
            destination[j] = Int8GemmReference.ToFloat(acc[j], scales[c], bias.IsEmpty ? 0f : bias[c]);
        }
    }

    /// <summary>Replaces each accumulator by its requantized value, within [Min, Max]; one channel for all when <paramref name="channels"/> is 1.</summary>
    private static void Requantize(Span<int> acc, Int8GemmEpilogue epilogue, int n0, int channels)
    {
        ReadOnlySpan<float> multipliers = epilogue.Scales!.AsSpan(n0, channels);
        ReadOnlySpan<int> bias = epilogue.IntBias is null ? default : epilogue.IntBias.AsSpan(n0, channels);
        bool broadcast = channels == 1 && acc.Length != 1;
        int zo = epilogue.OutputZeroPoint, min = epilogue.Min, max = epilogue.Max;
        int j = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var zero = new Vector<float>(zo);
            var lo = new Vector<float>(min);
            var hi = new Vector<float>(max);
            ref int a = ref MemoryMarshal.GetReference(acc);
            ref float mult = ref MemoryMarshal.GetReference(multipliers);
            ref int b = ref MemoryMarshal.GetReference(bias);
            for (; j <= acc.Length - Vector<int>.Count; j += Vector<int>.Count)
            {
                var sum = Vector.LoadUnsafe(ref a, (nuint)j);
                if (!bias.IsEmpty)
                    sum += broadcast ? new Vector<int>(b) : Vector.LoadUnsafe(ref b, (nuint)j);
                var scaled = Vector.ConvertToSingle(sum) * (broadcast ? new Vector<float>(mult) : Vector.LoadUnsafe(ref mult, (nuint)j));
                Vector.ConvertToInt32(Vector.Clamp(Vector.Round(scaled) + zero, lo, hi)).StoreUnsafe(ref a, (nuint)j);
            }
        }

        for (; j < acc.Length; j++)
        {
            int c = broadcast ? 0 : j;
            acc[j] = Int8GemmReference.Requantize(acc[j], bias.IsEmpty ? 0 : bias[c], multipliers[c], zo, min, max);
        }
    }

    /// <summary>
    /// Stores requantized values, already within the 8-bit range, as bytes: two rounds of lane-halving narrows,
    /// which keep the low bits and so are exact here, in blocks of 32 and then 8, then a scalar tail.
    /// </summary>
    private static unsafe void Narrow(ReadOnlySpan<int> values, byte* destination, bool signed)
    {
        int j = 0, step = 4 * Vector<int>.Count;
        if (Vector.IsHardwareAccelerated)
        {
            ref uint v = ref Unsafe.As<int, uint>(ref MemoryMarshal.GetReference(values));
            for (; j <= values.Length - step; j += step)
            {
                var low = Vector.Narrow(Vector.LoadUnsafe(ref v, (nuint)j), Vector.LoadUnsafe(ref v, (nuint)(j + Vector<int>.Count)));
                var high = Vector.Narrow(Vector.LoadUnsafe(ref v, (nuint)(j + 2 * Vector<int>.Count)), Vector.LoadUnsafe(ref v, (nuint)(j + 3 * Vector<int>.Count)));
                Vector.Narrow(low, high).Store(destination + j);
            }
        }

        // Narrow layers (16 or 24 channels, a row each) have no 32-value block: eight values at a time, as one 64-bit store.
        if (Vector128.IsHardwareAccelerated)
        {
            ref uint v = ref Unsafe.As<int, uint>(ref MemoryMarshal.GetReference(values));
            for (; j <= values.Length - 8; j += 8)
            {
                var words = Vector128.Narrow(Vector128.LoadUnsafe(ref v, (nuint)j), Vector128.LoadUnsafe(ref v, (nuint)(j + 4)));
                Unsafe.WriteUnaligned(destination + j, Vector128.Narrow(words, words).AsUInt64().ToScalar());
            }
        }

        for (; j < values.Length; j++)
            destination[j] = signed ? (byte)(sbyte)values[j] : (byte)values[j];
    }
}
