namespace Quantization.Nn;

/// <summary>
/// In training, zeroes each element with probability <see cref="P"/> and scales the others by 1 / (1 - p), as PyTorch's
/// <c>nn.Dropout</c>; in evaluation it passes its input through. The masks come from <see cref="Init"/>'s seeded generator.
/// </summary>
public sealed class Dropout : Module
{
    /// <summary>Creates the layer.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="p"/> is outside [0, 1].</exception>
    public Dropout(float p = 0.5f)
    {
        if (!(p >= 0f && p <= 1f))
            throw new ArgumentOutOfRangeException(nameof(p), p, "The dropout probability must lie in [0, 1].");
        P = p;
    }

    /// <summary>The probability of zeroing an element.</summary>
    public float P { get; }

    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return IsTraining && P > 0f ? Functional.Dropout(input, P, Init.Generator) : input;
    }
}
