using Quantization.Graph;
using Xunit;

namespace Quantization.Tests.Graph;

/// <summary>
/// The kernels that move QUInt8 codes (nearest Resize, MaxPool) against their float kernels run on the dequantized
/// values: the codes they pick must decode to exactly the values the float kernel picks, and keep the parameters.
/// </summary>
public sealed class CodeKernelTests
{
    private static readonly QuantParams Params = QuantParams.PerTensorAffine(0.05f, 120, QuantDType.QUInt8);

    public static TheoryData<int[], float[]> Resizes() => new()
    {
        // 2× on both axes: rows of 37 codes (two vector blocks of 16 and a tail), every other output row a copy.
        { [2, 3, 5, 37], [1, 1, 2, 2] },
        // 2× along the last axis only, rows long and short.
        { [1, 2, 3, 70], [1, 1, 1, 2] },
        { [1, 2, 3, 5], [1, 1, 1, 2] },
        // Not a doubling: 3× up, and down by half.
        { [1, 2, 4, 9], [1, 1, 3, 3] },
        { [1, 2, 8, 20], [1, 1, 0.5f, 0.5f] },
    };

    [Theory]
    [MemberData(nameof(Resizes))]
    public void Nearest_resize_of_codes_matches_the_float_resize(int[] shape, float[] scales)
    {
        var x = RandomCodes(shape, 1);
        Tensor?[] inputs = [null, null, Floats(scales), null];
        foreach (var coordinates in new[] { ResizeCoordinates.HalfPixel, ResizeCoordinates.Asymmetric })
        {
            var codes = GraphOps.ResizeNearestCodes(coordinates, NearestRounding.RoundPreferFloor, 2, 3)(x, inputs);
            var values = GraphOps.ResizeNearest(coordinates, NearestRounding.RoundPreferFloor, 2, 3)([x.Dequantize(), null, Floats(scales), null], null!)[0];
            Assert.Equal(values.Shape.ToArray(), codes.Shape.ToArray());
            Assert.Equal(Params, codes.QParams);
            Assert.Equal(values.AsSpan().ToArray(), codes.Dequantize().AsSpan().ToArray());
        }
    }

    /// <summary>Rows of 101 and 130 pixels take the 2×2 stride-2 window's vector path, with a scalar tail (and a window half in the end padding with ceil mode).</summary>
    [Theory]
    [InlineData(3, 2, 1, false, 14)]
    [InlineData(2, 2, 0, true, 14)]
    [InlineData(3, 1, 1, false, 14)]
    [InlineData(2, 2, 0, false, 101)]
    [InlineData(2, 2, 0, true, 101)]
    [InlineData(2, 2, 0, false, 130)]
    public void Max_pool_of_codes_matches_the_float_max_pool(int kernel, int stride, int pad, bool ceilMode, int width)
    {
        var x = RandomCodes([2, 3, 11, width], 2);
        int[] k = [kernel, kernel], s = [stride, stride], p = [pad, pad, pad, pad], d = [1, 1];
        var codes = GraphOps.MaxPoolCodes(k, s, p, d, ceilMode)(x, [null]);
        var values = GraphOps.MaxPool(k, s, p, d, ceilMode)([x.Dequantize()], null!)[0];
        Assert.Equal(values.Shape.ToArray(), codes.Shape.ToArray());
        Assert.Equal(Params, codes.QParams);
        Assert.Equal(values.AsSpan().ToArray(), codes.Dequantize().AsSpan().ToArray());
    }

    [Fact]
    public void Bad_shapes_throw_argument_exceptions()
    {
        var flat = RandomCodes([4, 9], 3);
        Assert.Throws<ArgumentException>(() => GraphOps.MaxPoolCodes([2, 2], [2, 2], [0, 0, 0, 0], [1, 1], false)(flat, [null]));
        Assert.Throws<ArgumentException>(() => GraphOps.ResizeNearestCodes(ResizeCoordinates.HalfPixel, NearestRounding.Floor, 2, 3)(flat, [null, null, Floats([2, 2, 2]), null]));
    }

    private static Tensor Floats(float[] values)
    {
        var t = new Tensor(values.Length);
        values.CopyTo(t.AsSpan());
        return t;
    }

    private static QuantizedTensor RandomCodes(int[] shape, int seed)
    {
        var codes = new byte[shape.Aggregate(1, (a, b) => a * b)];
        new Random(seed).NextBytes(codes);
        return QuantizedTensor.Wrap(codes, shape, Params);
    }
}
