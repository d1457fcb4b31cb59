// Recipe 4, quantization-aware training: fuse conv+bn+relu keeping the batch norms trainable, fake-quantize weights
// and activations while fine-tuning, freeze observers and batch-norm statistics for the last epoch, convert.
using System.Globalization;
using Quantization.Nn;
using Quantization.Nn.Models;
using Quantization.Samples;
using Quantization.Workflows;

CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var data = MnistSetup.Load();
var floatCnn = MnistSetup.TrainedCnn(data);
Report.Print("FP32 CNN", floatCnn, data);

var cnn = MnistModels.Cnn();
cnn.Load(MnistSetup.FloatModelPath("cnn"));
var model = new QuantWrapper(cnn);
Quantizer.FuseModulesQat(model, [["module.features.0", "module.features.1", "module.features.2"], ["module.features.4", "module.features.5", "module.features.6"]]);
var training = Quantizer.PrepareQat(model, QConfig.GetDefaultQat(QuantBackend.X86));
var optimizer = new Adam(training.Parameters(), 1e-4f);
var loader = new DataLoader(data.TrainImages, data.TrainLabels, batchSize: 64, shuffle: true, seed: 3);
for (int epoch = 0; epoch < 2; epoch++)
{
    if (epoch == 1)
    {
        // PyTorch's recipe: late in training, stop moving the scales and use the running batch-norm statistics.
        Quantizer.DisableObservers(training);
        Quantizer.FreezeBatchNormStats(training);
    }

    Training.Fit(training, optimizer, loader, epochs: 1, log: line => Console.WriteLine($"  QAT epoch {epoch + 1}/2: {line[(line.IndexOf(':', StringComparison.Ordinal) + 2)..]}"));
    Console.WriteLine($"  simulated INT8 accuracy {MnistSetup.Accuracy(training, data):F2}%");
}

var quantized = Quantizer.Convert(training.Eval());
Report.Print("QAT INT8", quantized, data);
