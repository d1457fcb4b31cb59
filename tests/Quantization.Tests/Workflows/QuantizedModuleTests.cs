using Quantization.Kernels.Conv;
using Quantization.Nn;
using Quantization.Nn.Quantized;
using Quantization.Observers;
using Xunit;

namespace Quantization.Tests.Workflows;

/// <summary>
/// Quantized layers against an independent float computation on the dequantized operands, quantized with the output
/// parameters: the integer path may differ only by the rounding of the int32 bias and the float multiplier (one code).
/// </summary>
public class QuantizedModuleTests
{
    private static readonly QuantParams s_input = QuantParams.PerTensorAffine(0.05f, 100, QuantDType.QUInt8);
    private static readonly QuantParams s_output = QuantParams.PerTensorAffine(0.08f, 120, QuantDType.QUInt8);

    private static PerChannelMinMaxObserver WeightObserver() =>
        new(new ObserverOptions { DType = QuantDType.QInt8, QScheme = QScheme.PerChannelSymmetric });

    private static void WithinOneCode(int[] expected, int[] actual)
    {
        Assert.Equal(expected.Length, actual.Length);
        int off = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            Assert.True(Math.Abs(expected[i] - actual[i]) <= 1, $"Element {i}: expected {expected[i]}, got {actual[i]}.");
            off += expected[i] != actual[i] ? 1 : 0;
        }

        Assert.True(off <= expected.Length / 20, $"{off} of {expected.Length} codes differ; rounding should rarely matter.");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Linear_matches_float_math_on_dequantized_operands(bool relu)
    {
        var weight = TestData.Random(1, 0.5f, 24, 37);
        var bias = TestData.Random(2, 1f, 24);
        var stage = new QuantizedOutputStage(weight, bias, WeightObserver(), relu);
        var layer = new QuantizedLinear(stage, s_output);
        var x = QuantizedTensor.Quantize(TestData.Random(3, 5f, 5, 37), s_input);

        var y = layer.Forward(new Variable(x)).Quantized!;

        var xf = x.Dequantize().AsSpan();
        var wf = stage.Weight.Dequantize().AsSpan();
        var expected = new Tensor(5, 24);
        for (int n = 0; n < 5; n++)
        {
            for (int o = 0; o < 24; o++)
            {
                double sum = bias.AsSpan()[o];
                for (int k = 0; k < 37; k++)
                    sum += (double)xf[n * 37 + k] * wf[o * 37 + k];
                expected.AsSpan()[n * 24 + o] = relu ? (float)Math.Max(sum, 0) : (float)sum;
            }
        }

        Assert.Equal(s_output, y.QParams);
        WithinOneCode(QuantizedTensor.Quantize(expected, s_output).IntRepr(), y.IntRepr());
        if (relu)
            Assert.All(y.IntRepr(), q => Assert.True(q >= s_output.ZeroPoint));
    }

    [Theory]
    [InlineData(1, 1, false)]
    [InlineData(2, 1, true)]
    [InlineData(1, 2, false)]
    public void Conv2d_matches_float_math_on_dequantized_operands(int stride, int groups, bool relu)
    {
        var g = new Conv2dGeometry(4, 6, 3, 3, stride, stride, 1, 1, 1, 1, Groups: groups);
        var weight = TestData.Random(4, 0.5f, 6, 4 / groups, 3, 3);
        var bias = TestData.Random(5, 1f, 6);
        var stage = new QuantizedOutputStage(weight, bias, WeightObserver(), relu);
        var layer = new QuantizedConv2d(g, stage, s_output);
        var x = QuantizedTensor.Quantize(TestData.Random(6, 3f, 2, 4, 9, 7), s_input);

        var y = layer.Forward(new Variable(x)).Quantized!;

        var reference = ConvReference.Conv2d(x.Dequantize().AsSpan(), 2, 9, 7, stage.Weight.Dequantize().AsSpan(), bias.AsSpan(), g);
        var expected = new Tensor(reference.Select(v => relu ? (float)Math.Max(v, 0) : (float)v).ToArray(), y.Shape);
        WithinOneCode(QuantizedTensor.Quantize(expected, s_output).IntRepr(), y.IntRepr());
    }

    [Fact]
    public void Quantized_layers_reject_float_input_with_advice()
    {
        var layer = new QuantizedLinear(new QuantizedOutputStage(TestData.Random(1, 1, 3, 4), null, WeightObserver(), false), s_output);
        var e = Assert.Throws<ArgumentException>(() => layer.Forward(new Variable(TestData.Random(2, 1, 2, 4))));
        Assert.Contains("QuantStub", e.Message);
        var wrongWidth = QuantizedTensor.Quantize(TestData.Random(2, 1, 2, 5), s_input);
        Assert.Throws<ArgumentException>(() => layer.Forward(new Variable(wrongWidth)));
    }

    [Fact]
    public void Relu_flatten_and_dequant_stub_keep_data_quantized_with_its_parameters()
    {
        var x = QuantizedTensor.Quantize(TestData.Random(7, 5f, 2, 3, 2, 2), s_input);
        var relu = new ReLU().Forward(new Variable(x));
        Assert.Equal(x.IntRepr().Select(q => Math.Max(q, 100)), relu.Quantized!.IntRepr());
        var six = new ReLU6().Forward(new Variable(x)).Quantized!;
        // quantize(6) = 100 + 6 / 0.05 = 220.
        Assert.Equal(x.IntRepr().Select(q => Math.Clamp(q, 100, 220)), six.IntRepr());
        var flat = new Flatten().Forward(relu);
        Assert.Equal([2, 12], flat.Quantized!.Shape.ToArray());
        var back = new DeQuantStub().Forward(flat);
        Assert.False(back.IsQuantized);
        Assert.Equal(flat.Quantized.Dequantize().AsSpan().ToArray(), back.Value.AsSpan().ToArray());
    }
}
