namespace Quantization.Nn;

/// <summary>
/// <c>y = x Wᵀ + b</c> on inputs [N, in_features] as PyTorch's <c>nn.Linear</c>; W is [out_features, in_features].
/// Initialized as PyTorch: W and b from U(-1/√in, 1/√in). Runs on the packed FP32 GEMM. While gradients are recorded
/// the weights are packed on every call; inside <see cref="Autograd.NoGrad"/> (inference) the packed weights are kept
/// with a copy of the weights they came from and repacked only when <see cref="Weight"/> no longer equals it, so edits
/// always take effect while repeated inference packs once.
/// </summary>
public sealed class Linear : Module
{
    private float[]? _packedFrom;
    private Kernels.Gemm.Fp32PackedB? _packed;

    /// <summary>Creates a layer with freshly initialized weights (and bias unless <paramref name="bias"/> is false).</summary>
    public Linear(int inFeatures, int outFeatures, bool bias = true)
    {
        InputCheck.Positive(inFeatures, nameof(inFeatures));
        InputCheck.Positive(outFeatures, nameof(outFeatures));
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        var w = new Tensor(outFeatures, inFeatures);
        Init.KaimingUniformDefault(w.AsSpan(), inFeatures);
        Weight = RegisterParameter("weight", new Parameter(w))!;
        if (bias)
        {
            var b = new Tensor(outFeatures);
            Init.KaimingUniformDefault(b.AsSpan(), inFeatures);
            Bias = RegisterParameter("bias", new Parameter(b));
        }
        else
        {
            RegisterParameter("bias", null);
        }
    }

    /// <summary>The input width.</summary>
    public int InFeatures { get; }

    /// <summary>The output width.</summary>
    public int OutFeatures { get; }

    /// <summary>The weights [out_features, in_features].</summary>
    public Parameter Weight { get; }

    /// <summary>The bias [out_features], or null.</summary>
    public Parameter? Bias { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The input is not [N, in_features].</exception>
    public override Variable Forward(Variable input)
    {
        InputCheck.Shape(input, nameof(Linear), 2, InFeatures, $"(N, {InFeatures})");
        if (Autograd.IsEnabled)
            return Functional.Linear(input, Weight, Bias);

        int n = input.Shape[0];
        var y = new Tensor(n, OutFeatures);
        Kernels.Gemm.Fp32Gemm.Multiply(input.Value.AsSpan(), n, InFeatures, Packed(), Bias is null ? default : Bias.Value.AsSpan(), y.AsSpan(), OutFeatures);
        return new Variable(y);
    }

    /// <summary>The packed weights for inference, packed again only when the weights changed since the last call.</summary>
    private Kernels.Gemm.Fp32PackedB Packed()
    {
        ReadOnlySpan<float> weights = Weight.Value.AsSpan();
        if (_packed is null || _packedFrom is null || !weights.SequenceEqual(_packedFrom))
        {
            _packed = Kernels.Gemm.Fp32Gemm.Pack(weights, InFeatures, OutFeatures, transposed: true);
            _packedFrom = weights.ToArray();
        }

        return _packed;
    }

    /// <inheritdoc/>
    public override string ToString() => $"Linear(in_features={InFeatures}, out_features={OutFeatures}, bias={Bias is not null})";
}
