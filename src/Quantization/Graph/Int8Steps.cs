using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Quantization.Kernels.Elementwise;
using Quantization.Kernels.Threading;

namespace Quantization.Graph;

/// <summary>
/// Fused kernels for the <see cref="Int8Plan.StepKind.Compute"/> steps that dominate quantized CNNs: elementwise
/// Add/Sub/Mul/Div of two quantized values (a residual sum, a squeeze-and-excitation scale), GlobalAveragePool and Concat.
/// They decode codes to floats in short chunks that stay in L1 (or, per plane, combine the 256 code values into a table
/// or a sum), compute as the FP32 kernel does, and quantize, instead of decoding whole tensors. Each operand is a value's codes read either as dequantized values or
/// through a table (<see cref="Int8Plan.LazyValue"/>).
/// </summary>
internal static class Int8Steps
{
    private const int Chunk = 512;

    /// <summary>Chunks per parallel task of an elementwise step.</summary>
    private const int ChunksPerTask = 32;

    /// <summary>A quantized value's codes and how to read them: dequantized, or through <paramref name="Function"/>.</summary>
    internal readonly record struct Operand(QuantizedTensor Codes, Int8Plan.LazyValue? Function);

    /// <summary>
    /// The binary op on operands of equal shape, or where one is the other's shape with its last two axes of length 1
    /// (one value per plane), quantized with <paramref name="output"/>; null for other shapes.
    /// </summary>
    public static QuantizedTensor? Binary(string op, Operand a, Operand b, QuantParams output)
    {
        var sa = a.Codes.Shape;
        var sb = b.Codes.Shape;
        if (sa.SequenceEqual(sb))
            return Elementwise(op, a, b, output);
        if (IsPerPlane(sb, sa))
            return PlaneBroadcast(op, a, b, bIsPlane: true, output);
        if (IsPerPlane(sa, sb))
            return PlaneBroadcast(op, b, a, bIsPlane: false, output);
        return null;
    }

    /// <summary>
    /// GlobalAveragePool of a rank 3+ operand: the mean of each plane, quantized with <paramref name="output"/>. Plain
    /// codes are summed as integers (exact, 32 per instruction); codes read through a lazy function are summed through
    /// the table of their 256 values (gathers into lanes of float sums), without decoding them into a buffer first.
    /// </summary>
    public static QuantizedTensor GlobalAveragePool(Operand x, QuantParams output)
    {
        var shape = x.Codes.Shape;
        if (shape.Length < 3)
            throw new ArgumentException($"GlobalAveragePool needs an input of rank 3 or more, not {Tensor.FormatShape(shape)}.");
        int planes = shape[0] * shape[1];
        int size = x.Codes.Length / planes;
        var means = new float[planes];
        var codes = x.Codes.AsUInt8Span();
        int planeSize = x.Function is { Channels: > 1 } function ? Int8Plan.PlaneSize(shape, function) : size;
        Span<float> values = stackalloc float[256];
        int channel = -1;
        for (int p = 0; p < planes; p++)
        {
            if (x.Function is null)
            {
                // Plain codes: the mean of scale · (q - zp) from the exact integer sum of the codes, as ONNX Runtime's
                // QLinearGlobalAveragePool sums them.
                var qparams = x.Codes.QParams;
                means[p] = (float)(qparams.Scale * ((double)SumCodes(codes.Slice(p * size, size)) / size - qparams.ZeroPoint));
                continue;
            }

            // A lazy value's codes: each read from the table of its 256 values, summed straight from it.
            int c = x.Function is { Channels: > 1 } f ? p * size / planeSize % f.Channels : 0;
            if (c != channel)
            {
                CodeValues(x, c, values);
                channel = c;
            }

            means[p] = (float)(SumThroughTable(values, codes.Slice(p * size, size)) / size);
        }

        int[] outShape = [.. shape];
        outShape.AsSpan(2).Fill(1);
        return Encode(means, outShape, output);
    }

    /// <summary>
    /// Concat of operands along <paramref name="axis"/>, quantized with <paramref name="output"/>: every output code is a
    /// function of one input code, so each operand goes through a byte table of its 256 codes (decoded, then quantized
    /// as the float kernel's result would be). Null when an operand reads a table per channel or the shapes do not
    /// concatenate (the float kernel then runs, and reports a bad graph).
    /// </summary>
    public static QuantizedTensor? Concat(IReadOnlyList<Operand> inputs, long axis, QuantParams output)
    {
        var first = inputs[0].Codes.Shape;
        int rank = first.Length, at = (int)(axis < 0 ? axis + rank : axis);
        if (at < 0 || at >= rank || inputs.Any(x => x.Function is { Channels: > 1 }))
            return null;
        int[] shape = [.. first];
        shape[at] = 0;
        foreach (var x in inputs)
        {
            var s = x.Codes.Shape;
            for (int d = 0; d < rank; d++)
            {
                if (s.Length != rank || d != at && s[d] != first[d])
                    return null;
            }

            shape[at] += s[at];
        }

        int outer = 1;
        for (int d = 0; d < at; d++)
            outer *= first[d];
        int length = Tensor.CheckedLength(shape, "shape"), run = length / Math.Max(1, outer), offset = 0;
        var codes = TensorArena.RentBytes(length);
        Span<float> values = stackalloc float[256];
        Span<byte> table = stackalloc byte[256];
        foreach (var x in inputs)
        {
            CodeValues(x, 0, values);
            QuantizeKernels.QuantizeToUInt8(values, output.Scale, output.ZeroPoint, 0, 255, RoundingConvention.Onnx, table);
            var source = x.Codes.AsUInt8Span();
            int inner = source.Length / Math.Max(1, outer);
            for (int o = 0; o < outer; o++)
                ByteLookup.Apply(table, source.Slice(o * inner, inner), codes.AsSpan(o * run + offset, inner));
            offset += inner;
        }

        return QuantizedTensor.Wrap(codes, shape, output);
    }

    private static QuantizedTensor Elementwise(string op, Operand a, Operand b, QuantParams output)
    {
        int length = a.Codes.Length;
        // A table with channels changes every plane: chunks must not straddle planes then.
        int run = a.Function is { Channels: > 1 } fa ? Int8Plan.PlaneSize(a.Codes.Shape, fa)
            : b.Function is { Channels: > 1 } fb ? Int8Plan.PlaneSize(b.Codes.Shape, fb) : length;
        var codes = TensorArena.RentBytes(length);
        // Tasks of whole runs (planes), or of blocks of chunks when there is one run; every element is computed alone,
        // so the split does not change a code.
        int block = run < length ? run : Chunk * ChunksPerTask;
        KernelParallel.For((length + block - 1) / block, (long)length * 4, task =>
        {
            Span<float> x = stackalloc float[Chunk];
            Span<float> y = stackalloc float[Chunk];
            int end = Math.Min(length, (task + 1) * block);
            for (int start = task * block; start < end; start += Chunk)
            {
                int n = Math.Min(Chunk, end - start);
                Decode(a, start, x[..n]);
                Decode(b, start, y[..n]);
                Apply(op, x[..n], y[..n]);
                QuantizeKernels.QuantizeToUInt8(x[..n], output.Scale, output.ZeroPoint, 0, 255, RoundingConvention.Onnx, codes.AsSpan(start, n));
            }
        });

        return QuantizedTensor.Wrap(codes, a.Codes.Shape.ToArray(), output);
    }

    /// <summary><paramref name="plane"/> holds one value per plane of <paramref name="full"/>; <paramref name="bIsPlane"/> says which operand it is.</summary>
    private static QuantizedTensor PlaneBroadcast(string op, Operand full, Operand plane, bool bIsPlane, QuantParams output)
    {
        int planes = plane.Codes.Length;
        int size = full.Codes.Length / planes;
        var factors = new float[planes];
        // One by one: with a per-channel table every element is a plane of its own.
        for (int p = 0; p < planes; p++)
            Decode(plane, p, factors.AsSpan(p, 1));
        var codes = TensorArena.RentBytes(full.Codes.Length);
        if (size >= MinTablePlane)
        {
            PlaneTables(op, full, factors, size, bIsPlane, output, codes);
            return QuantizedTensor.Wrap(codes, full.Codes.Shape.ToArray(), output);
        }

        Span<float> x = stackalloc float[Chunk];
        for (int p = 0; p < planes; p++)
        {
            for (int start = 0; start < size; start += Chunk)
            {
                int n = Math.Min(Chunk, size - start);
                int offset = p * size + start;
                Decode(full, offset, x[..n]);
                ApplyScalar(op, x[..n], factors[p], bIsPlane, x[..n]);
                QuantizeKernels.QuantizeToUInt8(x[..n], output.Scale, output.ZeroPoint, 0, 255, RoundingConvention.Onnx, codes.AsSpan(offset, n));
            }
        }

        return QuantizedTensor.Wrap(codes, full.Codes.Shape.ToArray(), output);
    }

    /// <summary>Planes at least this long go through a byte table of their own instead of decoding every code.</summary>
    private const int MinTablePlane = 128;

    /// <summary>
    /// <see cref="PlaneBroadcast"/> by tables: within a plane the result is a function of the code alone, so the 256
    /// possible codes are decoded, combined with the plane's factor and quantized, exactly as element by element, and the
    /// plane's codes are looked up (a squeeze-and-excitation scale over 160×160 planes: one lookup per code instead of a
    /// decode, a multiply and a quantize).
    /// </summary>
    private static void PlaneTables(string op, Operand full, float[] factors, int size, bool bIsPlane, QuantParams output, byte[] codes)
    {
        Span<float> grid = stackalloc float[256];
        Span<float> values = stackalloc float[256];
        Span<byte> table = stackalloc byte[256];
        var source = full.Codes.AsUInt8Span();
        int channel = -1;
        for (int p = 0; p < factors.Length; p++)
        {
            int c = full.Function is { Channels: > 1 } function ? p * size / Int8Plan.PlaneSize(full.Codes.Shape, function) % function.Channels : 0;
            if (c != channel)
            {
                CodeValues(full, c, grid);
                channel = c;
            }

            ApplyScalar(op, grid, factors[p], bIsPlane, values);
            QuantizeKernels.QuantizeToUInt8(values, output.Scale, output.ZeroPoint, 0, 255, RoundingConvention.Onnx, table);
            ByteLookup.Apply(table, source.Slice(p * size, size), codes.AsSpan(p * size, size));
        }
    }

    /// <summary>
    /// <c>destination = x op factor</c> (or <c>factor op x</c> when <paramref name="factorSecond"/> is false) with the
    /// factor as a scalar: the values of <see cref="Apply"/> on a filled span, one pass instead of two.
    /// </summary>
    private static void ApplyScalar(string op, ReadOnlySpan<float> x, float factor, bool factorSecond, Span<float> destination)
    {
        switch (op)
        {
            case "Add":
                TensorPrimitives.Add(x, factor, destination);
                break;
            case "Sub" when factorSecond:
                TensorPrimitives.Subtract(x, factor, destination);
                break;
            case "Sub":
                TensorPrimitives.Subtract(factor, x, destination);
                break;
            case "Mul":
                TensorPrimitives.Multiply(x, factor, destination);
                break;
            case "Div" when factorSecond:
                TensorPrimitives.Divide(x, factor, destination);
                break;
            default:
                TensorPrimitives.Divide(factor, x, destination);
                break;
        }
    }

    /// <summary>The sum of <paramref name="codes"/>: 32 at a time by <c>vpsadbw</c> against zero where AVX2 has it.</summary>
    private static long SumCodes(ReadOnlySpan<byte> codes)
    {
        int i = 0;
        long sum = 0;
        if (Avx2.IsSupported)
        {
            var partial = Vector256<ulong>.Zero;
            for (; i + Vector256<byte>.Count <= codes.Length; i += Vector256<byte>.Count)
                partial += Avx2.SumAbsoluteDifferences(Vector256.Create(codes.Slice(i, Vector256<byte>.Count)), Vector256<byte>.Zero).AsUInt64();
            sum = (long)Vector256.Sum(partial);
        }

        for (; i < codes.Length; i++)
            sum += codes[i];
        return sum;
    }

    /// <summary>
    /// <c>Σ table[codes[i]]</c>: eight lanes of float sums by gathers where AVX2 has them, each lane's sum and the lanes
    /// added in double (the mean's sum, like the float kernel's, is in double).
    /// </summary>
    private static unsafe double SumThroughTable(ReadOnlySpan<float> table, ReadOnlySpan<byte> codes)
    {
        int i = 0;
        double sum = 0;
        if (Avx2.IsSupported && codes.Length >= 2 * Vector256<float>.Count)
        {
            var s0 = Vector256<float>.Zero;
            var s1 = Vector256<float>.Zero;
            fixed (float* t = table)
            fixed (byte* c = codes)
            {
                for (; i + 2 * Vector256<float>.Count <= codes.Length; i += 2 * Vector256<float>.Count)
                {
                    s0 += Avx2.GatherVector256(t, Avx2.ConvertToVector256Int32(c + i), sizeof(float));
                    s1 += Avx2.GatherVector256(t, Avx2.ConvertToVector256Int32(c + i + Vector256<float>.Count), sizeof(float));
                }
            }

            for (int lane = 0; lane < Vector256<float>.Count; lane++)
                sum += (double)s0.GetElement(lane) + s1.GetElement(lane);
        }

        for (; i < codes.Length; i++)
            sum += table[codes[i]];
        return sum;
    }

    /// <summary>Every code 0-255 in order: the input of a table over all codes.</summary>
    internal static ReadOnlySpan<byte> AllCodes =>
    [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
        32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
        64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95,
        96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127,
        128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143, 144, 145, 146, 147, 148, 149, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159,
        160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 173, 174, 175, 176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191,
        192, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223,
        224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255,
    ];

    /// <summary>The real values of all 256 codes of <paramref name="x"/> in <paramref name="channel"/>: its table's, or the codes dequantized.</summary>
    private static void CodeValues(Operand x, int channel, Span<float> values)
    {
        if (x.Function is { } function)
            function.Table.AsSpan(channel * 256, 256).CopyTo(values);
        else
            QuantizeKernels.DequantizeUInt8(AllCodes, x.Codes.QParams.Scale, x.Codes.QParams.ZeroPoint, values);
    }

    /// <summary><paramref name="x"/> = x op y, elementwise in FP32 as the float kernels compute it.</summary>
    private static void Apply(string op, Span<float> x, ReadOnlySpan<float> y)
    {
        switch (op)
        {
            case "Add":
                TensorPrimitives.Add(x, y, x);
                break;
            case "Sub":
                TensorPrimitives.Subtract(x, y, x);
                break;
            case "Mul":
                TensorPrimitives.Multiply(x, y, x);
                break;
            default:
                TensorPrimitives.Divide(x, y, x);
                break;
        }
    }

    /// <summary>The real values of elements [start, start + destination.Length) of <paramref name="x"/>, which lie in one plane when a table has channels.</summary>
    private static void Decode(Operand x, int start, Span<float> destination)
    {
        var codes = x.Codes.AsUInt8Span().Slice(start, destination.Length);
        if (x.Function is not { } function)
        {
            QuantizeKernels.DequantizeUInt8(codes, x.Codes.QParams.Scale, x.Codes.QParams.ZeroPoint, destination);
            return;
        }

        int channel = function.Channels == 1 ? 0 : start / Int8Plan.PlaneSize(x.Codes.Shape, function) % function.Channels;
        ByteLookup.Apply(function.Table.AsSpan(channel * 256, 256), codes, destination);
    }

    private static QuantizedTensor Encode(float[] values, int[] shape, QuantParams output)
    {
        var codes = TensorArena.RentBytes(values.Length);
        QuantizeKernels.QuantizeToUInt8(values, output.Scale, output.ZeroPoint, 0, 255, RoundingConvention.Onnx, codes);
        return QuantizedTensor.Wrap(codes, shape, output);
    }

    /// <summary>Whether <paramref name="plane"/> is <paramref name="full"/> (rank 3+) with its last two axes 1.</summary>
    private static bool IsPerPlane(ReadOnlySpan<int> plane, ReadOnlySpan<int> full) =>
        full.Length >= 3 && plane.Length == full.Length && plane[..^2].SequenceEqual(full[..^2]) && plane[^1] == 1 && plane[^2] == 1;
}
