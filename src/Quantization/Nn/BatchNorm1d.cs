namespace Quantization.Nn;

/// <summary>Batch normalization of [N, C] or [N, C, L] inputs, as PyTorch's <c>nn.BatchNorm1d</c>; see <see cref="BatchNorm"/>.</summary>
public sealed class BatchNorm1d : BatchNorm
{
    /// <summary>Creates the layer for <paramref name="numFeatures"/> channels.</summary>
    public BatchNorm1d(int numFeatures, float eps = 1e-5f, float momentum = 0.1f, bool affine = true)
        : base(numFeatures, eps, momentum, affine)
    {
    }

    private protected override void CheckInput(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        InputCheck.Shape(input, nameof(BatchNorm1d), input.Shape.Length == 3 ? 3 : 2, NumFeatures, $"(N, {NumFeatures}) or (N, {NumFeatures}, L)");
    }
}
