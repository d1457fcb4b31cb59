namespace Quantization.Nn;

/// <summary><c>1 / (1 + e^-x)</c> elementwise, as PyTorch's <c>nn.Sigmoid</c>.</summary>
public sealed class Sigmoid : Module
{
    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return Functional.Sigmoid(input);
    }
}
