using System.Diagnostics;
using Quantization.Assets;
using Quantization.Nn;
using Quantization.Nn.Models;
using Quantization.Tests.Assets;
using Xunit;

namespace Quantization.Tests.Nn.Models;

public class MnistTrainingTests
{
    private static (Tensor Images, int[] Labels) Take(MnistDigits mnist, int[] indices)
    {
        var data = new float[indices.Length * MnistDigits.ImageSize];
        for (int i = 0; i < indices.Length; i++)
            mnist.Image(indices[i]).CopyTo(data.AsSpan(i * MnistDigits.ImageSize));
        return (new Tensor(data, indices.Length, 1, 28, 28), [.. indices.Select(i => (int)mnist.Labels[i])]);
    }

    [Fact]
    public void One_epoch_of_the_mlp_on_four_thousand_digits_learns_them()
    {
        var mnist = MnistFixture.Digits.Value;
        var (train, test) = mnist.Split();
        // The images are stored in label order, so a random subset rather than the first 4000.
        int[] subset = [.. train];
        new Random(1).Shuffle(subset);
        var (trainX, trainY) = Take(mnist, subset[..4000]);
        var (testX, testY) = Take(mnist, test);
        Init.ManualSeed(1);
        var model = MnistModels.Mlp();
        var watch = Stopwatch.StartNew();
        var losses = Training.Fit(model, new Adam(model.Parameters(), 2e-3f), new DataLoader(trainX, trainY, batchSize: 64, shuffle: true, seed: 1), epochs: 1);
        double accuracy = Training.Accuracy(model, testX, testY);
        // Chance is 10% and a loss of ln 10 = 2.3; one pass over 4000 digits reaches about 90% on the 2000 held-out ones.
        Assert.InRange(losses[0], 0.05f, 1.0f);
        Assert.True(accuracy > 0.85, $"Test accuracy {accuracy:P1} after one epoch ({watch.Elapsed.TotalSeconds:F1} s).");
        Assert.False(model.IsTraining);
    }
}
