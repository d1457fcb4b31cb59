using Quantization.Observers;
using Xunit;

namespace Quantization.Tests.Observers;

public class PerChannelObserverTests
{
    [Fact]
    public void Per_channel_along_axis_0()
    {
        // Rows are channels: [-1, 3] -> scale 4/255, zp 64; [0, 0.51] -> scale 0.51/255, zp 0.
        var observer = new PerChannelMinMaxObserver();
        observer.Observe(new Tensor([-1f, 3f, 0f, 0.51f], 2, 2));
        var p = observer.CalculateQParams();
        Assert.Equal(QScheme.PerChannelAffine, p.Scheme);
        Assert.Equal(0, p.Axis);
        Assert.Equal([4f / 255f, 0.51f / 255f], p.Scales.ToArray());
        Assert.Equal([64, 0], p.ZeroPoints.ToArray());
    }

    [Fact]
    public void Per_channel_symmetric_along_a_non_zero_axis()
    {
        // Shape (2, 3, 4), axis 1: channel c holds the values ±(c + 1) * k for k in 1..4 (sign by outer index),
        // so its amax is 4 (c + 1): scale = 4 (c + 1) / 127.5, zp 0.
        var values = new float[24];
        for (int o = 0; o < 2; o++)
        for (int c = 0; c < 3; c++)
        for (int i = 0; i < 4; i++)
            values[(o * 3 + c) * 4 + i] = (o == 0 ? 1 : -1) * (c + 1) * (i + 1);
        var observer = new PerChannelMinMaxObserver(new ObserverOptions { DType = QuantDType.QInt8, QScheme = QScheme.PerChannelSymmetric, ChannelAxis = 1 });
        observer.Observe(new Tensor(values, 2, 3, 4));
        var p = observer.CalculateQParams();
        Assert.Equal(QScheme.PerChannelSymmetric, p.Scheme);
        Assert.Equal(1, p.Axis);
        Assert.Equal([4f / 127.5f, 8f / 127.5f, 12f / 127.5f], p.Scales.ToArray());
        Assert.Equal([-1f, -2f, -3f], observer.Min.ToArray().Select(v => v / 4));
    }

    [Fact]
    public void Moving_average_per_channel()
    {
        var observer = new MovingAveragePerChannelMinMaxObserver();
        observer.Observe(new Tensor([-1f, 1f, -2f, 2f], 2, 2));
        observer.Observe(new Tensor([-3f, 5f, -2f, 2f], 2, 2));
        Assert.Equal([-1f + 0.01f * (-3f + 1f), -2f], observer.Min.ToArray());
        Assert.Equal([1f + 0.01f * (5f - 1f), 2f], observer.Max.ToArray());
    }

    [Fact]
    public void Bad_axis_and_changing_channel_count_throw()
    {
        var observer = new PerChannelMinMaxObserver(new ObserverOptions { QScheme = QScheme.PerChannelAffine, ChannelAxis = 2 });
        Assert.Throws<ArgumentOutOfRangeException>(() => observer.Observe(Tensor.Zeros(2, 3)));
        var axis0 = new PerChannelMinMaxObserver();
        axis0.Observe(Tensor.Zeros(2, 3));
        Assert.Equal("x", Assert.Throws<ArgumentException>(() => axis0.Observe(Tensor.Zeros(3, 3))).ParamName);
        Assert.Equal("ChannelAxis", Assert.Throws<ArgumentException>(() => new PerChannelMinMaxObserver(new ObserverOptions { QScheme = QScheme.PerChannelAffine, ChannelAxis = -1 })).ParamName);
    }
}
