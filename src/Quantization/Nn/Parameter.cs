namespace Quantization.Nn;

/// <summary>A learnable tensor of a <see cref="Module"/>: a leaf <see cref="Variable"/> that requires a gradient.</summary>
public sealed class Parameter : Variable
{
    /// <summary>Wraps <paramref name="value"/> (no copy).</summary>
    public Parameter(Tensor value)
        : base(value, requiresGrad: true)
    {
    }
}
