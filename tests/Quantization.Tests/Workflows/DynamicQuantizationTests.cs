using Quantization.Kernels.Quantized;
using Quantization.Nn;
using Quantization.Nn.Quantized;
using Quantization.Workflows;
using Xunit;

namespace Quantization.Tests.Workflows;

/// <summary>QuantizeDynamic: dynamic Linear against float math on the quantized operands, LSTM against the float layer.</summary>
public class DynamicQuantizationTests
{

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Dynamic_linear_is_float_math_on_per_call_quantized_inputs(bool reduceRange)
    {
        Init.ManualSeed(4);
        var linear = new Linear(29, 13);
        var x = TestData.Random(1, 3f, 6, 29);
        var qconfig = reduceRange ? QConfig.GetDefaultDynamic(QuantBackend.X86) : QConfig.GetDefaultDynamic(QuantBackend.Qnnpack);
        var layer = Assert.IsType<DynamicQuantizedLinear>(Quantizer.QuantizeDynamic(linear, [typeof(Linear)], qconfig));
        Assert.Equal(reduceRange, layer.ReduceRange);

        var y = layer.Forward(x);

        var (scale, zp) = DynamicQuantization.ChooseQParams(x.Min(), x.Max(), 0, 255, reduceRange: reduceRange);
        Assert.Equal(reduceRange ? 127 : 255, (int)Math.Round((x.Max() - x.Min()) / scale));
        var xq = QuantizedTensor.Quantize(x, QuantParams.PerTensorAffine(scale, zp, QuantDType.QUInt8)).Dequantize().AsSpan();
        var wq = layer.Weight.Dequantize().AsSpan();
        for (int n = 0; n < 6; n++)
        {
            for (int o = 0; o < 13; o++)
            {
                double sum = layer.Bias!.AsSpan()[o];
                for (int k = 0; k < 29; k++)
                    sum += (double)xq[n * 29 + k] * wq[o * 29 + k];
                Assert.Equal(sum, y.AsSpan()[n * 13 + o], 4);
            }
        }

        Assert.Throws<ArgumentException>(() => layer.Forward(TestData.Random(2, 1f, 6, 28)));
        var nan = TestData.Random(3, 1f, 2, 29);
        nan.AsSpan()[5] = float.NaN;
        Assert.Throws<ArgumentException>(() => layer.Forward(nan));
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, true)]
    public void Dynamic_lstm_tracks_the_float_lstm(bool batchFirst, bool withState)
    {
        Init.ManualSeed(8);
        var lstm = new LSTM(10, 16, numLayers: 2, batchFirst: batchFirst);
        var x = TestData.Random(5, 1f, batchFirst ? [3, 7, 10] : [7, 3, 10]);
        (Variable, Variable)? state = withState ? (new Variable(TestData.Random(6, 0.5f, 2, 3, 16)), new Variable(TestData.Random(7, 0.5f, 2, 3, 16))) : null;
        var (expected, (eh, ec)) = lstm.Forward(new Variable(x), state);

        var model = new Sequential(lstm);
        Quantizer.QuantizeDynamic(model, [typeof(LSTM)]);
        var quantized = Assert.IsType<DynamicQuantizedLSTM>(model[0]);
        var (actual, (ah, ac)) = quantized.Forward(new Variable(x), state);

        Assert.Equal(expected.Shape.ToArray(), actual.Shape.ToArray());
        Assert.True(TestData.Sqnr(expected.Value, actual.Value) > 25, $"Output SQNR {TestData.Sqnr(expected.Value, actual.Value):F1} dB");
        Assert.True(TestData.Sqnr(eh.Value, ah.Value) > 25);
        Assert.True(TestData.Sqnr(ec.Value, ac.Value) > 25);
        Assert.Equal(["0.weight_ih_l0", "0.weight_hh_l0", "0.weight_ih_l1", "0.weight_hh_l1"], model.QuantizedStateDict().Keys);
        Assert.Throws<ArgumentException>(() => quantized.Forward(new Variable(TestData.Random(1, 1f, 7, 3, 11))));
    }

    [Fact]
    public void QuantizeDynamic_by_name_and_its_errors()
    {
        var model = new Sequential(new Linear(4, 4), new ReLU(), new Linear(4, 2));
        Quantizer.QuantizeDynamic(model, ["2"]);
        Assert.IsType<Linear>(model[0]);
        Assert.IsType<DynamicQuantizedLinear>(model[2]);
        Assert.Contains("already", Assert.Throws<InvalidOperationException>(() => Quantizer.QuantizeDynamic(model)).Message);
        Assert.Contains("ReLU", Assert.Throws<ArgumentException>(() => Quantizer.QuantizeDynamic(new Sequential(new ReLU()), ["0"])).Message);
        Assert.Contains("Conv2d", Assert.Throws<ArgumentException>(() => Quantizer.QuantizeDynamic(new Sequential(new ReLU()), [typeof(Conv2d)])).Message);
        Assert.Throws<ArgumentException>(() => Quantizer.QuantizeDynamic(new Linear(2, 2), dtype: QuantDType.QUInt8));
        Assert.Throws<ArgumentException>(() => Quantizer.QuantizeDynamic(new Sequential(new Linear(2, 2)), ["5"]));
    }
}
