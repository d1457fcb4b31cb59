// Recipe 2, dynamic quantization: the MLP's Linear layers get INT8 weights (per tensor, symmetric); activations are
// quantized on the fly in every call. No calibration data is needed.
using System.Globalization;
using Quantization.Nn.Models;
using Quantization.Samples;
using Quantization.Workflows;

CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
var data = MnistSetup.Load();
var floatMlp = MnistSetup.TrainedMlp(data);
Report.Print("FP32 MLP", floatMlp, data);

var mlp = MnistModels.Mlp();
mlp.Load(MnistSetup.FloatModelPath("mlp"));
var dynamicMlp = Quantizer.QuantizeDynamic(mlp.Eval(), qconfig: QConfig.GetDefaultDynamic(QuantBackend.X86));
Console.WriteLine(string.Join(Environment.NewLine, dynamicMlp.NamedModules().Where(m => m.Module.GetType().Name.Contains("Quantized", StringComparison.Ordinal)).Select(m => $"  {m.Name}: {m.Module}")));
Report.Print("dynamic INT8", dynamicMlp, data);
