namespace Quantization.Nn;

/// <summary><c>tanh(x)</c> elementwise, as PyTorch's <c>nn.Tanh</c>.</summary>
public sealed class Tanh : Module
{
    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return Functional.Tanh(input);
    }
}
