namespace Quantization.Nn;

/// <summary>
/// Layer normalization over the last dimensions, as PyTorch's <c>nn.LayerNorm</c>: each run of
/// Π <see cref="NormalizedShape"/> values is normalized by its own mean and biased variance,
/// <c>y = (x - mean) / sqrt(var + eps) · weight + bias</c>. Unlike BatchNorm it keeps no running statistics and
/// behaves the same in training and evaluation. PyTorch defaults: eps 1e-5, weight 1, bias 0, both shaped like
/// <see cref="NormalizedShape"/>.
/// </summary>
public sealed class LayerNorm : Module
{
    private readonly int _normalizedLength;

    /// <summary>Normalizes over the last dimension, of length <paramref name="normalizedShape"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="normalizedShape"/> is not positive.</exception>
    public LayerNorm(int normalizedShape, float eps = 1e-5f, bool elementwiseAffine = true, bool bias = true)
        : this([normalizedShape], eps, elementwiseAffine, bias)
    {
    }

    /// <summary>Normalizes over the last <c>normalizedShape.Count</c> dimensions, which must equal <paramref name="normalizedShape"/>.</summary>
    /// <param name="normalizedShape">The trailing dimensions normalized together (at least one, each positive).</param>
    /// <param name="eps">Added to the variance before the square root; must be positive.</param>
    /// <param name="elementwiseAffine">Whether to learn a per-element weight (and a bias, unless <paramref name="bias"/> is false).</param>
    /// <param name="bias">Whether the affine transform has a bias.</param>
    /// <exception cref="ArgumentException">The shape is empty or has a dimension that is not positive, or eps is not positive.</exception>
    public LayerNorm(IReadOnlyList<int> normalizedShape, float eps = 1e-5f, bool elementwiseAffine = true, bool bias = true)
    {
        ArgumentNullException.ThrowIfNull(normalizedShape);
        if (normalizedShape.Count == 0 || normalizedShape.Any(d => d <= 0))
            throw new ArgumentException($"normalizedShape must have at least one dimension, each positive, but is {Tensor.FormatShape([.. normalizedShape])}.", nameof(normalizedShape));
        if (!(eps > 0f))
            throw new ArgumentOutOfRangeException(nameof(eps), eps, "eps must be positive.");
        NormalizedShape = [.. normalizedShape];
        _normalizedLength = normalizedShape.Aggregate(1, (a, b) => checked(a * b));
        Eps = eps;
        Weight = RegisterParameter("weight", elementwiseAffine ? new Parameter(Tensor.Full(1f, [.. normalizedShape])) : null);
        Bias = RegisterParameter("bias", elementwiseAffine && bias ? new Parameter(Tensor.Zeros([.. normalizedShape])) : null);
    }

    /// <summary>The trailing dimensions normalized together.</summary>
    public IReadOnlyList<int> NormalizedShape { get; }

    /// <summary>Added to the variance before the square root.</summary>
    public float Eps { get; }

    /// <summary>The per-element scale, shaped like <see cref="NormalizedShape"/>, or null without an affine transform.</summary>
    public Parameter? Weight { get; }

    /// <summary>The per-element shift, shaped like <see cref="NormalizedShape"/>, or null.</summary>
    public Parameter? Bias { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The input's last dimensions are not <see cref="NormalizedShape"/>.</exception>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var shape = input.Shape;
        int k = NormalizedShape.Count;
        bool fits = shape.Length >= k;
        for (int i = 0; fits && i < k; i++)
            fits = shape[shape.Length - k + i] == NormalizedShape[i];
        if (!fits)
            throw new ArgumentException($"LayerNorm expects an input ending in {Tensor.FormatShape([.. NormalizedShape])} but got shape {Tensor.FormatShape(shape)}.", nameof(input));
        return Functional.LayerNorm(input, _normalizedLength, Weight, Bias, Eps);
    }

    /// <inheritdoc/>
    public override string ToString() => $"LayerNorm({Tensor.FormatShape([.. NormalizedShape])}, eps={Eps}, elementwise_affine={Weight is not null})";
}
