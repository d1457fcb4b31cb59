namespace Quantization.Nn;

/// <summary><c>relu6(x + 3) / 6</c> elementwise, as PyTorch's <c>nn.Hardsigmoid</c>.</summary>
public sealed class Hardsigmoid : Module
{
    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return Functional.Hardsigmoid(input);
    }
}
