namespace Quantization.Nn;

/// <summary><c>max(x, 0)</c> elementwise, as PyTorch's <c>nn.ReLU</c>.</summary>
public sealed class ReLU : Module
{
    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return Functional.Relu(input);
    }
}
