namespace Quantization.Nn;

/// <summary>Returns its input unchanged, as PyTorch's <c>nn.Identity</c> (a placeholder when a layer is removed, e.g. a BatchNorm folded into a convolution).</summary>
public sealed class Identity : Module
{
    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return input;
    }
}
