using Quantization.Nn;
using Xunit;

namespace Quantization.Tests.Nn;

/// <summary>Forward passes against values worked out by hand from each layer's formula.</summary>
public class LayerForwardTests
{
    private static float[] Run(Module layer, Tensor x) => layer.Forward(x).AsSpan().ToArray();

    private static void Near(float[] expected, float[] actual, float tolerance = 1e-5f)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance, $"Element {i}: expected {expected[i]}, got {actual[i]}.");
    }

    [Fact]
    public void Linear_computes_x_times_w_transposed_plus_bias()
    {
        var layer = new Linear(2, 3);
        new float[] { 1, 2, 3, 4, -1, 0 }.CopyTo(layer.Weight.Value.AsSpan());
        new float[] { 0.5f, -1, 2 }.CopyTo(layer.Bias!.Value.AsSpan());
        // Row 0: 1-2+0.5, 3-4-1, -1+0+2; row 1: 2+1+0.5, 6+2-1, -2+0+2.
        Near([-0.5f, -2, 1, 3.5f, 7, 0], Run(layer, new Tensor([1, -1, 2, 0.5f], 2, 2)));
    }

    [Fact]
    public void Linear_initialization_follows_pytorch_bounds_and_the_seed()
    {
        Init.ManualSeed(5);
        var a = new Linear(16, 8);
        Init.ManualSeed(5);
        var b = new Linear(16, 8);
        Assert.Equal(a.Weight.Value.AsSpan().ToArray(), b.Weight.Value.AsSpan().ToArray());
        // kaiming_uniform(a = sqrt 5) and the bias rule both give the bound 1 / sqrt(fan_in) = 0.25.
        Assert.All(a.Weight.Value.AsSpan().ToArray(), v => Assert.InRange(v, -0.25f, 0.25f));
        Assert.All(a.Bias!.Value.AsSpan().ToArray(), v => Assert.InRange(v, -0.25f, 0.25f));
        Assert.True(a.Weight.Value.Max() > 0.15f && a.Weight.Value.Min() < -0.15f, "The weights should spread over the bound.");
    }

    private static Conv2d Diagonal(int stride, int padding, int dilation)
    {
        // Kernel [[1, 0], [0, -1]], bias 0.5: y = x[i, j] - x[i + d, j + d] + 0.5 over the padded input.
        var conv = new Conv2d(1, 1, 2, stride, padding, dilation);
        new float[] { 1, 0, 0, -1 }.CopyTo(conv.Weight.Value.AsSpan());
        conv.Bias!.Value.AsSpan()[0] = 0.5f;
        return conv;
    }

    private static readonly Tensor s_oneToNine = new([1, 2, 3, 4, 5, 6, 7, 8, 9], 1, 1, 3, 3);

    [Fact]
    public void Conv2d_plain() => Near([-3.5f, -3.5f, -3.5f, -3.5f], Run(Diagonal(1, 0, 1), s_oneToNine));

    [Fact]
    public void Conv2d_stride_2_padding_1()
    {
        // Windows start at -1 and 1: (0,0) sees only x[0,0] under the -1 tap; (0,1) x[0,2]; (1,0) x[2,0]; (1,1) 5 - 9.
        Near([-1 + 0.5f, -3 + 0.5f, -7 + 0.5f, -4 + 0.5f], Run(Diagonal(2, 1, 1), s_oneToNine));
    }

    [Fact]
    public void Conv2d_dilation_2() => Near([1 - 9 + 0.5f], Run(Diagonal(1, 0, 2), s_oneToNine));

    [Fact]
    public void Conv2d_groups_keep_channels_apart()
    {
        var conv = new Conv2d(2, 4, 1, groups: 2, bias: false);
        // Group 0 (out 0, 1) reads channel 0 only; group 1 (out 2, 3) reads channel 1 only.
        new float[] { 2, -1, 3, 0.5f }.CopyTo(conv.Weight.Value.AsSpan());
        var y = Run(conv, new Tensor([1, 2, 10, 20], 1, 2, 1, 2));
        Near([2, 4, -1, -2, 30, 60, 5, 10], y);
    }

    [Theory]
    [InlineData(3, 6, 3, 1, 0, 1, 1)]
    [InlineData(4, 4, 3, 2, 1, 1, 2)]
    [InlineData(2, 3, 2, 1, 2, 2, 1)]
    [InlineData(4, 4, 3, 1, 1, 1, 4)]
    [InlineData(3, 5, 1, 2, 0, 1, 1)]
    public void Conv2d_matches_the_direct_definition(int ci, int co, int k, int stride, int pad, int dilation, int groups)
    {
        Init.ManualSeed(ci * 100 + co);
        var conv = new Conv2d(ci, co, k, stride, pad, dilation, groups);
        var x = GradCheck.Smooth(co, 1f, 0f, [], 2, ci, 7, 6);
        var y = conv.Forward(x);
        var w = conv.Weight.Value;
        int oh = y.Shape[2], ow = y.Shape[3], cig = ci / groups, cog = co / groups;
        for (int n = 0; n < 2; n++)
        for (int o = 0; o < co; o++)
        for (int i = 0; i < oh; i++)
        for (int j = 0; j < ow; j++)
        {
            double sum = conv.Bias!.Value[o];
            for (int c = 0; c < cig; c++)
            for (int a = 0; a < k; a++)
            for (int b = 0; b < k; b++)
            {
                int ih = i * stride - pad + a * dilation, iw = j * stride - pad + b * dilation;
                if (ih >= 0 && ih < 7 && iw >= 0 && iw < 6)
                    sum += (double)x[n, o / cog * cig + c, ih, iw] * w[o, c, a, b];
            }

            Assert.True(Math.Abs(sum - y[n, o, i, j]) < 1e-5, $"y[{n},{o},{i},{j}] = {y[n, o, i, j]}, expected {sum}.");
        }
    }

    [Fact]
    public void BatchNorm2d_training_uses_batch_statistics_and_updates_running_ones_as_pytorch()
    {
        var bn = new BatchNorm2d(1);
        var y = Run(bn, new Tensor([1, 2, 3, 4], 2, 1, 1, 2));
        // Mean 2.5, biased variance 1.25: y = (x - 2.5) / sqrt(1.25 + 1e-5).
        float inv = 1f / MathF.Sqrt(1.25f + 1e-5f);
        Near([-1.5f * inv, -0.5f * inv, 0.5f * inv, 1.5f * inv], y);
        // running_mean = 0.9 * 0 + 0.1 * 2.5; running_var = 0.9 * 1 + 0.1 * (5 / 3), the unbiased variance.
        Assert.Equal(0.25f, bn.RunningMean[0], 6);
        Assert.Equal(0.9f + 0.1f * 5f / 3f, bn.RunningVar[0], 6);
        Assert.Equal(1f, bn.NumBatchesTracked.AsSpan()[0]);
    }

    [Fact]
    public void BatchNorm1d_eval_uses_running_statistics_weight_and_bias()
    {
        var bn = new BatchNorm1d(2);
        new float[] { 1, -2 }.CopyTo(bn.RunningMean.AsSpan());
        new float[] { 4, 0.25f }.CopyTo(bn.RunningVar.AsSpan());
        new float[] { 2, 1 }.CopyTo(bn.Weight!.Value.AsSpan());
        new float[] { 0, 3 }.CopyTo(bn.Bias!.Value.AsSpan());
        bn.Eval();
        var y = Run(bn, new Tensor([3, -1], 1, 2));
        // (3 - 1) / sqrt(4 + eps) * 2 + 0 and (-1 + 2) / sqrt(0.25 + eps) * 1 + 3.
        Near([2 / MathF.Sqrt(4 + 1e-5f) * 2, 1 / MathF.Sqrt(0.25f + 1e-5f) + 3], y);
        Assert.Equal(0f, bn.NumBatchesTracked.AsSpan()[0]);
    }

    [Fact]
    public void Activations_at_hand_picked_points()
    {
        var x = new Tensor([-4, -1, 0, 1, 4, 7], 6);
        Near([0, 0, 0, 1, 4, 7], Run(new ReLU(), x));
        Near([0, 0, 0, 1, 4, 6], Run(new ReLU6(), x));
        // x * relu6(x + 3) / 6: -1 * 2 / 6, 1 * 4 / 6.
        Near([0, -1f / 3, 0, 2f / 3, 4, 7], Run(new Hardswish(), x));
        Near([0, 1f / 3, 0.5f, 2f / 3, 1, 1], Run(new Hardsigmoid(), x));
        Near([1 / (1 + MathF.Exp(4)), 1 / (1 + MathF.E), 0.5f, 1 / (1 + 1 / MathF.E), 1 / (1 + MathF.Exp(-4)), 1 / (1 + MathF.Exp(-7))], Run(new Sigmoid(), x));
        Near([MathF.Tanh(-4), MathF.Tanh(-1), 0, MathF.Tanh(1), MathF.Tanh(4), MathF.Tanh(7)], Run(new Tanh(), x));
        Assert.Same(x, new Identity().Forward(x));
    }

    [Fact]
    public void Softmax_along_each_dimension()
    {
        float ln3 = MathF.Log(3);
        // exp(0) : exp(ln 3) = 1 : 3.
        Near([0.25f, 0.75f, 0.5f, 0.5f], Run(new Softmax(1), new Tensor([0, ln3, 2, 2], 2, 2)));
        Near([0.25f, 0.5f, 0.75f, 0.5f], Run(new Softmax(0), new Tensor([0, 2, ln3, 2], 2, 2)));
        Near([0.25f, 0.75f], Run(new Softmax(-1), new Tensor([5, 5 + ln3], 2)));
    }

    private static readonly Tensor s_oneToSixteen = new(Enumerable.Range(1, 16).Select(v => (float)v).ToArray(), 1, 1, 4, 4);

    [Fact]
    public void Pools_on_a_4x4_ramp()
    {
        Near([6, 8, 14, 16], Run(new MaxPool2d(2), s_oneToSixteen));
        Near([3.5f, 5.5f, 11.5f, 13.5f], Run(new AvgPool2d(2), s_oneToSixteen));
        Near([8.5f], Run(new AdaptiveAvgPool2d(1), s_oneToSixteen));
        // Rows and columns [0, 2), [1, 3), [2, 4): each window is 2x2 around a shifting centre.
        Near([3.5f, 4.5f, 5.5f, 7.5f, 8.5f, 9.5f, 11.5f, 12.5f, 13.5f], Run(new AdaptiveAvgPool2d(3), s_oneToSixteen));
        // Padding 1, stride 2, kernel 3: the corner window covers 1, 2, 5, 6 of 9 taps.
        Near([(1 + 2 + 5 + 6) / 9f], Run(new AvgPool2d(3, 2, 1), s_oneToSixteen).Take(1).ToArray());
        Near([(1 + 2 + 5 + 6) / 4f], Run(new AvgPool2d(3, 2, 1, countIncludePad: false), s_oneToSixteen).Take(1).ToArray());
        Near([6, 8, 14, 16], Run(new MaxPool2d(3, 2, 1), s_oneToSixteen));
    }

    [Fact]
    public void Flatten_and_dropout_in_eval()
    {
        var x = new Tensor(2, 3, 4, 5);
        Assert.Equal([2, 60], new Flatten().Forward(x).Shape.ToArray());
        Assert.Equal([2, 12, 5], new Flatten(1, 2).Forward(x).Shape.ToArray());
        var dropout = new Dropout(0.9f);
        dropout.Eval();
        Assert.Same(x, dropout.Forward(x));
    }

    [Fact]
    public void Bad_inputs_name_the_layer_and_both_shapes()
    {
        var conv = new Conv2d(3, 4, 3);
        var e = Assert.Throws<ArgumentException>(() => conv.Forward(new Tensor(1, 2, 8, 8)));
        Assert.Contains("3 channels", e.Message);
        Assert.Contains("(1, 2, 8, 8)", e.Message);
        e = Assert.Throws<ArgumentException>(() => conv.Forward(new Tensor(3, 8, 8)));
        Assert.Contains("rank-4", e.Message);
        Assert.Contains("(3, 8, 8)", e.Message);
        e = Assert.Throws<ArgumentException>(() => new Linear(5, 2).Forward(new Tensor(2, 4)));
        Assert.Contains("(N, 5)", e.Message);
        Assert.Contains("(2, 4)", e.Message);
        e = Assert.Throws<ArgumentException>(() => new BatchNorm2d(4).Forward(new Tensor(2, 3, 2, 2)));
        Assert.Contains("BatchNorm2d", e.Message);
        Assert.Throws<ArgumentException>(() => new MaxPool2d(3).Forward(new Tensor(1, 1, 2, 2)));
        Assert.Throws<ArgumentException>(() => new Conv2d(4, 6, 3, groups: 4));
    }

    [Fact]
    public void Linear_inference_reuses_packed_weights_but_sees_edits()
    {
        Init.ManualSeed(9);
        var layer = new Linear(37, 19);
        var x = new Tensor(Enumerable.Range(0, 5 * 37).Select(i => MathF.Sin(i)).ToArray(), 5, 37);
        var recorded = layer.Forward(new Variable(x, requiresGrad: true)).Value.AsSpan().ToArray();
        Assert.Equal(recorded, Run(layer, x));
        Assert.Equal(recorded, Run(layer, x));

        layer.Weight.Value.AsSpan()[3] += 1f;
        var edited = Run(layer, x);
        Assert.Equal(layer.Forward(new Variable(x, requiresGrad: true)).Value.AsSpan().ToArray(), edited);
        Assert.NotEqual(recorded, edited);
    }
}
