using System.Numerics.Tensors;

namespace Quantization.Nn;

/// <summary>
/// Stochastic gradient descent with PyTorch's <c>torch.optim.SGD</c> semantics: <c>g = grad + weight_decay · p</c>;
/// with momentum, <c>buf = g</c> on the first step and <c>buf = momentum · buf + (1 - dampening) · g</c> after, and
/// <c>g = buf</c> (or <c>g + momentum · buf</c> with Nesterov); then <c>p -= lr · g</c>.
/// </summary>
public sealed class SGD : Optimizer
{
    private readonly float[]?[] _momentumBuffers;

    /// <summary>Creates the optimizer.</summary>
    /// <exception cref="ArgumentException">Nesterov without momentum or with dampening, or a negative momentum or weight decay.</exception>
    public SGD(IEnumerable<Parameter> parameters, float lr, float momentum = 0f, float dampening = 0f, float weightDecay = 0f, bool nesterov = false)
        : base(parameters, lr)
    {
        if (momentum < 0f || weightDecay < 0f)
            throw new ArgumentException($"Momentum ({momentum}) and weight decay ({weightDecay}) must not be negative.");
        if (nesterov && (momentum <= 0f || dampening != 0f))
            throw new ArgumentException("Nesterov momentum requires a momentum and zero dampening.", nameof(nesterov));
        Momentum = momentum;
        Dampening = dampening;
        WeightDecay = weightDecay;
        Nesterov = nesterov;
        _momentumBuffers = new float[]?[Parameters.Count];
    }

    /// <summary>The momentum factor (0: none).</summary>
    public float Momentum { get; }

    /// <summary>The dampening of the momentum.</summary>
    public float Dampening { get; }

    /// <summary>The L2 penalty added to the gradient.</summary>
    public float WeightDecay { get; }

    /// <summary>Whether Nesterov momentum is used.</summary>
    public bool Nesterov { get; }

    private protected override void Update(int index, Span<float> value, ReadOnlySpan<float> grad)
    {
        var g = grad.ToArray();
        if (WeightDecay != 0f)
            TensorPrimitives.MultiplyAdd(value, WeightDecay, g, g);
        if (Momentum != 0f)
        {
            var buffer = _momentumBuffers[index];
            if (buffer is null)
            {
                _momentumBuffers[index] = buffer = (float[])g.Clone();
            }
            else
            {
                TensorPrimitives.Multiply(buffer, Momentum, buffer);
                TensorPrimitives.MultiplyAdd(g, 1f - Dampening, buffer, buffer);
            }

            if (Nesterov)
                TensorPrimitives.MultiplyAdd(buffer, Momentum, g, g);
            else
                buffer.CopyTo(g, 0);
        }

        TensorPrimitives.MultiplyAdd(g, -LearningRate, value, value);
    }
}
