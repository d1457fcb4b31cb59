namespace Quantization.Nn;

/// <summary><c>exp(x) / Σ exp(x)</c> along one dimension, as PyTorch's <c>nn.Softmax</c>.</summary>
public sealed class Softmax : Module
{
    /// <summary>Creates the layer; <paramref name="dim"/> may count from the end (-1 is the last dimension).</summary>
    public Softmax(int dim) => Dim = dim;

    /// <summary>The dimension the values are normalized along.</summary>
    public int Dim { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The input has no such dimension.</exception>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (Dim >= input.Shape.Length || Dim < -input.Shape.Length)
            throw new ArgumentException($"Softmax over dim {Dim} needs a rank of at least {(Dim < 0 ? -Dim : Dim + 1)} but got shape {Tensor.FormatShape(input.Shape)}.", nameof(input));
        return Functional.Softmax(input, Dim);
    }
}
