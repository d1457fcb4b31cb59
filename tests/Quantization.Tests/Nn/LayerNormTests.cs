using Quantization.Nn;
using Xunit;

namespace Quantization.Tests.Nn;

public class LayerNormTests
{
    private static void Near(float[] expected, ReadOnlySpan<float> actual, float tolerance = 1e-5f)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance, $"Element {i}: expected {expected[i]}, got {actual[i]}.");
    }

    [Fact]
    public void Normalizes_each_row_with_the_biased_variance_then_applies_weight_and_bias()
    {
        var layer = new LayerNorm(4);
        layer.Weight!.Value.AsSpan().Set([1, 2, 0.5f, -1]);
        layer.Bias!.Value.AsSpan().Set([0, 0.5f, -1, 1]);
        var y = layer.Forward(new Tensor([1, 2, 3, 6, 5, 5, 5, 5], 2, 4));
        // Row 0: mean 3, deviations -2, -1, 0, 3, biased variance 14 / 4 = 3.5, so x̂ = dev / sqrt(3.5 + 1e-5) =
        // -1.069043, -0.534522, 0, 1.603565; times the weight plus the bias. Row 1 is constant: x̂ = 0, y = bias.
        Near([-1.0690434f, -0.5690434f, -1f, -0.6035652f, 0, 0.5f, -1, 1], y.AsSpan());
    }

    [Fact]
    public void Normalizes_over_several_trailing_dims_and_without_affine()
    {
        var layer = new LayerNorm([2, 2], elementwiseAffine: false);
        Assert.Null(layer.Weight);
        Assert.Null(layer.Bias);
        Assert.Empty(layer.Parameters());
        // Each [2, 2] block is one run: block 0 is the row above (x̂ only); block 1 = block 0 + 10 normalizes the same.
        var y = layer.Forward(new Tensor([1, 2, 3, 6, 11, 12, 13, 16], 2, 2, 2));
        float s = MathF.Sqrt(3.5f + 1e-5f);
        Near([-2 / s, -1 / s, 0, 3 / s, -2 / s, -1 / s, 0, 3 / s], y.AsSpan());
    }

    [Fact]
    public void Defaults_follow_pytorch()
    {
        var layer = new LayerNorm([3, 2], bias: false);
        Assert.Equal(1e-5f, layer.Eps);
        Assert.Equal([3, 2], layer.Weight!.Shape.ToArray());
        Assert.All(layer.Weight.Value.AsSpan().ToArray(), v => Assert.Equal(1f, v));
        Assert.Null(layer.Bias);
        Assert.Equal(["weight"], layer.NamedParameters().Select(p => p.Name));
        // Same result in both modes: no running statistics.
        var x = GradCheck.Smooth(1, 2f, 0f, [], 2, 3, 2);
        var train = layer.Forward(x).AsSpan().ToArray();
        layer.Eval();
        Assert.Equal(train, layer.Forward(x).AsSpan().ToArray());
    }

    [Fact]
    public void Gradients_for_input_weight_and_bias()
    {
        var layer = new LayerNorm(4);
        layer.Weight!.Value.AsSpan().Set([0.5f, 1.5f, -1f, 2f]);
        layer.Bias!.Value.AsSpan().Set([0.1f, -0.2f, 0.3f, 0f]);
        GradCheck.Check(v => layer.Forward(v[0]), [GradCheck.Smooth(2, 2f, 0f, [], 3, 2, 4)], [layer.Weight, layer.Bias], atol: 3e-3);
    }

    [Fact]
    public void Gradients_over_two_dims_without_affine()
    {
        var layer = new LayerNorm([2, 3], elementwiseAffine: false);
        GradCheck.Check(v => layer.Forward(v[0]), [GradCheck.Smooth(3, 2f, 0f, [], 2, 2, 3)], atol: 3e-3);
    }

    [Fact]
    public void Bad_arguments_throw_naming_them()
    {
        Assert.Equal("normalizedShape", Assert.Throws<ArgumentException>(() => new LayerNorm(Array.Empty<int>())).ParamName);
        Assert.Equal("normalizedShape", Assert.Throws<ArgumentException>(() => new LayerNorm(0)).ParamName);
        Assert.Equal("eps", Assert.Throws<ArgumentOutOfRangeException>(() => new LayerNorm(3, eps: 0f)).ParamName);
        var layer = new LayerNorm([2, 3]);
        var ex = Assert.Throws<ArgumentException>(() => layer.Forward(new Tensor(2, 3, 2)));
        Assert.Equal("input", ex.ParamName);
        Assert.Contains("(2, 3)", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => layer.Forward(new Tensor(3)));
    }
}
