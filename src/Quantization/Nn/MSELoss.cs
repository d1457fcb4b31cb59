namespace Quantization.Nn;

/// <summary>The mean of squared differences, as PyTorch's <c>nn.MSELoss</c> with the default mean reduction.</summary>
public sealed class MSELoss
{
    /// <summary>The loss of <paramref name="input"/> against <paramref name="target"/> of the same shape.</summary>
    /// <exception cref="ArgumentException">The shapes differ.</exception>
    public Variable Forward(Variable input, Variable target)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(target);
        if (!input.Value.HasShape(target.Shape))
            throw new ArgumentException($"MSELoss expects the target's shape {Tensor.FormatShape(target.Shape)} to equal the input's {Tensor.FormatShape(input.Shape)}.", nameof(target));
        return Functional.MseLoss(input, target);
    }
}
