// Trains the reference MNIST models on the stratified 8,000-image split and reports test accuracy and time.
// Usage: dotnet run -c Release --project samples/MnistTraining -- [cnn|mlp|both] [epochs]
using System.Diagnostics;
using Quantization;
using Quantization.Assets;
using Quantization.Nn;
using Quantization.Nn.Models;

string which = args.Length > 0 ? args[0] : "both";
int? epochsOverride = args.Length > 1 ? int.Parse(args[1], System.Globalization.CultureInfo.InvariantCulture) : null;

var mnist = MnistDigits.Load(progress: new Progress<string>(Console.WriteLine));
var (train, test) = mnist.Split();
(Tensor Images, int[] Labels) Take(int[] indices)
{
    var data = new float[indices.Length * MnistDigits.ImageSize];
    for (int i = 0; i < indices.Length; i++)
        mnist.Image(indices[i]).CopyTo(data.AsSpan(i * MnistDigits.ImageSize));
    return (new Tensor(data, indices.Length, 1, 28, 28), indices.Select(i => (int)mnist.Labels[i]).ToArray());
}

var (trainX, trainY) = Take(train);
var (testX, testY) = Take(test);

void Run(string name, Func<Module> create, int epochs, float lr)
{
    Init.ManualSeed(1);
    var model = create();
    var optimizer = new Adam(model.Parameters(), lr);
    var loader = new DataLoader(trainX, trainY, batchSize: 64, shuffle: true, seed: 1);
    var watch = Stopwatch.StartNew();
    var shifts = new Random(2);
    // A quarter of the step for the last third of the epochs; every batch shifted by up to 2 pixels.
    Training.Fit(model, optimizer, loader, epochs, e => e < epochs * 2 / 3 ? lr : lr / 4, Console.WriteLine,
        batch => ImageAugmentation.RandomShift(batch, 2, shifts));
    double seconds = watch.Elapsed.TotalSeconds;
    double accuracy = Training.Accuracy(model, testX, testY);
    string path = Path.Combine(Path.GetTempPath(), $"mnist-{name}.qnn");
    model.Save(path);
    Console.WriteLine($"{name}: test accuracy {accuracy:P2} after {epochs} epochs, training {seconds:F1} s, saved {new FileInfo(path).Length:N0} bytes");
}

if (which is "cnn" or "both")
    Run("cnn", MnistModels.Cnn, epochsOverride ?? 8, 2e-3f);
if (which is "mlp" or "both")
    Run("mlp", MnistModels.Mlp, epochsOverride ?? 15, 1e-3f);
