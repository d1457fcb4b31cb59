namespace Quantization.Nn;

/// <summary>
/// Batches of (inputs, labels) from samples stacked along dim 0, as a small PyTorch <c>DataLoader</c> over a
/// <c>TensorDataset</c>. With <c>shuffle</c>, each enumeration (epoch) draws a new permutation from a generator seeded
/// once, so a run repeats exactly for a given seed.
/// </summary>
public sealed class DataLoader : IEnumerable<(Tensor Inputs, int[] Labels)>
{
    private readonly Tensor _inputs;
    private readonly int[] _labels;
    private readonly Random? _shuffle;
    private readonly int _sampleLength;

    /// <summary>Creates the loader.</summary>
    /// <param name="inputs">The samples, [count, ...].</param>
    /// <param name="labels">One label per sample.</param>
    /// <param name="batchSize">Samples per batch; the last batch may be smaller unless <paramref name="dropLast"/>.</param>
    /// <param name="shuffle">Whether to visit the samples in a new random order each epoch.</param>
    /// <param name="seed">The shuffle seed; without one, <see cref="Init"/>'s generator seeds it.</param>
    /// <param name="dropLast">Whether to skip a final incomplete batch.</param>
    /// <exception cref="ArgumentException">The label count differs from the sample count, or the batch size is not positive.</exception>
    public DataLoader(Tensor inputs, int[] labels, int batchSize, bool shuffle = false, int? seed = null, bool dropLast = false)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(labels);
        if (inputs.Rank == 0 || inputs.Shape[0] != labels.Length)
            throw new ArgumentException($"The inputs have shape {Tensor.FormatShape(inputs.Shape)} but there are {labels.Length} labels; dim 0 must match.", nameof(labels));
        InputCheck.Positive(batchSize, nameof(batchSize));
        _inputs = inputs;
        _labels = labels;
        _sampleLength = labels.Length == 0 ? 0 : inputs.Length / labels.Length;
        BatchSize = batchSize;
        DropLast = dropLast;
        if (shuffle)
            _shuffle = new Random(seed ?? Init.Generator.Next());
    }

    /// <summary>Samples per batch.</summary>
    public int BatchSize { get; }

    /// <summary>Whether a final incomplete batch is skipped.</summary>
    public bool DropLast { get; }

    /// <summary>The number of batches per epoch.</summary>
    public int Count => DropLast ? _labels.Length / BatchSize : (_labels.Length + BatchSize - 1) / BatchSize;

    /// <inheritdoc/>
    public IEnumerator<(Tensor Inputs, int[] Labels)> GetEnumerator()
    {
        int count = _labels.Length;
        int[] order = [.. Enumerable.Range(0, count)];
        _shuffle?.Shuffle(order);
        int[] sampleShape = _inputs.Shape.ToArray();
        for (int b = 0; b < Count; b++)
        {
            int start = b * BatchSize, size = Math.Min(BatchSize, count - start);
            var data = new float[size * _sampleLength];
            var labels = new int[size];
            for (int i = 0; i < size; i++)
            {
                int s = order[start + i];
                _inputs.AsSpan().Slice(s * _sampleLength, _sampleLength).CopyTo(data.AsSpan(i * _sampleLength));
                labels[i] = _labels[s];
            }

            sampleShape[0] = size;
            yield return (new Tensor(data, (int[])sampleShape.Clone()), labels);
        }
    }

    System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
}
