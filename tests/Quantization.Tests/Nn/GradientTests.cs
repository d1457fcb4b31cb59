using Quantization.Nn;
using Xunit;

namespace Quantization.Tests.Nn;

/// <summary>Every layer's and loss's backward pass against central finite differences (see <see cref="GradCheck"/>).</summary>
public class GradientTests
{
    [Fact]
    public void Linear_gradients_for_input_weight_and_bias()
    {
        Init.ManualSeed(1);
        var layer = new Linear(5, 3);
        GradCheck.Check(v => layer.Forward(v[0]), [GradCheck.Smooth(1, 1f, 0f, [], 4, 5)], [layer.Weight, layer.Bias!]);
    }

    [Fact]
    public void Linear_without_bias_in_eval_mode_sees_in_place_weight_edits_and_differentiates()
    {
        Init.ManualSeed(2);
        var layer = new Linear(3, 2, bias: false);
        layer.Eval();
        GradCheck.Check(v => layer.Forward(v[0]), [GradCheck.Smooth(2, 1f, 0f, [], 2, 3)], [layer.Weight]);
    }

    [Theory]
    [InlineData(1, 0, 1, 1)]
    [InlineData(2, 1, 1, 1)]
    [InlineData(1, 2, 2, 1)]
    [InlineData(2, 1, 1, 2)]
    public void Conv2d_gradients(int stride, int padding, int dilation, int groups)
    {
        Init.ManualSeed(3);
        var layer = new Conv2d(4, 4, 3, stride, padding, dilation, groups);
        GradCheck.Check(v => layer.Forward(v[0]), [GradCheck.Smooth(3, 1f, 0f, [], 2, 4, 6, 5)], [layer.Weight, layer.Bias!]);
    }

    [Fact]
    public void BatchNorm2d_training_gradients()
    {
        var layer = new BatchNorm2d(3);
        layer.Weight!.Value.AsSpan().Set([0.5f, 1.5f, -1f]);
        layer.Bias!.Value.AsSpan().Set([0.1f, -0.2f, 0.3f]);
        GradCheck.Check(v => layer.Forward(v[0]), [GradCheck.Smooth(4, 2f, 0f, [], 3, 3, 2, 2)], [layer.Weight, layer.Bias], atol: 3e-3);
    }

    [Fact]
    public void BatchNorm1d_eval_gradients()
    {
        var layer = new BatchNorm1d(2);
        layer.RunningMean.AsSpan().Set([0.5f, -1f]);
        layer.RunningVar.AsSpan().Set([2f, 0.25f]);
        layer.Weight!.Value.AsSpan().Set([1.5f, -0.5f]);
        layer.Eval();
        GradCheck.Check(v => layer.Forward(v[0]), [GradCheck.Smooth(5, 2f, 0f, [], 4, 2)], [layer.Weight, layer.Bias!]);
    }

    public static TheoryData<string> Activations => ["ReLU", "ReLU6", "Hardswish", "Hardsigmoid", "Sigmoid", "Tanh", "Softmax0", "Softmax1", "Identity", "Flatten"];

    [Theory]
    [MemberData(nameof(Activations))]
    public void Elementwise_and_shape_layers_gradients(string name)
    {
        Module layer = name switch
        {
            "ReLU" => new ReLU(),
            "ReLU6" => new ReLU6(),
            "Hardswish" => new Hardswish(),
            "Hardsigmoid" => new Hardsigmoid(),
            "Sigmoid" => new Sigmoid(),
            "Tanh" => new Tanh(),
            "Softmax0" => new Softmax(0),
            "Softmax1" => new Softmax(1),
            "Identity" => new Identity(),
            _ => new Flatten(),
        };
        // Values from -8 to 8 cover every piece of the piecewise functions, never within 0.05 of a kink.
        var x = GradCheck.Smooth(6, 8f, 0.05f, [-3f, 0f, 3f, 6f], 3, 4, 2);
        GradCheck.Check(v => layer.Forward(v[0]), [x]);
    }

    [Fact]
    public void MaxPool2d_gradients_with_padding_and_overlap()
    {
        var layer = new MaxPool2d(3, stride: 2, padding: 1);
        GradCheck.Check(v => layer.Forward(v[0]), [GradCheck.Distinct(7, 2, 2, 5, 6)]);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AvgPool2d_gradients(bool countIncludePad)
    {
        var layer = new AvgPool2d(3, stride: 2, padding: 1, countIncludePad: countIncludePad);
        GradCheck.Check(v => layer.Forward(v[0]), [GradCheck.Smooth(8, 1f, 0f, [], 2, 2, 5, 6)]);
    }

    [Fact]
    public void AdaptiveAvgPool2d_gradients_with_overlapping_windows()
    {
        var layer = new AdaptiveAvgPool2d(3, 2);
        GradCheck.Check(v => layer.Forward(v[0]), [GradCheck.Smooth(9, 1f, 0f, [], 2, 2, 5, 5)]);
    }

    [Fact]
    public void Dropout_gradient_uses_the_forward_mask()
    {
        var layer = new Dropout(0.5f);
        var x = new Variable(Tensor.Full(1f, 1000), requiresGrad: true);
        Init.ManualSeed(10);
        var y = layer.Forward(x);
        y.Backward(Tensor.Full(1f, 1000));
        // Kept elements are scaled by 2 in both directions; dropped ones get neither value nor gradient.
        Assert.Equal(y.Value.AsSpan().ToArray(), x.Grad!.AsSpan().ToArray());
        int kept = y.Value.AsSpan().ToArray().Count(v => v == 2f);
        Assert.Equal(1000, kept + y.Value.AsSpan().ToArray().Count(v => v == 0f));
        Assert.InRange(kept, 430, 570);
    }

    [Fact]
    public void CrossEntropy_gradient()
    {
        var loss = new CrossEntropyLoss();
        GradCheck.Check(v => loss.Forward(v[0], [2, 0, 1]), [GradCheck.Smooth(11, 3f, 0f, [], 3, 4)]);
    }

    [Fact]
    public void Mse_gradient_for_input_and_target()
    {
        var loss = new MSELoss();
        GradCheck.Check(v => loss.Forward(v[0], v[1]), [GradCheck.Smooth(12, 2f, 0f, [], 2, 3), GradCheck.Smooth(13, 2f, 0f, [], 2, 3)]);
    }

    [Fact]
    public void Small_cnn_end_to_end_gradients_through_every_block()
    {
        Init.ManualSeed(14);
        var model = new Sequential(
            new Conv2d(1, 2, 3, padding: 1), new BatchNorm2d(2), new Tanh(), new AvgPool2d(2),
            new Flatten(), new Linear(2 * 3 * 3, 3));
        var loss = new CrossEntropyLoss();
        GradCheck.Check(v => loss.Forward(model.Forward(v[0]), [1, 2]), [GradCheck.Smooth(15, 1f, 0f, [], 2, 1, 6, 6)], [.. model.Parameters()], atol: 3e-3);
    }
}
