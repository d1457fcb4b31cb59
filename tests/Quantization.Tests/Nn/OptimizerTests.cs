using Quantization.Nn;
using Xunit;

namespace Quantization.Tests.Nn;

public class OptimizerTests
{
    private static Parameter Scalar(float value) => new(new Tensor([value], 1));

    [Fact]
    public void Sgd_with_momentum_and_weight_decay_follows_pytorch()
    {
        var p = Scalar(1f);
        var sgd = new SGD([p], lr: 0.1f, momentum: 0.9f, weightDecay: 0.1f);
        p.Grad = new Tensor([0.5f], 1);
        sgd.Step();
        // g = 0.5 + 0.1 * 1 = 0.6; buf = g; p = 1 - 0.06.
        Assert.Equal(0.94f, p.Value[0], 6);
        p.Grad = new Tensor([0.5f], 1);
        sgd.Step();
        // g = 0.5 + 0.094 = 0.594; buf = 0.9 * 0.6 + 0.594 = 1.134; p = 0.94 - 0.1134.
        Assert.Equal(0.8266f, p.Value[0], 5);
    }

    [Fact]
    public void Sgd_nesterov_and_plain()
    {
        var p = Scalar(0f);
        var sgd = new SGD([p], lr: 1f, momentum: 0.5f, nesterov: true);
        p.Grad = new Tensor([1f], 1);
        sgd.Step();
        // buf = 1; g = 1 + 0.5 * 1.
        Assert.Equal(-1.5f, p.Value[0]);
        var q = Scalar(2f);
        var plain = new SGD([q], lr: 0.5f);
        q.Grad = new Tensor([4f], 1);
        plain.Step();
        Assert.Equal(0f, q.Value[0]);
        Assert.Throws<ArgumentException>(() => new SGD([q], lr: 0.1f, nesterov: true));
    }

    [Fact]
    public void Adam_two_steps_match_the_bias_corrected_formula()
    {
        var p = Scalar(1f);
        var adam = new Adam([p], lr: 0.1f);
        p.Grad = new Tensor([0.5f], 1);
        adam.Step();
        // The first step moves by lr in the direction of -g: m̂ = g, v̂ = g².
        Assert.Equal(0.9f, p.Value[0], 6);
        p.Grad = new Tensor([-1f], 1);
        adam.Step();
        // m = -0.055, v = 0.00124975, corrections 0.19 and 0.001999: p = 0.9 + 0.1 * 0.289474 / 0.790688.
        Assert.Equal(0.9366104f, p.Value[0], 5);
    }

    [Fact]
    public void ZeroGrad_clears_and_step_skips_parameters_without_gradients()
    {
        var p = Scalar(1f);
        var q = Scalar(1f);
        var sgd = new SGD([p, q], lr: 1f);
        p.Grad = new Tensor([1f], 1);
        sgd.Step();
        Assert.Equal(0f, p.Value[0]);
        Assert.Equal(1f, q.Value[0]);
        sgd.ZeroGrad();
        Assert.Null(p.Grad);
        Assert.Throws<ArgumentException>(() => new Adam([]));
    }
}
