using System.Globalization;
using Quantization;
using Quantization.Observers;

// QuickStart: how FP32 values map to 8-bit integers and back.
// Later releases grow this into the full MNIST demonstration (float vs dynamic, static and QAT models).
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;

var activations = new Tensor([-1.2f, -0.4f, 0f, 0.013f, 0.5f, 0.91f, 2.4f, 3.7f], 8);
Console.WriteLine($"FP32 activations: {activations}");
Console.WriteLine();

// 1. An observer watches the values and chooses a scale and zero point (PyTorch's MinMaxObserver, QUInt8 affine).
var observer = new MinMaxObserver();
observer.Observe(activations);
QuantParams qparams = observer.CalculateQParams();
Console.WriteLine($"MinMaxObserver saw [{observer.Min}, {observer.Max}] and chose {qparams}");
Console.WriteLine($"  x = scale * (q - zero_point): q = 0 is {qparams.Scale * -qparams.ZeroPoint:F4}, q = 255 is {qparams.Scale * (255 - qparams.ZeroPoint):F4}");
Console.WriteLine();

// 2. Quantize, look at the integer codes, dequantize, and measure the round-trip error.
QuantizedTensor q = QuantizedTensor.Quantize(activations, qparams);
Tensor back = q.Dequantize();
Console.WriteLine("      FP32 | code |   dequantized |  error");
for (int i = 0; i < activations.Length; i++)
{
    float x = activations.AsSpan()[i], y = back.AsSpan()[i];
    Console.WriteLine($"{x,10:F4} | {q.IntRepr()[i],4} | {y,13:F6} | {x - y,6:F4}");
}

Console.WriteLine($"Largest error {MaxError(activations, back):F5}; half a step is {qparams.Scale / 2:F5}.");
Console.WriteLine();

// 3. Weights: symmetric INT8, one scale per output channel (rows of a Linear layer's [out, in] matrix).
var weights = new Tensor([0.02f, -0.5f, 0.31f, 1.9f, -2.2f, 0.4f], 2, 3);
var perChannel = new PerChannelMinMaxObserver(new ObserverOptions { DType = QuantDType.QInt8, QScheme = QScheme.PerChannelSymmetric });
perChannel.Observe(weights);
QuantizedTensor qw = QuantizedTensor.Quantize(weights, perChannel.CalculateQParams());
Console.WriteLine($"Weights {weights}");
Console.WriteLine($"  per-channel scales [{string.Join(", ", qw.QParams.Scales.ToArray().Select(s => s.ToString("G4")))}], codes [{string.Join(", ", qw.IntRepr())}]");
Console.WriteLine($"  largest error {MaxError(weights, qw.Dequantize()):F5}");

static float MaxError(Tensor a, Tensor b) => (a - b).AsSpan().ToArray().Max(MathF.Abs);
