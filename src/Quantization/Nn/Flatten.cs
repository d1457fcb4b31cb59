namespace Quantization.Nn;

/// <summary>Merges dims <see cref="StartDim"/>..<see cref="EndDim"/> into one, as PyTorch's <c>nn.Flatten</c> (defaults 1 and -1: [N, C, H, W] → [N, C·H·W]); quantized input stays quantized.</summary>
public sealed class Flatten : Module
{
    /// <summary>Creates the layer; negative dims count from the end.</summary>
    public Flatten(int startDim = 1, int endDim = -1)
    {
        StartDim = startDim;
        EndDim = endDim;
    }

    /// <summary>The first dimension merged.</summary>
    public int StartDim { get; }

    /// <summary>The last dimension merged.</summary>
    public int EndDim { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The input has too few dimensions.</exception>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var shape = input.Shape;
        int start = StartDim < 0 ? StartDim + shape.Length : StartDim, end = EndDim < 0 ? EndDim + shape.Length : EndDim;
        if (start < 0 || end >= shape.Length || start > end)
            throw new ArgumentException($"Flatten({StartDim}, {EndDim}) does not fit an input of shape {Tensor.FormatShape(shape)}.", nameof(input));
        var result = new List<int>();
        for (int i = 0; i < start; i++)
            result.Add(shape[i]);
        int merged = 1;
        for (int i = start; i <= end; i++)
            merged *= shape[i];
        result.Add(merged);
        for (int i = end + 1; i < shape.Length; i++)
            result.Add(shape[i]);
        return input.Quantized is { } q ? new Variable(q.Reshape([.. result])) : Functional.Reshape(input, [.. result]);
    }
}
