using Quantization.Kernels.Conv;
using Quantization.Nn;
using Xunit;

namespace Quantization.Tests.Nn;

/// <summary>Conv2d with non-square kernels, per-axis strides and dilations and asymmetric padding, on both paths, against the double reference.</summary>
public class Conv2dShapesTests
{
    private const int Seed = 20261123;

    public static TheoryData<int, int, int, int, int, int, int, int, int, int, int, int> Shapes => new()
    {
        // kh, kw, sh, sw, top, left, bottom, right, dh, dw, groups, channels
        { 1, 3, 1, 1, 0, 1, 0, 1, 1, 1, 1, 3 },
        { 3, 1, 2, 1, 1, 0, 1, 0, 1, 1, 1, 4 },
        { 3, 5, 2, 1, 0, 2, 1, 3, 1, 2, 1, 3 },
        { 2, 3, 1, 2, 1, 0, 0, 2, 2, 1, 2, 4 },
        { 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, 4, 4 },   // depthwise with stride (2, 1), as in PP-OCR
        { 5, 5, 2, 1, 2, 2, 2, 2, 1, 1, 4, 4 },
        { 1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 5 },   // 1x1 with padding: not the pointwise shortcut
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Matches_the_reference_with_and_without_gradients(int kh, int kw, int sh, int sw, int top, int left, int bottom, int right, int dh, int dw, int groups, int channels)
    {
        Init.ManualSeed(Seed);
        var conv = new Conv2d(channels, 2 * channels / groups * groups, (kh, kw), (sh, sw), (top, left, bottom, right), (dh, dw), groups);
        var rng = new Random(Seed);
        const int n = 2, h = 9, w = 11;
        var x = new Tensor(n, channels, h, w);
        foreach (ref float v in x.AsSpan())
            v = (float)(rng.NextDouble() * 2 - 1);
        var g = new Conv2dGeometry(channels, conv.OutChannels, kh, kw, sh, sw, top, left, bottom, right, dh, dw, groups);
        double[] expected = ConvReference.Conv2d(x.AsSpan(), n, h, w, conv.Weight.Value.AsSpan(), conv.Bias!.Value.AsSpan(), g);

        Tensor fast = conv.Forward(x);                                  // Forward(Tensor) runs without gradients: the packed kernel
        Tensor recorded = conv.Forward(new Variable(x, requiresGrad: true)).Value;   // im2col + GEMM with backward
        int[] shape = [n, conv.OutChannels, g.OutputHeight(h), g.OutputWidth(w)];
        Assert.Equal(shape, fast.Shape.ToArray());
        Assert.Equal(shape, recorded.Shape.ToArray());
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(fast.AsSpan()[i] - expected[i]) <= 1e-5, $"packed kernel, element {i}: {fast.AsSpan()[i]} vs {expected[i]}");
            Assert.True(Math.Abs(recorded.AsSpan()[i] - expected[i]) <= 1e-5, $"autograd path, element {i}: {recorded.AsSpan()[i]} vs {expected[i]}");
        }
    }

    [Fact]
    public void Inference_sees_weight_edits_made_after_an_earlier_call()
    {
        var conv = new Conv2d(1, 1, (1, 2), (1, 1), (0, 0, 0, 0), (1, 1), bias: false);
        new float[] { 1, 2 }.CopyTo(conv.Weight.Value.AsSpan());
        var x = new Tensor([1, 10, 100], 1, 1, 1, 3);
        Assert.Equal([21f, 210f], conv.Forward(x).AsSpan().ToArray());
        conv.Weight.Value.AsSpan()[1] = -1;   // in place, as quantization passes and optimizers do
        Assert.Equal([-9f, -90f], conv.Forward(x).AsSpan().ToArray());
    }

    [Fact]
    public void Exposes_per_axis_sizes_and_keeps_the_square_properties()
    {
        var conv = new Conv2d(2, 4, (3, 5), (2, 1), (0, 1, 2, 3), (1, 2), bias: false);
        Assert.Equal((3, 5), (conv.KernelHeight, conv.KernelWidth));
        Assert.Equal((2, 1), (conv.StrideHeight, conv.StrideWidth));
        Assert.Equal((0, 1, 2, 3), (conv.PaddingTop, conv.PaddingLeft, conv.PaddingBottom, conv.PaddingRight));
        Assert.Equal((1, 2), (conv.DilationHeight, conv.DilationWidth));
        Assert.Equal([4, 2, 3, 5], conv.Weight.Value.Shape.ToArray());
        Assert.Equal("Conv2d(2, 4, kernel_size=(3, 5), stride=(2, 1), padding=(0, 1, 2, 3), dilation=(1, 2), groups=1, bias=False)", conv.ToString());

        var square = new Conv2d(1, 1, 3, 2, 1);
        Assert.Equal((3, 3, 2, 1), (square.KernelSize, square.KernelWidth, square.Stride, square.PaddingRight));
        Assert.Throws<ArgumentException>(() => new Conv2d(1, 1, (3, 3), (1, 1), (0, -1, 0, 0), (1, 1)));
    }
}
