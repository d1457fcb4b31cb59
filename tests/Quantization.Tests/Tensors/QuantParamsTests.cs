using Xunit;

namespace Quantization.Tests.Tensors;

public class QuantParamsTests
{
    [Fact]
    public void Per_tensor_affine_keeps_its_values()
    {
        var p = QuantParams.PerTensorAffine(0.5f, 3, QuantDType.QUInt8);
        Assert.Equal(QScheme.PerTensorAffine, p.Scheme);
        Assert.Equal(0.5f, p.Scale);
        Assert.Equal(3, p.ZeroPoint);
        Assert.Equal(-1, p.Axis);
        Assert.False(p.IsPerChannel);
    }

    [Theory]
    [InlineData(QuantDType.QInt8, 0)]
    [InlineData(QuantDType.QUInt8, 128)]
    [InlineData(QuantDType.QInt32, 0)]
    public void Symmetric_zero_point_is_the_type_midpoint(QuantDType dtype, int expected)
    {
        Assert.Equal(expected, QuantParams.PerTensorSymmetric(0.1f, dtype).ZeroPoint);
        Assert.Equal([expected, expected], QuantParams.PerChannelSymmetric([0.1f, 0.2f], 0, dtype).ZeroPoints.ToArray());
    }

    [Theory]
    [InlineData(QuantDType.QInt8, false, -128, 127)]
    [InlineData(QuantDType.QInt8, true, -64, 63)]
    [InlineData(QuantDType.QUInt8, false, 0, 255)]
    [InlineData(QuantDType.QUInt8, true, 0, 127)]
    [InlineData(QuantDType.QInt32, true, int.MinValue, int.MaxValue)]
    public void Reduce_range_drops_one_bit_of_8_bit_types(QuantDType dtype, bool reduce, int qmin, int qmax) =>
        Assert.Equal((qmin, qmax), dtype.Range(reduce));

    [Fact]
    public void Per_channel_parameters_are_copied_and_equal_by_value()
    {
        float[] scales = [0.1f, 0.2f];
        var p = QuantParams.PerChannelAffine(scales, [1, 2], 1, QuantDType.QInt8);
        scales[0] = 9;
        Assert.Equal([0.1f, 0.2f], p.Scales.ToArray());
        Assert.Equal(1, p.Axis);
        Assert.Equal(2, p.ChannelCount);
        Assert.Equal(p, QuantParams.PerChannelAffine([0.1f, 0.2f], [1, 2], 1, QuantDType.QInt8));
        Assert.NotEqual(p, QuantParams.PerChannelAffine([0.1f, 0.2f], [1, 3], 1, QuantDType.QInt8));
        Assert.Throws<InvalidOperationException>(() => p.Scale);
    }

    [Theory]
    [InlineData(0f)]
    [InlineData(-1f)]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void Non_positive_or_non_finite_scale_is_rejected(float scale)
    {
        Assert.Equal("scale", Assert.Throws<ArgumentOutOfRangeException>(() => QuantParams.PerTensorAffine(scale, 0, QuantDType.QInt8)).ParamName);
        Assert.Equal("scales", Assert.Throws<ArgumentOutOfRangeException>(() => QuantParams.PerChannelSymmetric([0.5f, scale], 0, QuantDType.QInt8)).ParamName);
    }

    [Theory]
    [InlineData(QuantDType.QUInt8, -1)]
    [InlineData(QuantDType.QUInt8, 256)]
    [InlineData(QuantDType.QInt8, 128)]
    [InlineData(QuantDType.QInt8, -129)]
    public void Zero_point_outside_the_type_is_rejected(QuantDType dtype, int zeroPoint)
    {
        Assert.Equal("zeroPoint", Assert.Throws<ArgumentOutOfRangeException>(() => QuantParams.PerTensorAffine(1f, zeroPoint, dtype)).ParamName);
        Assert.Equal("zeroPoints", Assert.Throws<ArgumentOutOfRangeException>(() => QuantParams.PerChannelAffine([1f], [zeroPoint], 0, dtype)).ParamName);
    }

    [Fact]
    public void Per_channel_shape_errors_name_the_argument()
    {
        Assert.Equal("scales", Assert.Throws<ArgumentException>(() => QuantParams.PerChannelAffine([], [], 0, QuantDType.QInt8)).ParamName);
        Assert.Equal("zeroPoints", Assert.Throws<ArgumentException>(() => QuantParams.PerChannelAffine([1f, 2f], [0], 0, QuantDType.QInt8)).ParamName);
        Assert.Equal("axis", Assert.Throws<ArgumentOutOfRangeException>(() => QuantParams.PerChannelSymmetric([1f], -1, QuantDType.QInt8)).ParamName);
    }
}
