// QuickStart: the four ways to an INT8 model, on MNIST, in one table.
// FP32 CNN and MLP (trained once, then cached) -> dynamic (MLP), static with calibration (CNN), and
// quantization-aware training (CNN); for each: test accuracy, model file size and latency per batch of 64.
using System.Globalization;
using Quantization;
using Quantization.Nn;
using Quantization.Samples;
using Quantization.Workflows;

CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
Console.WriteLine("Quantization QuickStart: FP32 vs INT8 on MNIST (8,000 training and 2,000 test digits)");

Console.WriteLine("[1/5] MNIST");
var data = MnistSetup.Load();

Console.WriteLine("[2/5] Float models");
var floatCnn = MnistSetup.TrainedCnn(data);
var floatMlp = MnistSetup.TrainedMlp(data);

// The CNN's conv -> batch norm -> ReLU blocks, fused before quantization (names inside QuantWrapper's "module").
string[][] fusion = [["module.features.0", "module.features.1", "module.features.2"], ["module.features.4", "module.features.5", "module.features.6"]];

Console.WriteLine("[3/5] Dynamic quantization of the MLP: INT8 weights, activations quantized per call");
var dynamicMlp = Quantizer.QuantizeDynamic(Reload("mlp", Quantization.Nn.Models.MnistModels.Mlp));

Console.WriteLine("[4/5] Static quantization of the CNN: fuse, prepare, calibrate on 1,024 training images, convert");
var staticCnn = new QuantWrapper(Reload("cnn", Quantization.Nn.Models.MnistModels.Cnn));
Quantizer.FuseModules(staticCnn, fusion);
var staticInt8 = Quantizer.Quantize(staticCnn, QConfig.GetDefault(QuantBackend.X86), model =>
{
    for (int start = 0; start < 1024; start += 256)
        model.Forward(new Tensor(data.TrainImages.AsSpan().Slice(start * 784, 256 * 784), 256, 1, 28, 28));
});

Console.WriteLine("[5/5] Quantization-aware training of the CNN: one epoch of fine-tuning with fake quantization");
var qatInt8 = QatCnn();

Console.WriteLine();
var batch = MnistSetup.TestBatch(data, 64);
var rows = new (string Workflow, string Model, Module Module)[]
{
    ("FP32", "CNN", floatCnn), ("static INT8", "CNN", staticInt8), ("QAT INT8", "CNN", qatInt8),
    ("FP32", "MLP", floatMlp), ("dynamic INT8", "MLP", dynamicMlp),
};
Console.WriteLine("| workflow     | model | accuracy | size (MB) | latency per batch of 64 (ms) |");
Console.WriteLine("|--------------|-------|----------|-----------|------------------------------|");
foreach (var (workflow, modelName, module) in rows)
{
    string file = Path.Combine(Path.GetTempPath(), $"quickstart-{Guid.NewGuid():N}.qnn");
    module.Save(file);
    double megabytes = new FileInfo(file).Length / 1e6;
    File.Delete(file);
    Console.WriteLine($"| {workflow,-12} | {modelName,-5} | {MnistSetup.Accuracy(module, data),7:F2}% | {megabytes,9:F3} | {MnistSetup.LatencyMs(module, batch),28:F3} |");
}

Console.WriteLine();
Console.WriteLine("Latencies are medians of 30 runs on this machine, for a quick look; benchmarks/ measures them properly.");

Module Reload(string name, Func<Module> create)
{
    var model = create();
    model.Load(MnistSetup.FloatModelPath(name));
    return model.Eval();
}

// QAT takes a minute, so its result is cached too: a model quantized the same way takes the saved state.
Module QatCnn()
{
    string path = Path.Combine(MnistSetup.CacheDirectory, "mnist-cnn-qat-int8.qnn");
    var model = new QuantWrapper(Reload("cnn", Quantization.Nn.Models.MnistModels.Cnn));
    Quantizer.FuseModulesQat(model, fusion);
    var prepared = Quantizer.PrepareQat(model, QConfig.GetDefaultQat(QuantBackend.X86));
    if (File.Exists(path))
    {
        using (Autograd.NoGrad())
            prepared.Forward(MnistSetup.TestBatch(data, 8));
        var structure = Quantizer.Convert(prepared.Eval());
        structure.Load(path);
        Console.WriteLine($"  loaded from {path}");
        return structure;
    }

    var loader = new DataLoader(data.TrainImages, data.TrainLabels, batchSize: 64, shuffle: true, seed: 3);
    Quantization.Nn.Models.Training.Fit(prepared, new Adam(prepared.Parameters(), 1e-4f), loader, epochs: 1, log: line => Console.WriteLine($"    {line}"));
    Quantizer.DisableObservers(prepared);
    Quantizer.FreezeBatchNormStats(prepared);
    var quantized = Quantizer.Convert(prepared.Eval());
    quantized.Save(path);
    return quantized;
}
