using Xunit;

namespace Quantization.Tests.Tensors;

/// <summary>Golden values worked out by hand from DESIGN.md §2.</summary>
public class QuantizedTensorTests
{
    [Theory]
    // scale 1, zp 0: x / scale is the value itself; ties go to the even neighbour.
    [InlineData(2.5f, 2)]
    [InlineData(3.5f, 4)]
    [InlineData(-2.5f, -2)]
    [InlineData(-3.5f, -4)]
    [InlineData(0.5f, 0)]
    [InlineData(1.5f, 2)]
    [InlineData(2.4999998f, 2)]
    public void Rounds_half_to_even(float x, int expected)
    {
        foreach (var convention in new[] { RoundingConvention.PyTorch, RoundingConvention.Onnx })
        {
            var q = QuantizedTensor.QuantizePerTensor(new Tensor([x], 1), 1f, 0, QuantDType.QInt8, convention);
            Assert.Equal(expected, q.IntRepr()[0]);
        }
    }

    [Fact]
    public void PyTorch_and_Onnx_conventions_differ_on_the_golden_tie()
    {
        // 0.273939937f * (1 / 0.00214854861f) is exactly 127.5 in float (-> 128, even),
        // while the true division 0.273939937f / 0.00214854861f is 127.49999 (-> 127).
        var x = new Tensor([0.273939937f], 1);
        var torch = QuantizedTensor.QuantizePerTensor(x, 0.00214854861f, 0, QuantDType.QUInt8, RoundingConvention.PyTorch);
        var onnx = QuantizedTensor.QuantizePerTensor(x, 0.00214854861f, 0, QuantDType.QUInt8, RoundingConvention.Onnx);
        Assert.Equal(128, torch.IntRepr()[0]);
        Assert.Equal(127, onnx.IntRepr()[0]);
    }

    [Fact]
    public void Affine_quantize_and_dequantize_match_hand_computed_values()
    {
        // scale 0.5, zp 3: -1.5 -> -3 + 3 = 0; 0 -> 3; 0.75 -> round(1.5) = 2 -> 5; 1.0 -> 2 -> 5; 2.26 -> round(4.52) = 5 -> 8.
        var x = new Tensor([-1.5f, 0f, 0.75f, 1.0f, 2.26f], 5);
        var q = QuantizedTensor.QuantizePerTensor(x, 0.5f, 3, QuantDType.QUInt8);
        Assert.Equal([0, 3, 5, 5, 8], q.IntRepr());
        Assert.Equal([0, 3, 5, 5, 8], q.AsUInt8Span().ToArray().Select(b => (int)b));
        // Dequantize: 0.5 * (q - 3).
        Assert.Equal([-1.5f, 0f, 1f, 1f, 2.5f], q.Dequantize().AsSpan().ToArray());
        Assert.Equal([5], q.Shape.ToArray());
    }

    [Fact]
    public void Saturates_at_both_ends_including_infinities()
    {
        // QUInt8, scale 0.1, zp 10: 100 -> 10 + 1000 -> 255; -5 -> 10 - 50 -> 0; 25.5 -> 10 + 255 -> 255; -1 -> 0.
        var x = new Tensor([100f, -5f, 25.5f, -1f, float.PositiveInfinity, float.NegativeInfinity, 1e30f], 7);
        Assert.Equal([255, 0, 255, 0, 255, 0, 255], QuantizedTensor.QuantizePerTensor(x, 0.1f, 10, QuantDType.QUInt8).IntRepr());
        // QInt8, zp -10: 100 -> 990 -> 127; -5 -> -60; 25.5 -> 245 -> 127; -1 -> -20; +-inf -> 127 / -128.
        Assert.Equal([127, -60, 127, -20, 127, -128, 127], QuantizedTensor.QuantizePerTensor(x, 0.1f, -10, QuantDType.QInt8).IntRepr());
        // QInt32: 3e6 / 0.001 = 3e9 > int.MaxValue saturates; 1.5 * (1 / 0.001f) = 1499.9999 -> 1500.
        var big = new Tensor([3e6f, -3e6f, 1.5f, float.NegativeInfinity], 4);
        Assert.Equal([int.MaxValue, int.MinValue, 1500, int.MinValue], QuantizedTensor.QuantizePerTensor(big, 0.001f, 0, QuantDType.QInt32).IntRepr());
    }

    [Fact]
    public void Constant_and_all_zero_tensors_quantize_exactly()
    {
        var zeros = Tensor.Zeros(3, 40);
        var q = QuantizedTensor.QuantizePerTensor(zeros, 0.02f, 128, QuantDType.QUInt8);
        Assert.All(q.IntRepr(), v => Assert.Equal(128, v));
        Assert.All(q.Dequantize().AsSpan().ToArray(), v => Assert.Equal(0f, v));

        var constant = Tensor.Full(0.5f, 70);
        var qc = QuantizedTensor.QuantizePerTensor(constant, 0.25f, 0, QuantDType.QInt8);
        Assert.All(qc.IntRepr(), v => Assert.Equal(2, v));
    }

    [Fact]
    public void Per_channel_along_a_non_zero_axis()
    {
        // Shape (2, 3, 2), axis 1: scales [1, 0.5, 0.25], zero points [0, 1, -1].
        // Channel 0: 1 -> 1, 2 -> 2, -1 -> -1, -2 -> -2.
        // Channel 1: 1 / 0.5 + 1 = 3, 2 / 0.5 + 1 = 5, -1 / 0.5 + 1 = -1, -2 / 0.5 + 1 = -3.
        // Channel 2: 1 / 0.25 - 1 = 3, 2 / 0.25 - 1 = 7, -4 - 1 = -5, -8 - 1 = -9.
        var x = new Tensor([1, 2, 1, 2, 1, 2, -1, -2, -1, -2, -1, -2], 2, 3, 2);
        var q = QuantizedTensor.QuantizePerChannel(x, [1f, 0.5f, 0.25f], [0, 1, -1], 1, QuantDType.QInt8);
        Assert.Equal([1, 2, 3, 5, 3, 7, -1, -2, -1, -3, -5, -9], q.IntRepr());
        Assert.Equal(QScheme.PerChannelAffine, q.QParams.Scheme);
        Assert.Equal(x.AsSpan().ToArray(), q.Dequantize().AsSpan().ToArray());

        // A negative axis counts from the end: -2 is axis 1 here.
        var q2 = QuantizedTensor.QuantizePerChannel(x, [1f, 0.5f, 0.25f], [0, 1, -1], -2, QuantDType.QInt8);
        Assert.Equal(q.IntRepr(), q2.IntRepr());
    }

    [Fact]
    public void Per_channel_symmetric_along_the_last_axis()
    {
        // Shape (2, 2), axis 1, QUInt8 symmetric (zp 128): column 0 scale 0.5, column 1 scale 2.
        // [1, 4; -1, -4] -> [128 + 2, 128 + 2; 128 - 2, 128 - 2].
        var x = new Tensor([1, 4, -1, -4], 2, 2);
        var q = QuantizedTensor.Quantize(x, QuantParams.PerChannelSymmetric([0.5f, 2f], 1, QuantDType.QUInt8));
        Assert.Equal([130, 130, 126, 126], q.IntRepr());
    }

    [Fact]
    public void FromIntRepr_round_trips_and_validates()
    {
        var p = QuantParams.PerTensorAffine(0.5f, -1, QuantDType.QInt8);
        var q = QuantizedTensor.FromIntRepr([-128, -1, 127], [3], p);
        Assert.Equal([-63.5f, 0f, 64f], q.Dequantize().AsSpan().ToArray());
        Assert.Equal([-128, -1, 127], q.AsInt8Span().ToArray().Select(v => (int)v));
        Assert.Equal("values", Assert.Throws<ArgumentException>(() => QuantizedTensor.FromIntRepr([128], [1], p)).ParamName);
        Assert.Equal("values", Assert.Throws<ArgumentException>(() => QuantizedTensor.FromIntRepr([1, 2], [3], p)).ParamName);
        Assert.Throws<InvalidOperationException>(() => q.AsUInt8Span());
    }

    [Fact]
    public void Empty_tensor_quantizes_to_an_empty_tensor()
    {
        var q = QuantizedTensor.QuantizePerTensor(Tensor.Zeros(0, 4), 1f, 0, QuantDType.QUInt8);
        Assert.Equal(0, q.Length);
        Assert.Equal([0, 4], q.Shape.ToArray());
        Assert.Equal(0, q.Dequantize().Length);
    }

    [Fact]
    public void Input_is_not_modified()
    {
        var x = new Tensor([0.1f, 0.26f, -3f], 3);
        float[] before = x.AsSpan().ToArray();
        _ = QuantizedTensor.QuantizePerTensor(x, 0.1f, 0, QuantDType.QInt8);
        _ = x.FakeQuantizePerTensor(0.1f, 0, -128, 127);
        Assert.Equal(before, x.AsSpan().ToArray());
    }

    [Fact]
    public void Bad_arguments_throw_and_name_the_argument()
    {
        var x = Tensor.Zeros(2, 3);
        Assert.Equal("scale", Assert.Throws<ArgumentOutOfRangeException>(() => QuantizedTensor.QuantizePerTensor(x, 0f, 0, QuantDType.QUInt8)).ParamName);
        Assert.Equal("zeroPoint", Assert.Throws<ArgumentOutOfRangeException>(() => QuantizedTensor.QuantizePerTensor(x, 1f, 300, QuantDType.QUInt8)).ParamName);
        Assert.Equal("axis", Assert.Throws<ArgumentOutOfRangeException>(() => QuantizedTensor.QuantizePerChannel(x, [1f, 1f], [0, 0], 2, QuantDType.QInt8)).ParamName);
        // Three channels along axis 1, but two scales.
        Assert.Equal("qparams", Assert.Throws<ArgumentException>(() => QuantizedTensor.QuantizePerChannel(x, [1f, 1f], [0, 0], 1, QuantDType.QInt8)).ParamName);
        Assert.Equal("qparams", Assert.Throws<ArgumentException>(() =>
            QuantizedTensor.Quantize(Tensor.Zeros(4), QuantParams.PerChannelSymmetric([1f, 1f, 1f, 1f], 1, QuantDType.QInt8))).ParamName);
        var nan = new Tensor([0f, float.NaN], 2);
        var ex = Assert.Throws<ArgumentException>(() => QuantizedTensor.QuantizePerTensor(nan, 1f, 0, QuantDType.QInt8));
        Assert.Equal("x", ex.ParamName);
        Assert.Contains("Element 1 is NaN", ex.Message);
    }

    [Fact]
    public void Fake_quantize_equals_quantize_then_dequantize()
    {
        var rng = new Random(1234);
        var x = new Tensor(Enumerable.Range(0, 1000).Select(_ => (float)(rng.NextDouble() * 40 - 20)).ToArray(), 10, 100);
        var fake = x.FakeQuantizePerTensor(0.07f, 120, 0, 255);
        var real = QuantizedTensor.QuantizePerTensor(x, 0.07f, 120, QuantDType.QUInt8).Dequantize();
        Assert.Equal(real.AsSpan().ToArray(), fake.AsSpan().ToArray());

        float[] scales = Enumerable.Range(0, 10).Select(i => 0.01f * (i + 1)).ToArray();
        int[] zps = Enumerable.Range(0, 10).Select(i => i - 5).ToArray();
        var fakeChannel = x.FakeQuantizePerChannel(scales, zps, 0, -128, 127);
        var realChannel = QuantizedTensor.QuantizePerChannel(x, scales, zps, 0, QuantDType.QInt8).Dequantize();
        Assert.Equal(realChannel.AsSpan().ToArray(), fakeChannel.AsSpan().ToArray());
    }

    [Fact]
    public void Fake_quantize_honours_a_reduced_range()
    {
        // reduce_range QUInt8 is [0, 127]: 200 * scale clamps to 127, so it comes back as 127 * scale.
        var x = new Tensor([200 * 0.5f, -3f, 10f], 3);
        Assert.Equal([63.5f, 0f, 10f], x.FakeQuantizePerTensor(0.5f, 0, 0, 127).AsSpan().ToArray());
    }

    [Fact]
    public void Fake_quantize_validates_its_arguments()
    {
        var x = Tensor.Zeros(2, 3);
        Assert.Equal("quantMin", Assert.Throws<ArgumentException>(() => x.FakeQuantizePerTensor(1f, 0, 5, 5)).ParamName);
        Assert.Equal("zeroPoint", Assert.Throws<ArgumentOutOfRangeException>(() => x.FakeQuantizePerTensor(1f, 128, 0, 127)).ParamName);
        Assert.Equal("scale", Assert.Throws<ArgumentOutOfRangeException>(() => x.FakeQuantizePerTensor(-1f, 0, 0, 127)).ParamName);
        Assert.Equal("scales", Assert.Throws<ArgumentException>(() => x.FakeQuantizePerChannel([1f, 1f], [0, 0], 1, 0, 255)).ParamName);
        Assert.Equal("zeroPoints", Assert.Throws<ArgumentException>(() => x.FakeQuantizePerChannel([1f, 1f, 1f], [0, 0], 1, 0, 255)).ParamName);
        Assert.Equal("axis", Assert.Throws<ArgumentOutOfRangeException>(() => x.FakeQuantizePerChannel([1f, 1f], [0, 0], 3, 0, 255)).ParamName);
        Assert.Throws<ArgumentException>(() => new Tensor([float.NaN], 1).FakeQuantizePerTensor(1f, 0, 0, 255));
    }
}
