// Recipe 1, a model that is already quantized: load a saved INT8 CNN and run it. The file holds the INT8 weights,
// scales and zero points; the module structure comes from quantizing the float architecture the same way (with any
// calibration data), after which Load replaces every value. The first run creates the file with static quantization.
using System.Globalization;
using Quantization;
using Quantization.Nn;
using Quantization.Nn.Models;
using Quantization.Samples;
using Quantization.Workflows;

CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var data = MnistSetup.Load();
string path = Path.Combine(MnistSetup.CacheDirectory, "mnist-cnn-static-int8.qnn");
string[][] blocks = [["module.features.0", "module.features.1", "module.features.2"], ["module.features.4", "module.features.5", "module.features.6"]];
// Eight test digits spread over the split (it is sorted by label).
int[] picks = [.. Enumerable.Range(0, 8).Select(i => i * 250 + 7)];
var anyBatch = new Tensor(picks.SelectMany(i => data.TestImages.AsSpan().Slice(i * 784, 784).ToArray()).ToArray(), 8, 1, 28, 28);

Module QuantizedStructure(Module cnn, Tensor calibration)
{
    var wrapped = new QuantWrapper(cnn);
    Quantizer.FuseModules(wrapped.Eval(), blocks);
    return Quantizer.Quantize(wrapped, QConfig.GetDefault(QuantBackend.X86), m => m.Forward(calibration));
}

if (!File.Exists(path))
{
    Console.WriteLine($"No saved INT8 model yet: quantizing the float CNN and saving it to {path}");
    MnistSetup.TrainedCnn(data);
    var cnn = MnistModels.Cnn();
    cnn.Load(MnistSetup.FloatModelPath("cnn"));
    QuantizedStructure(cnn, new Tensor(data.TrainImages.AsSpan()[..(1024 * 784)], 1024, 1, 28, 28)).Save(path);
}

var model = QuantizedStructure(MnistModels.Cnn(), anyBatch);
model.Load(path);
Console.WriteLine($"Loaded {path} ({new FileInfo(path).Length:N0} bytes):");
foreach (var (name, module) in model.NamedModules().Where(m => m.Module.GetType().Namespace == "Quantization.Nn.Quantized"))
    Console.WriteLine($"  {name}: {module}");
Report.Print("loaded INT8", model, data);
var logits = model.Forward(anyBatch);
Console.WriteLine($"First digits: predicted [{string.Join(", ", Enumerable.Range(0, 8).Select(i => System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.AsSpan().Slice(i * 10, 10))))}], labels [{string.Join(", ", picks.Select(i => data.TestLabels[i]))}]");
