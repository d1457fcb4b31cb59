namespace Quantization.Nn;

/// <summary>
/// A lookup table of <see cref="NumEmbeddings"/> learnable vectors of width <see cref="EmbeddingDim"/>, as PyTorch's
/// <c>nn.Embedding</c>: an input of indices shaped S gives an output shaped S + [embedding_dim]. The weight starts from
/// N(0, 1); the row <see cref="PaddingIdx"/>, if any, starts at zero and never receives a gradient, so it stays fixed.
/// </summary>
/// <remarks>
/// <see cref="Module.Forward(Variable)"/> takes floats, so the indices come as a float tensor holding whole numbers
/// (exact up to 2²⁴); no gradient flows to them.
/// </remarks>
public sealed class Embedding : Module
{
    /// <summary>Creates the table.</summary>
    /// <param name="numEmbeddings">The number of vectors (valid indices are 0..numEmbeddings-1).</param>
    /// <param name="embeddingDim">The width of each vector.</param>
    /// <param name="paddingIdx">An optional row that stays zero and gets no gradient; negative values count from the end, as in PyTorch.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size is not positive, or <paramref name="paddingIdx"/> is outside [-numEmbeddings, numEmbeddings).</exception>
    public Embedding(int numEmbeddings, int embeddingDim, int? paddingIdx = null)
    {
        InputCheck.Positive(numEmbeddings, nameof(numEmbeddings));
        InputCheck.Positive(embeddingDim, nameof(embeddingDim));
        if (paddingIdx is { } p && (p < -numEmbeddings || p >= numEmbeddings))
            throw new ArgumentOutOfRangeException(nameof(paddingIdx), p, $"paddingIdx must lie in [{-numEmbeddings}, {numEmbeddings}).");
        NumEmbeddings = numEmbeddings;
        EmbeddingDim = embeddingDim;
        PaddingIdx = paddingIdx < 0 ? paddingIdx + numEmbeddings : paddingIdx;
        var w = new Tensor(numEmbeddings, embeddingDim);
        StandardNormal(w.AsSpan(), Init.Generator);
        if (PaddingIdx is { } row)
            w.AsSpan().Slice(row * embeddingDim, embeddingDim).Clear();
        Weight = RegisterParameter("weight", new Parameter(w))!;
    }

    /// <summary>The number of vectors.</summary>
    public int NumEmbeddings { get; }

    /// <summary>The width of each vector.</summary>
    public int EmbeddingDim { get; }

    /// <summary>The padding row (normalized to be non-negative), or null.</summary>
    public int? PaddingIdx { get; }

    /// <summary>The table [num_embeddings, embedding_dim].</summary>
    public Parameter Weight { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">An index is not a whole number in [0, num_embeddings); the message gives its position and value.</exception>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var values = input.Value.AsSpan();
        var indices = new int[values.Length];
        for (int k = 0; k < values.Length; k++)
        {
            float v = values[k];
            // The negated test also rejects NaN.
            if (!(v >= 0f && v < NumEmbeddings) || v != MathF.Floor(v))
                throw new ArgumentException($"Embedding index {v} at flat position {k} is not a whole number in [0, {NumEmbeddings}).", nameof(input));
            indices[k] = (int)v;
        }

        int[] outputShape = [.. input.Shape, EmbeddingDim];
        return Functional.Embedding(indices, outputShape, Weight, PaddingIdx ?? -1);
    }

    /// <inheritdoc/>
    public override string ToString() => PaddingIdx is { } p
        ? $"Embedding({NumEmbeddings}, {EmbeddingDim}, padding_idx={p})"
        : $"Embedding({NumEmbeddings}, {EmbeddingDim})";

    /// <summary>Fills <paramref name="values"/> from N(0, 1) by the Box–Muller transform.</summary>
    private static void StandardNormal(Span<float> values, Random rng)
    {
        for (int i = 0; i < values.Length; i += 2)
        {
            // 1 - U lies in (0, 1], so the logarithm is finite.
            double radius = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())), angle = 2 * Math.PI * rng.NextDouble();
            values[i] = (float)(radius * Math.Cos(angle));
            if (i + 1 < values.Length)
                values[i + 1] = (float)(radius * Math.Sin(angle));
        }
    }
}
