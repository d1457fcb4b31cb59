namespace Quantization.Nn;

/// <summary><c>min(max(x, 0), 6)</c> elementwise, as PyTorch's <c>nn.ReLU6</c>.</summary>
public sealed class ReLU6 : Module
{
    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return Functional.Relu6(input);
    }
}
