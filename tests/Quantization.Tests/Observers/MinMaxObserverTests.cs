using Quantization.Observers;
using Xunit;

namespace Quantization.Tests.Observers;

/// <summary>Golden values from PyTorch's _calculate_qparams, worked by hand (float32 arithmetic).</summary>
public class MinMaxObserverTests
{
    private static QuantParams Calibrate(ObserverOptions options, params float[] values)
    {
        var observer = new MinMaxObserver(options);
        observer.Observe(new Tensor(values, values.Length));
        return observer.CalculateQParams();
    }

    [Fact]
    public void Affine_uint8()
    {
        // [-1, 3]: scale = 4 / 255; zp = 0 - round(-1 / (4/255)) = round(63.75) = 64.
        var p = Calibrate(new ObserverOptions(), -1f, 0f, 3f);
        Assert.Equal(4f / 255f, p.Scale);
        Assert.Equal(64, p.ZeroPoint);
    }

    [Fact]
    public void Symmetric_int8_uses_amax_over_127_5()
    {
        // amax = 3: scale = 3 / ((127 - (-128)) / 2) = 3 / 127.5; zp 0.
        var p = Calibrate(new ObserverOptions { DType = QuantDType.QInt8, QScheme = QScheme.PerTensorSymmetric }, -1f, 0f, 3f);
        Assert.Equal(3f / 127.5f, p.Scale);
        Assert.Equal(0, p.ZeroPoint);
        Assert.Equal(QScheme.PerTensorSymmetric, p.Scheme);
    }

    [Fact]
    public void Symmetric_int8_over_127_with_the_onnx_range()
    {
        // ONNX's symmetric int8 range [-127, 127]: scale = 3 / ((127 + 127) / 2) = 3 / 127.
        var p = Calibrate(new ObserverOptions { DType = QuantDType.QInt8, QScheme = QScheme.PerTensorSymmetric, QuantMin = -127, QuantMax = 127 }, -1f, 3f);
        Assert.Equal(3f / 127f, p.Scale);
        Assert.Equal(0, p.ZeroPoint);
    }

    [Fact]
    public void Symmetric_uint8_has_zero_point_128()
    {
        var p = Calibrate(new ObserverOptions { QScheme = QScheme.PerTensorSymmetric }, -2f, 1f);
        Assert.Equal(2f / 127.5f, p.Scale);
        Assert.Equal(128, p.ZeroPoint);
    }

    [Fact]
    public void Reduce_range_uses_0_to_127()
    {
        // scale = 4 / 127; zp = round(1 / (4 / 127)) = round(31.75) = 32.
        var observer = new MinMaxObserver(new ObserverOptions { ReduceRange = true });
        Assert.Equal((0, 127), (observer.QuantMin, observer.QuantMax));
        observer.Observe(new Tensor([-1f, 3f], 2));
        var p = observer.CalculateQParams();
        Assert.Equal(4f / 127f, p.Scale);
        Assert.Equal(32, p.ZeroPoint);
        Assert.Equal((-64, 63), (new MinMaxObserver(new ObserverOptions { DType = QuantDType.QInt8, ReduceRange = true }).QuantMin, 63));
    }

    [Fact]
    public void Custom_range_is_used_and_halved_when_reduced()
    {
        // [0, 15]: scale = 4 / 15, zp = round(15 / 4) = round(3.75) = 4.
        var p = Calibrate(new ObserverOptions { QuantMin = 0, QuantMax = 15 }, -1f, 3f);
        Assert.Equal(4f / 15f, p.Scale);
        Assert.Equal(4, p.ZeroPoint);
        var reduced = new MinMaxObserver(new ObserverOptions { DType = QuantDType.QInt8, QuantMin = -15, QuantMax = 15, ReduceRange = true });
        Assert.Equal((-8, 7), (reduced.QuantMin, reduced.QuantMax));
    }

    [Fact]
    public void All_zero_tensor_gives_eps_scale_and_zero_point_0()
    {
        var p = Calibrate(new ObserverOptions(), 0f, 0f, 0f);
        Assert.Equal(ObserverOptions.DefaultEps, p.Scale);
        Assert.Equal(0, p.ZeroPoint);
    }

    [Fact]
    public void Range_is_stretched_to_include_zero()
    {
        // Constant 2 and the range [2, 5] both exclude 0: min_neg = 0, so zp = 0 and scale = max / 255.
        Assert.Equal(2f / 255f, Calibrate(new ObserverOptions(), 2f, 2f).Scale);
        var p = Calibrate(new ObserverOptions(), 2f, 5f, 3f);
        Assert.Equal(5f / 255f, p.Scale);
        Assert.Equal(0, p.ZeroPoint);
        // All negative [-4, -1]: max_pos = 0, scale = 4 / 255, zp = round(255) = 255.
        Assert.Equal(255, Calibrate(new ObserverOptions(), -4f, -1f).ZeroPoint);
    }

    [Fact]
    public void No_data_gives_scale_1_zero_point_0_and_says_so()
    {
        var observer = new MinMaxObserver();
        Assert.False(observer.HasObservedData);
        observer.Observe(Tensor.Zeros(0));
        Assert.False(observer.HasObservedData);
        var p = observer.CalculateQParams();
        Assert.Equal((1f, 0), (p.Scale, p.ZeroPoint));
    }

    [Fact]
    public void Running_min_max_over_batches_and_reset()
    {
        var observer = new MinMaxObserver();
        observer.Observe(new Tensor([-1f, 1f], 2));
        observer.Observe(new Tensor([-0.5f, 4f], 2));
        Assert.Equal((-1f, 4f), (observer.Min, observer.Max));
        observer.Reset();
        Assert.False(observer.HasObservedData);
    }

    [Fact]
    public void Moving_average_updates_by_the_averaging_constant()
    {
        // First batch sets [-1, 1]; then m += 0.01 * (batch - m): min = -1 + 0.01 * (-3 + 1), max = 1 + 0.01 * (5 - 1).
        var observer = new MovingAverageMinMaxObserver();
        observer.Observe(new Tensor([-1f, 1f], 2));
        observer.Observe(new Tensor([-3f, 5f], 2));
        Assert.Equal(-1f + 0.01f * (-3f + 1f), observer.Min);
        Assert.Equal(1f + 0.01f * (5f - 1f), observer.Max);
    }

    [Fact]
    public void Infinities_are_ignored_and_NaN_is_rejected()
    {
        var p = Calibrate(new ObserverOptions(), float.NegativeInfinity, -1f, 3f, float.PositiveInfinity);
        Assert.Equal(4f / 255f, p.Scale);
        var observer = new MinMaxObserver();
        observer.Observe(new Tensor([float.PositiveInfinity], 1));
        Assert.False(observer.HasObservedData);
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => observer.Observe(new Tensor([1f, float.NaN], 2))).ParamName);
    }

    [Fact]
    public void Input_is_not_modified()
    {
        var x = new Tensor([3f, -2f, float.PositiveInfinity], 3);
        new HistogramObserver().Observe(x);
        new MinMaxObserver().Observe(x);
        Assert.Equal([3f, -2f, float.PositiveInfinity], x.AsSpan().ToArray());
    }

    [Fact]
    public void Invalid_options_throw_naming_the_option()
    {
        Assert.Equal("QuantMax", Assert.Throws<ArgumentException>(() => new MinMaxObserver(new ObserverOptions { QuantMin = 0 })).ParamName);
        Assert.Equal("QuantMin", Assert.Throws<ArgumentException>(() => new MinMaxObserver(new ObserverOptions { QuantMin = 1, QuantMax = 5 })).ParamName);
        Assert.Equal("QuantMin", Assert.Throws<ArgumentException>(() => new MinMaxObserver(new ObserverOptions { QuantMin = 0, QuantMax = 0 })).ParamName);
        Assert.Equal("QuantMax", Assert.Throws<ArgumentException>(() => new MinMaxObserver(new ObserverOptions { QuantMin = 0, QuantMax = 300 })).ParamName);
        Assert.Equal("ReduceRange", Assert.Throws<ArgumentException>(() => new MinMaxObserver(new ObserverOptions { QScheme = QScheme.PerTensorSymmetric, ReduceRange = true })).ParamName);
        Assert.Equal("AveragingConstant", Assert.Throws<ArgumentException>(() => new MovingAverageMinMaxObserver(new ObserverOptions { AveragingConstant = 0 })).ParamName);
        Assert.Equal("Eps", Assert.Throws<ArgumentException>(() => new MinMaxObserver(new ObserverOptions { Eps = -1 })).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentException>(() => new MinMaxObserver(new ObserverOptions { QScheme = QScheme.PerChannelAffine })).ParamName);
        Assert.Equal("options", Assert.Throws<ArgumentException>(() => new PerChannelMinMaxObserver(new ObserverOptions())).ParamName);
        Assert.Equal("percentile", Assert.Throws<ArgumentOutOfRangeException>(() => new PercentileObserver(101)).ParamName);
    }

    [Fact]
    public void Placeholder_records_nothing_and_has_no_parameters()
    {
        Observer placeholder = new PlaceholderObserver(new ObserverOptions { DType = QuantDType.QInt8 });
        placeholder.Observe(new Tensor([1f, 2f], 2));
        Assert.False(placeholder.HasObservedData);
        Assert.Throws<InvalidOperationException>(() => placeholder.CalculateQParams());
    }
}
