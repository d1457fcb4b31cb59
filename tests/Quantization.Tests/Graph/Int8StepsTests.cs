using Quantization.Graph;
using Quantization.Kernels.Elementwise;
using Xunit;

namespace Quantization.Tests.Graph;

/// <summary>
/// The fused INT8 steps of a quantized graph against a scalar reference: decode every code (dequantize, or look it up
/// in its channel's table), compute in FP32, quantize with ONNX rounding.
/// </summary>
public sealed class Int8StepsTests
{
    private static readonly QuantParams A = QuantParams.PerTensorAffine(0.05f, 120, QuantDType.QUInt8);
    private static readonly QuantParams B = QuantParams.PerTensorAffine(0.02f, 30, QuantDType.QUInt8);
    private static readonly QuantParams Output = QuantParams.PerTensorAffine(0.07f, 100, QuantDType.QUInt8);

    [Theory]
    [InlineData("Add", false, false)]
    [InlineData("Sub", true, false)]
    [InlineData("Mul", false, true)]
    [InlineData("Div", true, true)]
    public void Elementwise_of_equal_shapes_matches_the_reference(string op, bool tableA, bool tableB)
    {
        int[] shape = [2, 3, 7, 45];   // planes of 315 codes: chunks of 512 straddle planes
        var a = Operand(shape, A, 1, tableA);
        var b = Operand(shape, B, 2, tableB);
        var actual = Int8Steps.Binary(op, a, b, Output)!;
        Assert.Equal(Reference(op, a, b, shape, planeBroadcast: null), actual.AsUInt8Span().ToArray());
        Assert.Equal(shape, actual.Shape.ToArray());
    }

    // Planes of 630 codes go through a byte table per plane, planes of 20 element by element.
    [Theory]
    [InlineData("Mul", true, 70, true)]
    [InlineData("Mul", false, 70, true)]
    [InlineData("Mul", true, 70, false)]
    [InlineData("Sub", true, 70, true)]
    [InlineData("Div", false, 70, false)]
    [InlineData("Sub", false, 70, true)]
    [InlineData("Add", true, 70, false)]
    [InlineData("Div", true, 70, true)]
    [InlineData("Mul", true, 5, true)]
    [InlineData("Div", false, 5, false)]
    public void One_value_per_plane_broadcasts_in_either_operand(string op, bool planeSecond, int width, bool table)
    {
        int[] full = [2, 3, width == 70 ? 9 : 4, width], plane = [2, 3, 1, 1];
        var big = Operand(full, A, 3, table);
        var small = Operand(plane, B, 4, table: true);
        var actual = planeSecond ? Int8Steps.Binary(op, big, small, Output)! : Int8Steps.Binary(op, small, big, Output)!;
        var expected = planeSecond ? Reference(op, big, small, full, planeBroadcast: 2) : Reference(op, small, big, full, planeBroadcast: 1);
        Assert.Equal(expected, actual.AsUInt8Span().ToArray());
    }

    [Theory]
    [InlineData(1)]
    [InlineData(-1)]
    [InlineData(0)]
    public void Concat_requantizes_each_operand_as_the_float_kernel_would(int axis)
    {
        // Three operands: plain codes with other parameters, codes with the output's own parameters, and a table of one channel.
        int[] shape = [2, 3, 4, 5];
        var plain = Operand(shape, A, 11, table: false);
        var same = Operand(shape, Output, 12, table: false);
        var tabled = Operand([2, 3, 4, 5], B, 13, table: false);
        var values = Enumerable.Range(0, 256).Select(q => q * 0.03f - 2f).ToArray();
        tabled = tabled with { Function = new Int8Plan.LazyValue("t", values, 1, 0) };
        var operands = new[] { plain, same, tabled };

        var actual = Int8Steps.Concat(operands, axis, Output)!;

        // Reference: decode every operand, concatenate the floats along the axis, quantize.
        int at = axis < 0 ? axis + 4 : axis, outer = shape.Take(at).Aggregate(1, (p, d) => p * d), inner = shape.Skip(at).Aggregate(1, (p, d) => p * d);
        var expected = new List<byte>();
        for (int o = 0; o < outer; o++)
        {
            foreach (var x in operands)
            {
                var codes = x.Codes.AsUInt8Span().Slice(o * inner, inner).ToArray();
                expected.AddRange(codes.Select(c => (byte)QuantizeReference.Quantize(Decode(x, 0, 1, c), Output.Scale, Output.ZeroPoint, 0, 255, RoundingConvention.Onnx)));
            }
        }

        Assert.Equal(expected, actual.AsUInt8Span().ToArray());
        int[] outShape = [.. shape];
        outShape[at] *= 3;
        Assert.Equal(outShape, actual.Shape.ToArray());
    }

    [Fact]
    public void Concat_leaves_per_channel_tables_and_mismatched_shapes_to_the_float_kernel()
    {
        var a = Operand([1, 3, 4, 5], A, 14, table: false);
        Assert.Null(Int8Steps.Concat([a, Operand([1, 3, 4, 5], B, 15, table: true)], 1, Output));
        Assert.Null(Int8Steps.Concat([a, Operand([1, 3, 5, 5], B, 16, table: false)], 1, Output));
        Assert.Null(Int8Steps.Concat([a, a], 4, Output));
    }

    [Fact]
    public void Other_broadcasts_are_left_to_the_float_kernel()
    {
        var a = Operand([2, 3, 4, 5], A, 5, table: false);
        var row = Operand([1, 1, 1, 5], B, 6, table: false);
        Assert.Null(Int8Steps.Binary("Add", a, row, Output));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Global_average_pool_is_each_planes_mean(bool table)
    {
        int[] shape = [2, 3, 33, 40];
        var x = Operand(shape, A, 7, table);
        var actual = Int8Steps.GlobalAveragePool(x, Output).AsUInt8Span();
        int plane = 33 * 40;
        var codes = x.Codes.AsUInt8Span();
        for (int p = 0; p < 6; p++)
        {
            double sum = 0;
            for (int i = 0; i < plane; i++)
                sum += Decode(x, p * plane + i, plane, codes[p * plane + i]);
            int expected = QuantizeReference.Quantize((float)(sum / plane), Output.Scale, Output.ZeroPoint, 0, 255, RoundingConvention.Onnx);
            // Summed in lanes of floats (tables) or as integers (plain codes) rather than decoded into one double: a mean
            // on a rounding boundary may land one code away.
            Assert.InRange(actual[p], expected - 1, expected + 1);
        }
    }

    [Theory]
    [InlineData(1, 5)]
    [InlineData(2, 33)]
    [InlineData(3, 1320)]
    public void Global_average_pool_of_plain_codes_sums_them_exactly(int channels, int plane)
    {
        var rng = new Random(plane);
        var codes = new byte[channels * plane];
        rng.NextBytes(codes);
        var qparams = QuantParams.PerTensorAffine(0.05f, 100, QuantDType.QUInt8);
        var x = new Int8Steps.Operand(QuantizedTensor.Wrap(codes, [1, channels, 1, plane], qparams), null);
        var actual = Int8Steps.GlobalAveragePool(x, Output).AsUInt8Span();
        for (int c = 0; c < channels; c++)
        {
            long sum = codes.Skip(c * plane).Take(plane).Sum(b => (long)b);
            double mean = 0.05f * ((double)sum / plane - 100);
            Assert.Equal(QuantizeReference.Quantize((float)mean, Output.Scale, Output.ZeroPoint, 0, 255, RoundingConvention.Onnx), actual[c]);
        }
    }

    [Fact]
    public void A_per_channel_table_rejects_a_shape_without_its_channels()
    {
        var x = Operand([2, 4, 3, 3], A, 8, table: false);
        var fiveChannels = new Int8Steps.Operand(x.Codes, new Int8Plan.LazyValue("x", new float[5 * 256], 5, 3));
        Assert.Throws<InvalidOperationException>(() => Int8Steps.GlobalAveragePool(fiveChannels, Output));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(63)]
    [InlineData(64)]
    [InlineData(1000)]
    public void Byte_lookup_matches_indexing_the_table(int length)
    {
        var rng = new Random(length);
        var table = new byte[256];
        var codes = new byte[length];
        rng.NextBytes(table);
        rng.NextBytes(codes);
        codes.AsSpan(0, Math.Min(length, 4)).Fill(255);
        var actual = new byte[length];
        ByteLookup.Apply(table, codes, actual);
        Assert.Equal(codes.Select(c => table[c]).ToArray(), actual);
    }

    [Theory]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(333)]
    public void Float_lookup_matches_indexing_the_table(int length)
    {
        var rng = new Random(length);
        var table = Enumerable.Range(0, 256).Select(_ => (float)rng.NextDouble()).ToArray();
        var codes = new byte[length];
        rng.NextBytes(codes);
        codes[0] = 255;
        var actual = new float[length];
        ByteLookup.Apply(table, codes, actual);
        Assert.Equal(codes.Select(c => table[c]).ToArray(), actual);
    }

    /// <summary>Random codes; with <paramref name="table"/>, read through a table per channel (axis third from the end).</summary>
    private static Int8Steps.Operand Operand(int[] shape, QuantParams qparams, int seed, bool table)
    {
        var rng = new Random(seed);
        int length = shape.Aggregate(1, (p, d) => p * d);
        var codes = new byte[length];
        rng.NextBytes(codes);
        var tensor = QuantizedTensor.FromIntRepr(codes.Select(c => (int)c).ToArray(), shape, qparams);
        if (!table)
            return new Int8Steps.Operand(tensor, null);
        int channels = shape[^3];
        var values = Enumerable.Range(0, channels * 256).Select(_ => (float)(rng.NextDouble() * 6 - 2)).ToArray();
        return new Int8Steps.Operand(tensor, new Int8Plan.LazyValue("x", values, channels, 3));
    }

    private static float Decode(Int8Steps.Operand x, int index, int plane, byte code) =>
        x.Function is { } f
            ? f.Table[index / plane % f.Channels * 256 + code]
            : QuantizeReference.Dequantize(code, x.Codes.QParams.Scale, x.Codes.QParams.ZeroPoint);

    /// <summary>The op per element; <paramref name="planeBroadcast"/> names the operand (1 or 2) that holds one value per plane.</summary>
    private static byte[] Reference(string op, Int8Steps.Operand a, Int8Steps.Operand b, int[] shape, int? planeBroadcast)
    {
        int plane = shape[^1] * shape[^2];
        int length = shape.Aggregate(1, (p, d) => p * d);
        var ca = a.Codes.AsUInt8Span();
        var cb = b.Codes.AsUInt8Span();
        var result = new byte[length];
        for (int i = 0; i < length; i++)
        {
            int ia = planeBroadcast == 1 ? i / plane : i, ib = planeBroadcast == 2 ? i / plane : i;
            float x = Decode(a, ia, planeBroadcast == 1 ? 1 : plane, ca[ia]);
            float y = Decode(b, ib, planeBroadcast == 2 ? 1 : plane, cb[ib]);
            float r = op switch { "Add" => x + y, "Sub" => x - y, "Mul" => x * y, _ => x / y };
            result[i] = (byte)QuantizeReference.Quantize(r, Output.Scale, Output.ZeroPoint, 0, 255, RoundingConvention.Onnx);
        }

        return result;
    }
}
