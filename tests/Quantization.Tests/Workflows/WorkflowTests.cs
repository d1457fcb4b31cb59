using Quantization.Nn;
using Quantization.Nn.Intrinsic;
using Quantization.Nn.Qat;
using Quantization.Nn.Quantized;
using Quantization.Observers;
using Quantization.Workflows;
using Xunit;

namespace Quantization.Tests.Workflows;

/// <summary>FuseModules, Prepare/Convert and PrepareQat on small models, including the ways they can be misused.</summary>
public class WorkflowTests
{

    private static Sequential SmallCnn()
    {
        Init.ManualSeed(11);
        return new Sequential(
            new QuantStub(),
            new Conv2d(2, 8, 3, padding: 1), new BatchNorm2d(8), new ReLU(), new MaxPool2d(2),
            new Conv2d(8, 8, 3, padding: 1, groups: 8), new ReLU(),
            new Flatten(), new Linear(8 * 4 * 4, 16), new ReLU(), new Linear(16, 5),
            new DeQuantStub());
    }

    private static void RandomizeBatchNorm(BatchNorm2d bn, int seed)
    {
        var rng = new Random(seed);
        for (int c = 0; c < bn.NumFeatures; c++)
        {
            bn.RunningMean.AsSpan()[c] = (float)(rng.NextDouble() - 0.5);
            bn.RunningVar.AsSpan()[c] = (float)(0.5 + rng.NextDouble());
            bn.Weight!.Value.AsSpan()[c] = (float)(0.5 + rng.NextDouble());
            bn.Bias!.Value.AsSpan()[c] = (float)(rng.NextDouble() - 0.5);
        }
    }

    [Fact]
    public void FuseModules_folds_batch_norm_into_the_convolution_exactly_enough()
    {
        var model = SmallCnn();
        RandomizeBatchNorm((BatchNorm2d)model[2], 3);
        model.Eval();
        var x = TestData.Random(1, 1f, 2, 2, 8, 8);
        var before = model.Forward(x);

        Quantizer.FuseModules(model, [["1", "2", "3"], ["5", "6"], ["8", "9"]]);

        Assert.IsType<ConvReLU2d>(model[1]);
        Assert.IsType<Identity>(model[2]);
        Assert.IsType<Identity>(model[3]);
        Assert.IsType<ConvReLU2d>(model[5]);
        Assert.IsType<LinearReLU>(model[8]);
        var after = model.Forward(x);
        for (int i = 0; i < before.Length; i++)
            Assert.True(Math.Abs(before.AsSpan()[i] - after.AsSpan()[i]) <= 1e-4f, $"Element {i}: {before.AsSpan()[i]} vs {after.AsSpan()[i]}.");
    }

    [Fact]
    public void FuseModules_rejects_groups_that_do_not_match()
    {
        var model = SmallCnn();
        Assert.Contains("match no pattern", Assert.Throws<ArgumentException>(() => Quantizer.FuseModules(model.Eval(), [["1", "4"]])).Message);
        Assert.Contains("'7'", Assert.Throws<ArgumentException>(() => Quantizer.FuseModules(model, [["1", "7x"]])).Message.Replace("7x", "7", StringComparison.Ordinal));
        model.Train();
        Assert.Contains("evaluation mode", Assert.Throws<ArgumentException>(() => Quantizer.FuseModules(model, [["1", "2"]])).Message);
        Assert.IsType<Conv2d>(model[1]);
    }

    [Fact]
    public void Static_quantization_keeps_int8_between_layers_and_tracks_the_float_model()
    {
        var model = SmallCnn();
        RandomizeBatchNorm((BatchNorm2d)model[2], 4);
        model.Eval();
        var calibration = Enumerable.Range(0, 4).Select(i => TestData.Random(10 + i, 1f, 8, 2, 8, 8)).ToList();
        var test = TestData.Random(99, 1f, 16, 2, 8, 8);
        var expected = model.Forward(test);

        Quantizer.FuseModules(model, [["1", "2", "3"], ["5", "6"], ["8", "9"]]);
        var prepared = Quantizer.Prepare(model, QConfig.GetDefault());
        Assert.IsType<ObservedModule>(((Sequential)prepared)[0]);
        foreach (var batch in calibration)
            prepared.Forward(batch);
        var quantized = (Sequential)Quantizer.Convert(prepared);

        Assert.IsType<Quantize>(quantized[0]);
        Assert.IsType<QuantizedConv2d>(quantized[1]);
        Assert.True(((QuantizedConv2d)quantized[1]).Relu);
        Assert.IsType<QuantizedLinear>(quantized[8]);
        Assert.IsType<QuantizedLinear>(quantized[10]);

        // Every layer between the stubs hands INT8 data on.
        var x = new Variable(test);
        for (int i = 0; i < quantized.Count - 1; i++)
        {
            x = quantized[i].Forward(x);
            Assert.True(x.IsQuantized, $"Layer {i} ({quantized[i].GetType().Name}) returned FP32.");
        }

        var actual = quantized.Forward(test);
        Assert.False(double.IsNaN(TestData.Sqnr(expected, actual)));
        Assert.True(TestData.Sqnr(expected, actual) > 20, $"SQNR {TestData.Sqnr(expected, actual):F1} dB");
    }

    [Fact]
    public void Convert_needs_a_prepared_and_calibrated_model()
    {
        var e = Assert.Throws<InvalidOperationException>(() => Quantizer.Convert(SmallCnn()));
        Assert.Contains("Prepare", e.Message);

        var prepared = Quantizer.Prepare(SmallCnn().Eval(), QConfig.GetDefault());
        e = Assert.Throws<InvalidOperationException>(() => Quantizer.Convert(prepared));
        Assert.Contains("'0'", e.Message);
        Assert.Contains("no data", e.Message);

        e = Assert.Throws<InvalidOperationException>(() => Quantizer.Prepare(prepared, QConfig.GetDefault()));
        Assert.Contains("already", e.Message);
    }

    [Fact]
    public void A_null_qconfig_keeps_a_layer_float_and_a_layer_without_kernel_falls_back_with_a_message()
    {
        Init.ManualSeed(3);
        var model = new Sequential(new QuantStub(), new Linear(6, 6), new Tanh(), new Linear(6, 3), new DeQuantStub(), new Linear(3, 2));
        var mapping = new QConfigMapping().SetGlobal(QConfig.GetDefault()).SetModuleName("5", null);
        var prepared = Quantizer.Prepare(model.Eval(), mapping);
        var x = TestData.Random(5, 2f, 10, 6);
        var expected = model.Forward(x);
        prepared.Forward(x);
        var messages = new List<string>();
        var quantized = (Sequential)Quantizer.Convert(prepared, messages.Add);

        Assert.IsType<Linear>(quantized[5]);
        Assert.IsType<QuantizedFallback>(quantized[2]);
        Assert.Single(messages);
        Assert.Contains("'2' (Tanh)", messages[0]);
        Assert.True(TestData.Sqnr(expected, quantized.Forward(x)) > 25);
    }

    [Fact]
    public void QConfigMapping_prefers_names_over_types_over_inheritance()
    {
        var model = new Sequential(new Linear(2, 2), new Sequential(new Linear(2, 2), new ReLU()));
        var custom = QConfig.GetDefault(QuantBackend.Qnnpack);
        var resolved = new QConfigMapping()
            .SetGlobal(QConfig.GetDefault())
            .SetModuleType(typeof(Linear), custom)
            .SetModuleName("1", null)
            .SetModuleName("1.0", QConfig.GetDefault())
            .Resolve(model);
        Assert.Same(custom, resolved["0"]);
        Assert.Null(resolved["1"]);
        Assert.Null(resolved["1.1"]);
        Assert.NotNull(resolved["1.0"]);
        Assert.NotSame(custom, resolved["1.0"]);
        Assert.Throws<ArgumentException>(() => new QConfigMapping().SetModuleName("2", null).Resolve(model));
        Assert.Throws<ArgumentException>(() => new QConfigMapping().SetModuleType(typeof(string), null));
    }

    [Fact]
    public void Default_qconfigs_mirror_pytorch()
    {
        var x86 = QConfig.GetDefault(QuantBackend.X86);
        var activation = Assert.IsType<HistogramObserver>(x86.Activation());
        Assert.True(activation.Options.ReduceRange);
        Assert.Equal((0, 127), (activation.QuantMin, activation.QuantMax));
        var weight = Assert.IsType<PerChannelMinMaxObserver>(x86.Weight());
        Assert.Equal(QScheme.PerChannelSymmetric, weight.Options.QScheme);
        Assert.Equal(QuantDType.QInt8, weight.Options.DType);

        var qnnpack = QConfig.GetDefault(QuantBackend.Qnnpack);
        Assert.False(qnnpack.Activation().Options.ReduceRange);
        Assert.IsType<MinMaxObserver>(qnnpack.Weight());
        Assert.Equal(QScheme.PerTensorSymmetric, qnnpack.Weight().Options.QScheme);

        var qat = QConfig.GetDefaultQat();
        Assert.IsType<MovingAverageMinMaxObserver>(qat.Activation());
        Assert.IsType<MovingAveragePerChannelMinMaxObserver>(qat.Weight());
        Assert.NotSame(x86.Activation(), x86.Activation());
        Assert.Throws<ArgumentException>(() => QConfig.GetDefault((QuantBackend)42));
    }

    [Fact]
    public void FloatFunctional_observes_then_adds_quantized_inputs()
    {
        var add = new FloatFunctional();
        var a = TestData.Random(1, 2f, 4, 5);
        var b = TestData.Random(2, 2f, 4, 5);
        Assert.Throws<InvalidOperationException>(() => add.Forward(new Variable(a)));
        Assert.Throws<ArgumentException>(() => add.Add(new Variable(a), new Variable(TestData.Random(3, 1f, 5, 4))));

        var prepared = (FloatFunctional)Quantizer.Prepare(add, QConfig.GetDefault(QuantBackend.Qnnpack));
        var sum = prepared.AddRelu(new Variable(a), new Variable(b)).Value;
        Assert.Equal(Math.Max(a.AsSpan()[0] + b.AsSpan()[0], 0), sum.AsSpan()[0]);
        var converted = (FloatFunctional)Quantizer.Convert(prepared);
        Assert.True(converted.IsQuantized);

        var qa = QuantizedTensor.Quantize(a, QuantParams.PerTensorAffine(4f / 255, 128, QuantDType.QUInt8));
        var qb = QuantizedTensor.Quantize(b, QuantParams.PerTensorAffine(4f / 255, 128, QuantDType.QUInt8));
        var qsum = converted.AddRelu(new Variable(qa), new Variable(qb)).Quantized!;
        var expected = new Tensor(qa.Dequantize().AsSpan().ToArray().Zip(qb.Dequantize().AsSpan().ToArray(), (p, q) => Math.Max(p + q, 0)).ToArray(), 4, 5);
        Assert.Equal(QuantizedTensor.Quantize(expected, qsum.QParams).IntRepr(), qsum.IntRepr());
        Assert.Throws<ArgumentException>(() => converted.Add(new Variable(a), new Variable(qb)));
    }

    [Fact]
    public void FakeQuantize_passes_gradients_only_where_values_were_not_clamped()
    {
        var fq = new FakeQuantize(new MinMaxObserver(new ObserverOptions { DType = QuantDType.QUInt8 }));
        fq.Forward(new Variable(new Tensor([0f, 2.55f], 2)));   // scale 0.01, zero point 0
        fq.ObserverEnabled = false;
        var x = new Variable(new Tensor([-0.5f, 0.004f, 0.016f, 2.6f, 1.234f], 5), requiresGrad: true);
        var y = fq.Forward(x);
        Assert.Equal(new[] { 0f, 0f, 0.02f, 2.55f, 1.23f }, y.Value.AsSpan().ToArray().Select(v => MathF.Round(v, 4)).ToArray());
        y.Backward(new Tensor([1f, 1f, 1f, 1f, 1f], 5));
        Assert.Equal(new[] { 0f, 1f, 1f, 0f, 1f }, x.Grad!.AsSpan().ToArray());
    }

    [Fact]
    public void Qat_trains_and_converts_to_a_model_that_computes_what_training_simulated()
    {
        var model = SmallCnn();
        Quantizer.FuseModulesQat(model, [["1", "2", "3"], ["5", "6"], ["8", "9"]]);
        var prepared = (Sequential)Quantizer.PrepareQat(model, QConfig.GetDefaultQat());
        Assert.IsType<QatConvBn2d>(prepared[1]);
        Assert.IsType<QatConv2d>(prepared[5]);
        Assert.IsType<QatLinear>(prepared[8]);

        var optimizer = new SGD(prepared.Parameters(), 0.05f);
        var loss = new MSELoss();
        var x = TestData.Random(1, 1f, 16, 2, 8, 8);
        var target = TestData.Random(2, 1f, 16, 5);
        float first = 0, last = 0;
        for (int step = 0; step < 30; step++)
        {
            optimizer.ZeroGrad();
            var l = loss.Forward(prepared.Forward(new Variable(x)), new Variable(target));
            l.Backward();
            optimizer.Step();
            if (step == 0)
                first = l.Value.AsSpan()[0];
            last = l.Value.AsSpan()[0];
        }

        Assert.True(last < first * 0.8f, $"Loss {first} -> {last}");
        Quantizer.DisableObservers(prepared);
        Quantizer.FreezeBatchNormStats(prepared);
        prepared.Eval();
        var simulated = prepared.Forward(x);
        var quantized = Quantizer.Convert(prepared);
        Assert.IsType<QuantizedConv2d>(((Sequential)quantized)[1]);
        var actual = quantized.Forward(x);
        Assert.True(TestData.Sqnr(simulated, actual) > 30, $"SQNR between QAT simulation and INT8 {TestData.Sqnr(simulated, actual):F1} dB");
    }

    [Fact]
    public void Hardswish_and_bounded_activations_stay_quantized()
    {
        Init.ManualSeed(6);
        var model = new Sequential(new QuantStub(), new Linear(5, 8), new Hardswish(), new Sigmoid(), new Hardsigmoid(), new DeQuantStub());
        var x = TestData.Random(2, 3f, 32, 5);
        var expected = model.Eval().Forward(x);
        var quantized = (Sequential)Quantizer.Quantize(model, QConfig.GetDefault(), m => m.Forward(x));
        Assert.IsType<QuantizedHardswish>(quantized[2]);
        Assert.IsType<Sigmoid>(quantized[3]);
        var v = new Variable(x);
        for (int i = 0; i < 5; i++)
            v = quantized[i].Forward(v);
        Assert.Equal(QuantParams.PerTensorAffine(1f / 256, 0, QuantDType.QUInt8), v.Quantized!.QParams);
        Assert.True(TestData.Sqnr(expected, quantized.Forward(x)) > 30);
    }

    /// <summary>A forward that is not a chain of modules: a residual sum computed on tensors.</summary>
    private sealed class Residual : Module
    {
        public Residual()
        {
            RegisterModule("conv1", new Conv2d(3, 3, 3, padding: 1));
            RegisterModule("act", new Sigmoid());
            RegisterModule("conv2", new Conv2d(3, 3, 3, padding: 1));
        }

        public override Variable Forward(Variable input)
        {
            var y = GetSubmodule("conv2").Forward(GetSubmodule("act").Forward(GetSubmodule("conv1").Forward(input)));
            return new Variable(y.Value + input.Value);
        }
    }

    [Fact]
    public void Per_layer_preparation_quantizes_layers_without_stubs()
    {
        Init.ManualSeed(12);
        var model = new Residual();
        var x = TestData.Random(3, 1f, 4, 3, 10, 10);
        var expected = model.Forward(x);

        var prepared = Quantizer.Prepare(model, new QConfigMapping().SetGlobal(QConfig.GetDefault()), perLayer: true);
        Assert.IsType<ObservedModule>(prepared.GetSubmodule("conv1"));
        Assert.IsType<Sigmoid>(prepared.GetSubmodule("act"));
        prepared.Forward(x);
        var quantized = Quantizer.Convert(prepared);

        var layer = Assert.IsType<QdqLayer>(quantized.GetSubmodule("conv2"));
        Assert.IsType<QuantizedConv2d>(layer.Layer);
        var actual = quantized.Forward(x);
        Assert.True(TestData.Sqnr(expected, actual) > 25, $"SQNR {TestData.Sqnr(expected, actual):F1} dB");
        var report = Quantizer.CompareModels(new Residual(), quantized, x);
        Assert.Equal(["conv1", "conv2"], report.Select(r => r.Name));
    }

    [Fact]
    public void Folding_keeps_non_square_kernels_and_asymmetric_padding()
    {
        Init.ManualSeed(13);
        var conv = new Conv2d(3, 4, (3, 1), (2, 1), (1, 0, 2, 0), (1, 1));
        var bn = new BatchNorm2d(4);
        RandomizeBatchNorm(bn, 5);
        var model = new Sequential(conv, bn).Eval();
        var x = TestData.Random(4, 1f, 2, 3, 9, 5);
        var expected = model.Forward(x);
        Quantizer.FuseModules(model, [["0", "1"]]);
        var actual = model.Forward(x);
        Assert.Equal(expected.Shape.ToArray(), actual.Shape.ToArray());
        Assert.True(TestData.Sqnr(expected, actual) > 90, $"SQNR {TestData.Sqnr(expected, actual):F1} dB");
    }

    [Fact]
    public void Converted_FloatFunctional_multiplies_and_concatenates_on_quantized_data()
    {
        var fn = new FloatFunctional();
        var a = TestData.Random(1, 2f, 2, 3, 4);
        var b = TestData.Random(2, 1f, 2, 3, 4);
        var prepared = (FloatFunctional)Quantizer.Prepare(fn, QConfig.GetDefault(QuantBackend.Qnnpack));
        prepared.Mul(new Variable(a), new Variable(b));
        prepared.Cat([new Variable(a), new Variable(b)], dim: 1);
        var converted = (FloatFunctional)Quantizer.Convert(prepared);
        var qa = QuantizedTensor.Quantize(a, QuantParams.PerTensorAffine(4f / 255, 128, QuantDType.QUInt8));
        var qb = QuantizedTensor.Quantize(b, QuantParams.PerTensorAffine(2f / 255, 100, QuantDType.QUInt8));

        var product = converted.Mul(new Variable(qa), new Variable(qb)).Quantized!;
        var expectedProduct = new byte[qa.Length];
        Quantization.Kernels.Quantized.QuantizedOpsReference.Mul(qa.AsUInt8Span(), qa.QParams.Scale, qa.QParams.ZeroPoint,
            qb.AsUInt8Span(), qb.QParams.Scale, qb.QParams.ZeroPoint, product.QParams.Scale, product.QParams.ZeroPoint, false, expectedProduct);
        Assert.Equal(expectedProduct.Select(v => (int)v), product.IntRepr());

        var cat = converted.Cat([new Variable(qa), new Variable(qb)], dim: 1).Quantized!;
        Assert.Equal([2, 6, 4], cat.Shape.ToArray());
        var ra = QuantizedTensor.Quantize(qa.Dequantize(), cat.QParams).IntRepr();
        var rb = QuantizedTensor.Quantize(qb.Dequantize(), cat.QParams).IntRepr();
        // Image 0 holds a's 12 codes then b's 12; image 1 likewise.
        Assert.Equal(ra[..12].Concat(rb[..12]).Concat(ra[12..]).Concat(rb[12..]), cat.IntRepr());
        Assert.Throws<ArgumentException>(() => converted.Cat([new Variable(qa), new Variable(b)], dim: 1));
    }
}
