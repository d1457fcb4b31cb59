// Recipe 3, post-training static quantization: QuantStub/DeQuantStub around the CNN (QuantWrapper), fuse
// conv+bn+relu, insert observers, calibrate on training images, convert; then compare layer by layer.
using System.Globalization;
using Quantization;
using Quantization.Nn;
using Quantization.Nn.Models;
using Quantization.Samples;
using Quantization.Workflows;

CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var data = MnistSetup.Load();
var floatCnn = MnistSetup.TrainedCnn(data);
Report.Print("FP32 CNN", floatCnn, data);

string[][] blocks = [["module.features.0", "module.features.1", "module.features.2"], ["module.features.4", "module.features.5", "module.features.6"]];
Module Fused()
{
    var cnn = MnistModels.Cnn();
    cnn.Load(MnistSetup.FloatModelPath("cnn"));
    var wrapped = new QuantWrapper(cnn);
    Quantizer.FuseModules(wrapped.Eval(), blocks);
    return wrapped;
}

foreach (var backend in new[] { QuantBackend.X86, QuantBackend.Qnnpack })
{
    var prepared = Quantizer.Prepare(Fused(), QConfig.GetDefault(backend));
    Console.WriteLine($"{backend}: calibrating on 2,048 training images");
    using (Autograd.NoGrad())
    {
        for (int start = 0; start < 2048; start += 256)
            prepared.Forward(new Tensor(data.TrainImages.AsSpan().Slice(start * 784, 256 * 784), 256, 1, 28, 28));
    }

    var quantized = Quantizer.Convert(prepared);
    Report.Print($"static {backend}", quantized, data);
    foreach (var layer in Quantizer.CompareModels(Fused(), quantized, MnistSetup.TestBatch(data, 256)))
        Console.WriteLine($"  {layer.Name,-22} {layer.QuantizedType,-16} weights {layer.WeightSqnr,5:F1} dB   output {layer.OutputSqnr,5:F1} dB");
}
