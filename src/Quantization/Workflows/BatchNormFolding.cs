using Quantization.Nn;

namespace Quantization.Workflows;

/// <summary>Folds an evaluation-mode batch normalization into the layer before it (PyTorch's <c>fuse_conv_bn_eval</c>).</summary>
internal static class BatchNormFolding
{
    /// <summary>
    /// A new Conv2d computing <c>bn(conv(x))</c> with BN's running statistics: per output channel c,
    /// <c>w' = w · γ / √(var + eps)</c> and <c>b' = (b - mean) · γ / √(var + eps) + β</c>. The inputs are not modified.
    /// </summary>
    public static Conv2d Fold(Conv2d conv, BatchNorm bn)
    {
        CheckChannels(conv.OutChannels, bn, "Conv2d");
        var g = conv.Geometry;
        var folded = new Conv2d(g.InChannels, g.OutChannels, (g.KernelH, g.KernelW), (g.StrideH, g.StrideW),
            (g.PadTop, g.PadLeft, g.PadBottom, g.PadRight), (g.DilationH, g.DilationW), g.Groups, bias: true);
        var (weight, bias) = Fold(conv.Weight.Value, conv.Bias?.Value, bn);
        weight.AsSpan().CopyTo(folded.Weight.Value.AsSpan());
        bias.AsSpan().CopyTo(folded.Bias!.Value.AsSpan());
        return folded;
    }

    /// <summary>A new Linear computing <c>bn(linear(x))</c> with BN's running statistics.</summary>
    public static Linear Fold(Linear linear, BatchNorm bn)
    {
        CheckChannels(linear.OutFeatures, bn, "Linear");
        var folded = new Linear(linear.InFeatures, linear.OutFeatures, bias: true);
        var (weight, bias) = Fold(linear.Weight.Value, linear.Bias?.Value, bn);
        weight.AsSpan().CopyTo(folded.Weight.Value.AsSpan());
        bias.AsSpan().CopyTo(folded.Bias!.Value.AsSpan());
        return folded;
    }

    /// <summary>γ / √(var + eps) per channel, in double.</summary>
    private static double[] Factors(BatchNorm bn)
    {
        var factors = new double[bn.NumFeatures];
        for (int c = 0; c < factors.Length; c++)
        {
            double gamma = bn.Weight is null ? 1 : bn.Weight.Value.AsSpan()[c];
            factors[c] = gamma / Math.Sqrt(bn.RunningVar.AsSpan()[c] + (double)bn.Eps);
        }

        return factors;
    }

    /// <summary>Folded copies of a layer's weights (output channels first) and bias; the inputs are not modified.</summary>
    public static (Tensor Weight, Tensor Bias) Fold(Tensor weight, Tensor? bias, BatchNorm bn)
    {
        var foldedWeight = new Tensor(weight.Shape);
        var foldedBias = new Tensor(bn.NumFeatures);
        var factors = Factors(bn);
        int perChannel = weight.Length / factors.Length;
        var w = weight.AsSpan();
        var fw = foldedWeight.AsSpan();
        var fb = foldedBias.AsSpan();
        for (int c = 0; c < factors.Length; c++)
        {
            for (int i = c * perChannel; i < (c + 1) * perChannel; i++)
                fw[i] = (float)(w[i] * factors[c]);
            double b = bias is null ? 0 : bias.AsSpan()[c];
            double beta = bn.Bias is null ? 0 : bn.Bias.Value.AsSpan()[c];
            fb[c] = (float)((b - bn.RunningMean.AsSpan()[c]) * factors[c] + beta);
        }

        return (foldedWeight, foldedBias);
    }

    private static void CheckChannels(int channels, BatchNorm bn, string layer)
    {
        if (bn.NumFeatures != channels)
            throw new ArgumentException($"The {layer} has {channels} output channels but the batch norm after it has {bn.NumFeatures}.", nameof(bn));
    }
}
