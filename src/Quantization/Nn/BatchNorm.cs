namespace Quantization.Nn;

/// <summary>
/// Batch normalization per channel (dim 1), shared by <see cref="BatchNorm1d"/> and <see cref="BatchNorm2d"/>:
/// <c>y = (x - mean) / sqrt(var + eps) · weight + bias</c>. Training normalizes with the batch mean and biased variance
/// and updates <c>running_mean</c>/<c>running_var</c> by <c>r = (1 - momentum) · r + momentum · batch</c> with the
/// unbiased variance; evaluation normalizes with the running statistics. PyTorch defaults: eps 1e-5, momentum 0.1,
/// weight 1, bias 0, running mean 0 and variance 1.
/// </summary>
public abstract class BatchNorm : Module
{
    /// <summary>Creates the parameters and buffers for <paramref name="numFeatures"/> channels.</summary>
    private protected BatchNorm(int numFeatures, float eps, float momentum, bool affine)
    {
        InputCheck.Positive(numFeatures, nameof(numFeatures));
        NumFeatures = numFeatures;
        Eps = eps;
        Momentum = momentum;
        Weight = RegisterParameter("weight", affine ? new Parameter(Tensor.Full(1f, numFeatures)) : null);
        Bias = RegisterParameter("bias", affine ? new Parameter(Tensor.Zeros(numFeatures)) : null);
        RunningMean = RegisterBuffer("running_mean", Tensor.Zeros(numFeatures));
        RunningVar = RegisterBuffer("running_var", Tensor.Full(1f, numFeatures));
        NumBatchesTracked = RegisterBuffer("num_batches_tracked", Tensor.Zeros());
    }

    /// <summary>The channel count.</summary>
    public int NumFeatures { get; }

    /// <summary>Added to the variance before the square root.</summary>
    public float Eps { get; }

    /// <summary>The weight of each new batch in the running statistics.</summary>
    public float Momentum { get; }

    /// <summary>The scale γ per channel, or null when not affine.</summary>
    public Parameter? Weight { get; }

    /// <summary>The shift β per channel, or null when not affine.</summary>
    public Parameter? Bias { get; }

    /// <summary>The running mean per channel.</summary>
    public Tensor RunningMean { get; }

    /// <summary>The running (unbiased) variance per channel.</summary>
    public Tensor RunningVar { get; }

    /// <summary>The number of training batches seen (a scalar, saved in the state dict as PyTorch does).</summary>
    public Tensor NumBatchesTracked { get; }

    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        CheckInput(input);
        if (IsTraining)
            NumBatchesTracked.AsSpan()[0]++;
        return Functional.BatchNorm(input, Weight, Bias, RunningMean, RunningVar, IsTraining, Momentum, Eps);
    }

    /// <inheritdoc/>
    public override string ToString() => $"{GetType().Name}({NumFeatures}, eps={Eps}, momentum={Momentum}, affine={Weight is not null})";

    /// <summary>Throws unless the input has a rank this variant accepts and <see cref="NumFeatures"/> channels.</summary>
    private protected abstract void CheckInput(Variable input);
}
