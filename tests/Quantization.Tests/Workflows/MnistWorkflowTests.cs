using Quantization.Nn;
using Quantization.Nn.Models;
using Quantization.Nn.Quantized;
using Quantization.Tests.Assets;
using Quantization.Workflows;
using Xunit;

namespace Quantization.Tests.Workflows;

/// <summary>Float MNIST models trained once (briefly) for every end-to-end workflow test.</summary>
public sealed class MnistModelsFixture
{
    public MnistModelsFixture()
    {
        var mnist = MnistFixture.Digits.Value;
        var (train, test) = mnist.Split();
        (TrainImages, TrainLabels) = mnist.ToTensors(train);
        (TestImages, TestLabels) = mnist.ToTensors(test);

        Init.ManualSeed(1);
        Cnn = MnistModels.Cnn();
        Training.Fit(Cnn, new Adam(Cnn.Parameters(), 2e-3f), new DataLoader(TrainImages, TrainLabels, 64, shuffle: true, seed: 1), epochs: 2);
        CnnAccuracy = Training.Accuracy(Cnn, TestImages, TestLabels);

        Init.ManualSeed(1);
        Mlp = MnistModels.Mlp();
        Training.Fit(Mlp, new Adam(Mlp.Parameters(), 1e-3f), new DataLoader(TrainImages, TrainLabels, 64, shuffle: true, seed: 1), epochs: 5);
        MlpAccuracy = Training.Accuracy(Mlp, TestImages, TestLabels);
    }

    public Tensor TrainImages { get; }

    public int[] TrainLabels { get; }

    public Tensor TestImages { get; }

    public int[] TestLabels { get; }

    public Module Cnn { get; }

    public double CnnAccuracy { get; }

    public Module Mlp { get; }

    public double MlpAccuracy { get; }

    /// <summary>A fresh copy of a trained model (the workflows change models in place).</summary>
    public static Module Copy(Module trained, Func<Module> create)
    {
        var copy = create();
        copy.LoadStateDict(trained.StateDict());
        return copy.Eval();
    }
}

/// <summary>The accuracy and size targets on the MNIST test split, for each workflow.</summary>
public class MnistWorkflowTests(MnistModelsFixture fixture, ITestOutputHelper output) : IClassFixture<MnistModelsFixture>
{
    private static readonly string[][] s_fusion =
        [["module.features.0", "module.features.1", "module.features.2"], ["module.features.4", "module.features.5", "module.features.6"]];

    private void Calibrate(Module model)
    {
        foreach (var (images, _) in new DataLoader(fixture.TrainImages, fixture.TrainLabels, 256).Take(4))
            model.Forward(images);
    }

    private Module StaticCnn() => StaticQuantize(MnistModelsFixture.Copy(fixture.Cnn, MnistModels.Cnn));

    private Module StaticQuantize(Module cnn)
    {
        var model = new QuantWrapper(cnn);
        Quantizer.FuseModules(model.Eval(), s_fusion);
        return Quantizer.Quantize(model, QConfig.GetDefault(), Calibrate);
    }

    [Fact]
    public void Static_int8_cnn_is_within_half_a_point_of_fp32()
    {
        var quantized = StaticCnn();
        Assert.Contains(quantized.NamedModules(), m => m.Module is QuantizedConv2d);
        double accuracy = Training.Accuracy(quantized, fixture.TestImages, fixture.TestLabels);
        output.WriteLine($"FP32 CNN {fixture.CnnAccuracy:P2}, static INT8 {accuracy:P2}");
        Assert.True(fixture.CnnAccuracy > 0.95, $"The float CNN should learn MNIST: {fixture.CnnAccuracy:P2}");
        Assert.True(accuracy >= fixture.CnnAccuracy - 0.005, $"INT8 {accuracy:P2} vs FP32 {fixture.CnnAccuracy:P2}");
    }

    [Fact]
    public void Dynamic_int8_mlp_is_within_a_fifth_of_a_point_of_fp32()
    {
        var model = Quantizer.QuantizeDynamic(MnistModelsFixture.Copy(fixture.Mlp, MnistModels.Mlp));
        Assert.Equal(3, model.NamedModules().Count(m => m.Module is DynamicQuantizedLinear));
        double accuracy = Training.Accuracy(model, fixture.TestImages, fixture.TestLabels);
        output.WriteLine($"FP32 MLP {fixture.MlpAccuracy:P2}, dynamic INT8 {accuracy:P2}");
        Assert.True(fixture.MlpAccuracy > 0.93, $"The float MLP should learn MNIST: {fixture.MlpAccuracy:P2}");
        Assert.True(Math.Abs(accuracy - fixture.MlpAccuracy) <= 0.002, $"INT8 {accuracy:P2} vs FP32 {fixture.MlpAccuracy:P2}");
    }

    [Fact]
    public void Qat_cnn_is_within_a_fifth_of_a_point_of_fp32()
    {
        var model = new QuantWrapper(MnistModelsFixture.Copy(fixture.Cnn, MnistModels.Cnn));
        Quantizer.FuseModulesQat(model, s_fusion);
        var prepared = Quantizer.PrepareQat(model, QConfig.GetDefaultQat());
        var loader = new DataLoader(fixture.TrainImages, fixture.TrainLabels, 64, shuffle: true, seed: 3);
        var optimizer = new Adam(prepared.Parameters(), 1e-4f);
        Training.Fit(prepared, optimizer, loader, epochs: 1);
        Quantizer.DisableObservers(prepared);
        Quantizer.FreezeBatchNormStats(prepared);
        var quantized = Quantizer.Convert(prepared.Eval());
        double accuracy = Training.Accuracy(quantized, fixture.TestImages, fixture.TestLabels);
        output.WriteLine($"FP32 CNN {fixture.CnnAccuracy:P2}, QAT INT8 {accuracy:P2}");
        Assert.True(accuracy >= fixture.CnnAccuracy - 0.002, $"QAT INT8 {accuracy:P2} vs FP32 {fixture.CnnAccuracy:P2}");
    }

    [Fact]
    public void Quantized_models_save_to_a_quarter_of_the_size_and_load_back_exactly()
    {
        string dir = Path.Combine(Path.GetTempPath(), "quantization-workflow-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            foreach (var (name, trained, create, quantize) in new (string, Module, Func<Module>, Func<Module, Module>)[]
            {
                ("cnn", fixture.Cnn, MnistModels.Cnn, StaticQuantize),
                ("mlp", fixture.Mlp, MnistModels.Mlp, m => Quantizer.QuantizeDynamic(m)),
            })
            {
                string floatPath = Path.Combine(dir, name + "-fp32.qnn"), int8Path = Path.Combine(dir, name + "-int8.qnn");
                trained.Save(floatPath);
                var quantized = quantize(MnistModelsFixture.Copy(trained, create));
                quantized.Save(int8Path);
                double ratio = (double)new FileInfo(floatPath).Length / new FileInfo(int8Path).Length;
                output.WriteLine($"{name}: {new FileInfo(floatPath).Length:N0} -> {new FileInfo(int8Path).Length:N0} bytes, ratio {ratio:F2}");
                Assert.True(ratio >= 3.8, $"{name}: size ratio {ratio:F2}");

                // A model quantized the same way (from other weights, calibrated on other data) takes the saved state.
                Init.ManualSeed(77);
                var fresh = quantize(create().Eval());
                Assert.NotEqual(quantized.Forward(fixture.TestImages).AsSpan().ToArray(), fresh.Forward(fixture.TestImages).AsSpan().ToArray());
                fresh.Load(int8Path);
                Assert.Equal(quantized.Forward(fixture.TestImages).AsSpan().ToArray(), fresh.Forward(fixture.TestImages).AsSpan().ToArray());
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void CompareModels_reports_weight_and_output_sqnr_per_layer()
    {
        var reference = new QuantWrapper(MnistModelsFixture.Copy(fixture.Cnn, MnistModels.Cnn));
        Quantizer.FuseModules(reference.Eval(), s_fusion);
        var quantized = StaticCnn();
        var batch = new DataLoader(fixture.TestImages, fixture.TestLabels, 128).First().Inputs;

        var report = Quantizer.CompareModels(reference, quantized, batch);

        Assert.Equal(["module.features.0", "module.features.4", "module.classifier.1"], report.Select(r => r.Name));
        foreach (var layer in report)
        {
            output.WriteLine($"{layer.Name}: {layer.FloatType} -> {layer.QuantizedType}, weights {layer.WeightSqnr:F1} dB, output {layer.OutputSqnr:F1} dB");
            Assert.InRange(layer.WeightSqnr!.Value, 25, 80);
            Assert.InRange(layer.OutputSqnr, 15, 80);
        }

        // The reference model is unchanged and still computes float outputs.
        Assert.IsType<Quantization.Nn.Intrinsic.ConvReLU2d>(reference.GetSubmodule("module.features.0"));
        Assert.Throws<ArgumentException>(() => Quantizer.CompareModels(reference, reference, batch));
    }
}
