namespace Quantization.Nn;

/// <summary><c>x · relu6(x + 3) / 6</c> elementwise, as PyTorch's <c>nn.Hardswish</c>.</summary>
public sealed class Hardswish : Module
{
    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return Functional.Hardswish(input);
    }
}
