using Quantization.Nn;
using Xunit;

namespace Quantization.Tests.Nn;

public class LossTests
{
    [Fact]
    public void Cross_entropy_is_the_mean_negative_log_softmax_at_the_label()
    {
        float ln3 = MathF.Log(3);
        // Row softmax [1/4, 3/4]: label 1 costs -ln 0.75, label 0 costs ln 4.
        var loss = new CrossEntropyLoss().Forward(new Variable(new Tensor([0, ln3, 100, 100 + ln3], 2, 2)), [1, 0]);
        Assert.Equal((0.2876821 + 1.3862944) / 2, loss.Value.AsSpan()[0], 5);
    }

    [Fact]
    public void Cross_entropy_rejects_a_label_out_of_range_naming_it_and_its_index()
    {
        var e = Assert.Throws<ArgumentException>(() => new CrossEntropyLoss().Forward(new Variable(new Tensor(3, 4)), [0, 7, 1]));
        Assert.Contains("Label 7 at index 1", e.Message);
        e = Assert.Throws<ArgumentException>(() => new CrossEntropyLoss().Forward(new Variable(new Tensor(3, 4)), [0, -1, 1]));
        Assert.Contains("Label -1 at index 1", e.Message);
        Assert.Throws<ArgumentException>(() => new CrossEntropyLoss().Forward(new Variable(new Tensor(3, 4)), [0, 1]));
    }

    [Fact]
    public void Mse_is_the_mean_squared_difference()
    {
        var loss = new MSELoss().Forward(new Variable(new Tensor([1, 2], 2)), new Variable(new Tensor([0, 4], 2)));
        Assert.Equal(2.5f, loss.Value.AsSpan()[0]);
        Assert.Throws<ArgumentException>(() => new MSELoss().Forward(new Variable(new Tensor(2)), new Variable(new Tensor(3))));
    }
}
