using System.Numerics;
using Quantization.Kernels.Quantized;
using Xunit;

namespace Quantization.Tests.Kernels.Quantized;

/// <summary>
/// Requantize, Add, Mul, the activations and Concat: golden values worked out by hand from PyTorch's formulas, and
/// the vectorized kernels against <see cref="QuantizedOpsReference"/>, element by element.
/// </summary>
public class QuantizedElementwiseTests
{
    private const int Seed = 20261123;

    // Every length from 0 to four of the widest vectors plus one, so each loop and tail is crossed.
    public static TheoryData<int> Lengths()
    {
        var data = new TheoryData<int>();
        for (int n = 0; n <= 4 * Vector<byte>.Count + 1; n++)
            data.Add(n);
        return data;
    }

    // (scale, zero point) pairs: round and awkward scales, zero points at both extremes and in the middle.
    private static readonly (float Scale, int Zp)[] Params =
    [
        (1f, 0), (0.5f, 128), (0.0123f, 255), (0.1f, 3), (0.00390625f, 0), (2.7e-3f, 200), (17.5f, 77), (1e-4f, 128),
    ];

    [Fact]
    public void Requantize_golden_values()
    {
        // x = 0.5 (q - 128) -> -64, 0, 63.5, 1, -1; times 1 / 0.25 = 4 -> -256, 0, 254, 4, -4; + 100, clamped.
        AssertRequantize([0, 128, 255, 130, 126], 0.5f, 128, 0.25f, 100, [0, 100, 255, 104, 96]);
        // x / 2 = 0.5, 1.5, 2.5, 127.5 are ties: half to even gives 0, 2, 2, 128.
        AssertRequantize([1, 3, 5, 255], 1f, 0, 2f, 0, [0, 2, 2, 128]);
        // Zero points at the extremes saturate: x = q - 255 <= 0 -> 0; x = q >= 0 with zp 255 -> 255.
        AssertRequantize([255, 0, 100], 1f, 255, 1f, 0, [0, 0, 0]);
        AssertRequantize([0, 1, 255], 1f, 0, 1f, 255, [255, 255, 255]);
        // DESIGN.md's tie: x = 0.273939937f (q - zp = 1) times the float reciprocal of 0.00214854861f is exactly 127.5
        // -> 128; true division would give 127.49999 -> 127.
        AssertRequantize([11], 0.273939937f, 10, 0.00214854861f, 0, [128]);
    }

    [Fact]
    public void Requantize_with_equal_parameters_is_the_identity()
    {
        var x = Enumerable.Range(0, 256).Select(i => (byte)i).ToArray();
        foreach (var (scale, zp) in Params)
        {
            var expected = new byte[256];
            QuantizedOpsReference.Requantize(x, scale, zp, scale, zp, expected);
            Assert.Equal(x, expected);
        }
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Requantize_matches_reference(int length)
    {
        var rng = new Random(Seed + length);
        var x = RandomBytes(rng, length);
        foreach (var (xs, xz) in Params)
        {
            foreach (var (ys, yz) in Params)
            {
                var expected = new byte[length];
                var actual = new byte[length];
                QuantizedOpsReference.Requantize(x, xs, xz, ys, yz, expected);
                QuantizedOps.Requantize(x, xs, xz, ys, yz, actual);
                AssertBytes(expected, actual, $"requantize ({xs}, {xz}) -> ({ys}, {yz})");
                var inPlace = (byte[])x.Clone();
                QuantizedOps.Requantize(inPlace, xs, xz, ys, yz, inPlace);
                AssertBytes(expected, inPlace, "in place");
            }
        }
    }

    [Fact]
    public void Add_golden_values()
    {
        // 0.5 a + 0.25 b: 0.5, 1.5, 1.5, 2.5 are ties -> 0, 2, 2, 2; plus 10.
        AssertAdd([1, 3, 1, 5], 0.5f, 0, [0, 0, 4, 0], 0.25f, 0, 1f, 10, relu: false, [10, 12, 12, 12]);
        // Saturation at both ends: 255 + 255 = 510 -> 255; (0 - 255) + 0 -> 0.
        AssertAdd([255, 0], 1f, 0, [255, 0], 1f, 0, 1f, 0, relu: false, [255, 0]);
        AssertAdd([0], 1f, 255, [0], 1f, 0, 1f, 0, relu: false, [0]);
        // (a - 128) + b = -128, -28 -> plus 50 gives 0 (clamped) and 22; with ReLU both sums become 0 -> 50.
        AssertAdd([0, 100], 1f, 128, [0, 0], 1f, 0, 1f, 50, relu: false, [0, 22]);
        AssertAdd([0, 100], 1f, 128, [0, 0], 1f, 0, 1f, 50, relu: true, [50, 50]);
        // The same tie through Add: 0.273939937f + 0 quantized with 0.00214854861f -> 127.5 -> 128.
        AssertAdd([1], 0.273939937f, 0, [7], 0.5f, 7, 0.00214854861f, 0, relu: true, [128]);
        // 0.1f * 10 rounds to exactly 1f in float; 1 / 0.05f rounds to 20f: 1 * 20 = 20.
        AssertAdd([128], 0.1f, 128, [138], 0.1f, 128, 0.05f, 0, relu: false, [20]);
    }

    [Fact]
    public void Mul_golden_values()
    {
        // Multiplier 0.5 * 0.5 * (1 / 0.25) = 1: (130-128)(131-128) = 6 -> 134; -6 -> 122; 127 * 127 -> 255; -128 * 127 -> 0.
        AssertMul([130, 126, 255, 0], 0.5f, 128, [131, 131, 255, 255], 0.5f, 128, 0.25f, 128, relu: false, [134, 122, 255, 0]);
        // ReLU raises the requantized result to the zero point: 122 -> 128.
        AssertMul([130, 126], 0.5f, 128, [131, 131], 0.5f, 128, 0.25f, 128, relu: true, [134, 128]);
        // Multiplier 1 * 1 * 0.5: products 1, 3, 5, 7 give ties 0.5, 1.5, 2.5, 3.5 -> 0, 2, 2, 4.
        AssertMul([1, 1, 5, 7], 1f, 0, [1, 3, 1, 1], 1f, 0, 2f, 0, relu: false, [0, 2, 2, 4]);
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Add_and_mul_match_reference(int length)
    {
        var rng = new Random(Seed * 3 + length);
        var a = RandomBytes(rng, length);
        var b = RandomBytes(rng, length);
        foreach (var (aScale, aZp) in Params)
        {
            var (bScale, bZp) = Params[rng.Next(Params.Length)];
            foreach (var (yScale, yZp) in Params)
            {
                foreach (bool relu in new[] { false, true })
                {
                    var expected = new byte[length];
                    var actual = new byte[length];
                    QuantizedOpsReference.Add(a, aScale, aZp, b, bScale, bZp, yScale, yZp, relu, expected);
                    QuantizedOps.Add(a, aScale, aZp, b, bScale, bZp, yScale, yZp, relu, actual);
                    AssertBytes(expected, actual, $"add a ({aScale}, {aZp}) b ({bScale}, {bZp}) y ({yScale}, {yZp}) relu {relu}");
                    QuantizedOpsReference.Mul(a, aScale, aZp, b, bScale, bZp, yScale, yZp, relu, expected);
                    QuantizedOps.Mul(a, aScale, aZp, b, bScale, bZp, yScale, yZp, relu, actual);
                    AssertBytes(expected, actual, $"mul a ({aScale}, {aZp}) b ({bScale}, {bZp}) y ({yScale}, {yZp}) relu {relu}");
                }
            }
        }
    }

    [Fact]
    public void Relu_and_relu6_golden_values()
    {
        byte[] x = [0, 127, 128, 129, 255];
        AssertUnary(x, y => QuantizedOps.Relu(x, 128, y), [128, 128, 128, 129, 255]);
        AssertUnary(x, y => QuantizedOps.Relu(x, 0, y), x);
        AssertUnary(x, y => QuantizedOps.Relu(x, 255, y), [255, 255, 255, 255, 255]);
        // quantize(6) = 10 + round(6 * (1 / 0.05f)) = 10 + 6 * 20 = 130.
        byte[] x6 = [0, 10, 50, 130, 131, 255];
        AssertUnary(x6, y => QuantizedOps.Relu6(x6, 0.05f, 10, y), [10, 10, 50, 130, 130, 130]);
        // quantize(6) = 200 + 6 * 100 saturates to 255, so only the lower clamp acts.
        byte[] x7 = [0, 199, 200, 255];
        AssertUnary(x7, y => QuantizedOps.Relu6(x7, 0.01f, 200, y), [200, 200, 200, 255]);
    }

    [Fact]
    public void Hardswish_hardsigmoid_sigmoid_golden_values()
    {
        // Input scale 1/8, zero point 64: q = 0, 40, 56, 64, 72, 88, 255 are x = -8, -3, -1, 0, 1, 3, 23.875.
        byte[] x = [0, 40, 56, 64, 72, 88, 255];
        // hardswish x * clamp(x + 3, 0, 6) / 6 = 0, 0, -1/3, 0, 2/3, 3, 23.875; times 8 = 0, 0, -2.67, 0, 5.33, 24, 191;
        // rounded and plus 64.
        AssertUnary(x, y => QuantizedOps.Hardswish(x, 0.125f, 64, 0.125f, 64, y), [64, 64, 61, 64, 69, 88, 255]);
        // hardsigmoid clamp(x + 3, 0, 6) / 6 = 0, 0, 1/3, 1/2, 2/3, 1, 1; times 256 = 0, 0, 85.33, 128, 170.67, 256 (saturates).
        AssertUnary(x, y => QuantizedOps.Hardsigmoid(x, 0.125f, 64, y), [0, 0, 85, 128, 171, 255, 255]);
        // sigmoid = 3.4e-4, 0.0474, 0.2689, 0.5, 0.7311, 0.9526, 1; times 256 = 0.09, 12.14, 68.85, 128, 187.15, 243.86, 256.
        AssertUnary(x, y => QuantizedOps.Sigmoid(x, 0.125f, 64, y), [0, 12, 69, 128, 187, 244, 255]);
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Activations_match_reference(int length)
    {
        var rng = new Random(Seed * 5 + length);
        var x = RandomBytes(rng, length);
        foreach (var (xs, xz) in Params)
        {
            var (ys, yz) = Params[rng.Next(Params.Length)];
            Check(y => QuantizedOps.Relu(x, xz, y), i => (byte)Math.Max(x[i], xz), "relu");
            var expected = new byte[length];
            QuantizedOpsReference.Relu6(x, xs, xz, expected);
            Check(y => QuantizedOps.Relu6(x, xs, xz, y), i => expected[i], "relu6");
            Check(y => QuantizedOps.Hardswish(x, xs, xz, ys, yz, y), i => QuantizedOpsReference.Hardswish(x[i], xs, xz, ys, yz), "hardswish");
            Check(y => QuantizedOps.Hardsigmoid(x, xs, xz, y), i => QuantizedOpsReference.Hardsigmoid(x[i], xs, xz), "hardsigmoid");
            Check(y => QuantizedOps.Sigmoid(x, xs, xz, y), i => QuantizedOpsReference.Sigmoid(x[i], xs, xz), "sigmoid");
        }

        void Check(Action<byte[]> run, Func<int, byte> reference, string op)
        {
            var actual = new byte[length];
            run(actual);
            for (int i = 0; i < length; i++)
                Assert.True(reference(i) == actual[i], $"{op}: element {i} (q = {x[i]}): expected {reference(i)}, got {actual[i]}");
        }
    }

    [Fact]
    public void Concat_requantizes_each_input_into_its_slices()
    {
        // b dequantizes to 2 (5 - 3) = 4 and 2 (6 - 3) = 6; the output has scale 1, zero point 0.
        (byte[], int[], float, int) a = ([10, 20, 30, 40], [1, 2, 2], 1f, 0);
        (byte[], int[], float, int) b1 = ([5, 6], [1, 1, 2], 2f, 3);
        Assert.Equal([1, 3, 2], QuantizedOps.ConcatShape([a, b1], 1));
        var y = new byte[6];
        QuantizedOps.Concat([a, b1], 1, 1f, 0, y);
        Assert.Equal([10, 20, 30, 40, 4, 6], y);

        (byte[], int[], float, int) b2 = ([5, 6], [1, 2, 1], 2f, 3);
        QuantizedOps.Concat([a, b2], 2, 1f, 0, y);
        Assert.Equal([10, 20, 4, 30, 40, 6], y);
    }

    [Fact]
    public void Concat_matches_per_input_reference_requantize()
    {
        var rng = new Random(Seed * 7);
        int[][] shapes = [[2, 3, 5, 7], [2, 1, 5, 7], [2, 4, 5, 7]];
        var inputs = shapes.Select((s, i) => (RandomBytes(rng, s.Aggregate(1, (p, d) => p * d)), s, Params[i + 2].Scale, Params[i + 2].Zp)).ToArray();
        var y = new byte[2 * 8 * 35];
        QuantizedOps.Concat(inputs, 1, 0.02f, 130, y);
        int offset = 0;
        for (int n = 0; n < 2; n++)
        {
            foreach (var (data, shape, scale, zp) in inputs)
            {
                int block = shape[1] * 35;
                var expected = new byte[block];
                QuantizedOpsReference.Requantize(data.AsSpan(n * block, block), scale, zp, 0.02f, 130, expected);
                AssertBytes(expected, y.AsSpan(offset, block).ToArray(), $"batch {n}");
                offset += block;
            }
        }
    }

    [Fact]
    public void Arguments_are_validated()
    {
        var x = new byte[4];
        var y = new byte[4];
        Assert.Equal("xScale", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.Requantize(x, 0f, 0, 1f, 0, y)).ParamName);
        Assert.Equal("yScale", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.Requantize(x, 1f, 0, float.NaN, 0, y)).ParamName);
        Assert.Equal("yScale", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.Requantize(x, 1f, 0, float.Epsilon, 0, y)).ParamName);
        Assert.Equal("xZp", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.Requantize(x, 1f, 256, 1f, 0, y)).ParamName);
        Assert.Equal("yZp", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.Requantize(x, 1f, 0, 1f, -1, y)).ParamName);
        Assert.Equal("y", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.Requantize(x, 1f, 0, 1f, 0, new byte[3])).ParamName);
        Assert.Equal("b", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.Add(x, 1f, 0, new byte[5], 1f, 0, 1f, 0, false, y)).ParamName);
        Assert.Equal("bScale", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.Mul(x, 1f, 0, x, -1f, 0, 1f, 0, false, y)).ParamName);
        Assert.Equal("yScale", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.Mul(x, 1e30f, 0, x, 1e30f, 0, 1e-30f, 0, false, y)).ParamName);
        Assert.Equal("zeroPoint", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.Relu(x, 300, y)).ParamName);
        Assert.Equal("scale", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.Relu6(x, float.PositiveInfinity, 0, y)).ParamName);
        Assert.Equal("y", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.Sigmoid(x, 1f, 0, new byte[5])).ParamName);
        (byte[], int[], float, int) a = (new byte[4], [2, 2], 1f, 0);
        (byte[], int[], float, int) wrongRank = (new byte[4], [4], 1f, 0);
        (byte[], int[], float, int) wrongLength = (new byte[3], [1, 2], 1f, 0);
        Assert.Equal("axis", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.ConcatShape([a], 2)).ParamName);
        Assert.Equal("inputs", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.ConcatShape([a, wrongRank], 0)).ParamName);
        Assert.Equal("inputs", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.Concat([a, wrongLength], 0, 1f, 0, new byte[6])).ParamName);
        Assert.Equal("y", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.Concat([a, a], 0, 1f, 0, new byte[7])).ParamName);
    }

    private static byte[] RandomBytes(Random rng, int length)
    {
        var bytes = new byte[length];
        rng.NextBytes(bytes);
        // Plant the extremes so saturation is always exercised.
        if (length > 2)
        {
            bytes[0] = 0;
            bytes[^1] = 255;
        }

        return bytes;
    }

    private static void AssertRequantize(byte[] x, float xs, int xz, float ys, int yz, byte[] expected)
    {
        var reference = new byte[x.Length];
        QuantizedOpsReference.Requantize(x, xs, xz, ys, yz, reference);
        Assert.Equal(expected, reference);
        AssertUnary(x, y => QuantizedOps.Requantize(x, xs, xz, ys, yz, y), expected);
    }

    private static void AssertAdd(byte[] a, float aScale, int aZp, byte[] b, float bScale, int bZp, float yScale, int yZp, bool relu, byte[] expected)
    {
        var reference = new byte[a.Length];
        QuantizedOpsReference.Add(a, aScale, aZp, b, bScale, bZp, yScale, yZp, relu, reference);
        Assert.Equal(expected, reference);
        AssertUnary(a, y => QuantizedOps.Add(a, aScale, aZp, b, bScale, bZp, yScale, yZp, relu, y), expected);
    }

    private static void AssertMul(byte[] a, float aScale, int aZp, byte[] b, float bScale, int bZp, float yScale, int yZp, bool relu, byte[] expected)
    {
        var reference = new byte[a.Length];
        QuantizedOpsReference.Mul(a, aScale, aZp, b, bScale, bZp, yScale, yZp, relu, reference);
        Assert.Equal(expected, reference);
        AssertUnary(a, y => QuantizedOps.Mul(a, aScale, aZp, b, bScale, bZp, yScale, yZp, relu, y), expected);
    }

    private static void AssertUnary(byte[] x, Action<byte[]> run, byte[] expected)
    {
        var y = new byte[x.Length];
        run(y);
        Assert.Equal(expected, y);
    }

    private static void AssertBytes(byte[] expected, byte[] actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
        {
            if (expected[i] != actual[i])
                Assert.Fail($"{what}: first difference at element {i} of {expected.Length}: expected {expected[i]}, got {actual[i]} (seed {Seed}).");
        }
    }
}
