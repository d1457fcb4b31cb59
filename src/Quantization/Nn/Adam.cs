using System.Numerics.Tensors;

namespace Quantization.Nn;

/// <summary>
/// Adam with PyTorch's <c>torch.optim.Adam</c> semantics and defaults (lr 1e-3, betas (0.9, 0.999), eps 1e-8, no
/// weight decay): <c>g = grad + weight_decay · p</c>, <c>m = β1 m + (1 - β1) g</c>, <c>v = β2 v + (1 - β2) g²</c>, and at
/// step t <c>p -= lr / (1 - β1^t) · m / (sqrt(v) / sqrt(1 - β2^t) + eps)</c>.
/// </summary>
public sealed class Adam : Optimizer
{
    private readonly float[]?[] _m;
    private readonly float[]?[] _v;
    private readonly int[] _steps;

    /// <summary>Creates the optimizer.</summary>
    /// <exception cref="ArgumentException">A beta is outside [0, 1), or eps or the weight decay is negative.</exception>
    public Adam(IEnumerable<Parameter> parameters, float lr = 1e-3f, float beta1 = 0.9f, float beta2 = 0.999f, float eps = 1e-8f, float weightDecay = 0f)
        : base(parameters, lr)
    {
        if (!(beta1 >= 0f && beta1 < 1f) || !(beta2 >= 0f && beta2 < 1f))
            throw new ArgumentException($"Betas must lie in [0, 1) but got ({beta1}, {beta2}).");
        if (!(eps >= 0f) || !(weightDecay >= 0f))
            throw new ArgumentException($"Eps ({eps}) and weight decay ({weightDecay}) must not be negative.");
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        WeightDecay = weightDecay;
        _m = new float[]?[Parameters.Count];
        _v = new float[]?[Parameters.Count];
        _steps = new int[Parameters.Count];
    }

    /// <summary>The decay of the first-moment estimate.</summary>
    public float Beta1 { get; }

    /// <summary>The decay of the second-moment estimate.</summary>
    public float Beta2 { get; }

    /// <summary>Added to the denominator for stability.</summary>
    public float Eps { get; }

    /// <summary>The L2 penalty added to the gradient.</summary>
    public float WeightDecay { get; }

    private protected override void Update(int index, Span<float> value, ReadOnlySpan<float> grad)
    {
        var g = grad.ToArray();
        if (WeightDecay != 0f)
            TensorPrimitives.MultiplyAdd(value, WeightDecay, g, g);
        var m = _m[index] ??= new float[g.Length];
        var v = _v[index] ??= new float[g.Length];
        int t = ++_steps[index];

        // m = β1 m + (1 - β1) g; v = β2 v + (1 - β2) g².
        TensorPrimitives.Multiply(m, Beta1, m);
        TensorPrimitives.MultiplyAdd(g, 1f - Beta1, m, m);
        TensorPrimitives.Multiply(v, Beta2, v);
        TensorPrimitives.Multiply(g, g, g);
        TensorPrimitives.MultiplyAdd(g, 1f - Beta2, v, v);

        double bias1 = 1 - Math.Pow(Beta1, t), bias2 = 1 - Math.Pow(Beta2, t);
        float stepSize = (float)(LearningRate / bias1);
        var denominator = g;
        TensorPrimitives.Sqrt(v, denominator);
        TensorPrimitives.Divide(denominator, (float)Math.Sqrt(bias2), denominator);
        TensorPrimitives.Add(denominator, Eps, denominator);
        TensorPrimitives.Divide(m, denominator, denominator);
        TensorPrimitives.MultiplyAdd(denominator, -stepSize, value, value);
    }
}
