using Quantization.Nn;
using Xunit;

namespace Quantization.Tests.Nn;

public class DataLoaderTests
{
    // Sample s is the pair [s, 10 s] with label 100 + s.
    private static Tensor Inputs(int count) => new([.. Enumerable.Range(0, count).SelectMany(s => new float[] { s, 10 * s })], count, 2);

    private static int[] Labels(int count) => [.. Enumerable.Range(100, count)];

    [Fact]
    public void Batches_in_order_with_a_smaller_last_batch()
    {
        var loader = new DataLoader(Inputs(10), Labels(10), batchSize: 4);
        Assert.Equal(3, loader.Count);
        var batches = loader.ToList();
        Assert.Equal(3, batches.Count);
        Assert.Equal([4, 2], batches[0].Inputs.Shape.ToArray());
        Assert.Equal([2, 2], batches[2].Inputs.Shape.ToArray());
        Assert.Equal([4f, 40, 5, 50, 6, 60, 7, 70], batches[1].Inputs.AsSpan().ToArray());
        Assert.Equal([108, 109], batches[2].Labels);
    }

    [Fact]
    public void Drop_last_skips_the_partial_batch_and_keeps_sample_shapes()
    {
        var images = new Tensor(7, 1, 2, 3);
        var loader = new DataLoader(images, Labels(7), batchSize: 3, dropLast: true);
        Assert.Equal(2, loader.Count);
        Assert.All(loader, b => Assert.Equal([3, 1, 2, 3], b.Inputs.Shape.ToArray()));
        Assert.Equal(2, loader.Count());
        Assert.Equal(3, new DataLoader(images, Labels(7), batchSize: 3).Count);
    }

    [Fact]
    public void Shuffle_is_a_new_permutation_each_epoch_and_repeats_for_a_seed()
    {
        static List<int[]> Epochs(int seed)
        {
            var loader = new DataLoader(Inputs(50), Labels(50), batchSize: 8, shuffle: true, seed: seed);
            return [.. Enumerable.Range(0, 3).Select(_ => loader.SelectMany(b => b.Labels).ToArray())];
        }

        var run = Epochs(5);
        Assert.Equal(run, Epochs(5));
        Assert.NotEqual(run[0], Epochs(6)[0]);
        Assert.NotEqual(run[0], run[1]);
        Assert.NotEqual(Labels(50), run[0]);
        Assert.All(run, epoch => Assert.Equal(Labels(50), epoch.Order()));

        // Inputs travel with their labels.
        var loader = new DataLoader(Inputs(50), Labels(50), batchSize: 8, shuffle: true, seed: 5);
        foreach (var (inputs, labels) in loader)
        {
            for (int i = 0; i < labels.Length; i++)
                Assert.Equal(labels[i] - 100, inputs[i, 0]);
        }
    }

    [Fact]
    public void Bad_arguments_throw_naming_them()
    {
        Assert.Equal("labels", Assert.Throws<ArgumentException>(() => new DataLoader(Inputs(5), Labels(4), 2)).ParamName);
        Assert.Equal("labels", Assert.Throws<ArgumentException>(() => new DataLoader(Tensor.Zeros(), [], 2)).ParamName);
        Assert.Equal("batchSize", Assert.Throws<ArgumentOutOfRangeException>(() => new DataLoader(Inputs(5), Labels(5), 0)).ParamName);
        Assert.Throws<ArgumentNullException>(() => new DataLoader(null!, Labels(5), 2));
    }

    [Fact]
    public void An_empty_dataset_has_no_batches()
    {
        var loader = new DataLoader(new Tensor(0, 3), [], batchSize: 4, shuffle: true, seed: 1);
        Assert.Equal(0, loader.Count);
        Assert.Empty(loader);
    }
}
