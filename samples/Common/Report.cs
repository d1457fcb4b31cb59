// Shared by the samples: one line per model with accuracy, file size and a latency look.
using Quantization.Nn;

namespace Quantization.Samples;

internal static class Report
{
    /// <summary>Prints accuracy, saved size and median latency per batch of 64 for <paramref name="model"/>.</summary>
    public static void Print(string label, Module model, MnistData data)
    {
        string file = Path.Combine(Path.GetTempPath(), $"sample-{Guid.NewGuid():N}.qnn");
        model.Save(file);
        long bytes = new FileInfo(file).Length;
        File.Delete(file);
        double accuracy = MnistSetup.Accuracy(model, data);
        double ms = MnistSetup.LatencyMs(model, MnistSetup.TestBatch(data, 64));
        Console.WriteLine($"{label,-14} accuracy {accuracy,6:F2}%   size {bytes / 1e6,6:F3} MB   {ms,8:F3} ms per batch of 64");
    }
}
