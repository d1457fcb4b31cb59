namespace Quantization.Nn;

/// <summary>Batch normalization of [N, C, H, W] inputs, as PyTorch's <c>nn.BatchNorm2d</c>; see <see cref="BatchNorm"/>.</summary>
public sealed class BatchNorm2d : BatchNorm
{
    /// <summary>Creates the layer for <paramref name="numFeatures"/> channels.</summary>
    public BatchNorm2d(int numFeatures, float eps = 1e-5f, float momentum = 0.1f, bool affine = true)
        : base(numFeatures, eps, momentum, affine)
    {
    }

    private protected override void CheckInput(Variable input) =>
        InputCheck.Shape(input, nameof(BatchNorm2d), 4, NumFeatures, $"(N, {NumFeatures}, H, W)");
}
