namespace Quantization.Nn;

/// <summary>The base of the optimizers, as PyTorch's <c>torch.optim.Optimizer</c>: a list of parameters, <see cref="ZeroGrad"/> and <see cref="Step"/>.</summary>
public abstract class Optimizer
{
    /// <summary>Takes the parameters to update (typically <see cref="Module.Parameters"/>).</summary>
    /// <exception cref="ArgumentException">The list is empty.</exception>
    protected Optimizer(IEnumerable<Parameter> parameters, float learningRate)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        Parameters = [.. parameters];
        if (Parameters.Count == 0)
            throw new ArgumentException("The optimizer got an empty parameter list.", nameof(parameters));
        if (!(learningRate >= 0f))
            throw new ArgumentOutOfRangeException(nameof(learningRate), learningRate, "The learning rate must not be negative.");
        LearningRate = learningRate;
    }

    /// <summary>The parameters this optimizer updates.</summary>
    public IReadOnlyList<Parameter> Parameters { get; }

    /// <summary>The step size; may be changed between steps (a learning-rate schedule).</summary>
    public float LearningRate { get; set; }

    /// <summary>Clears the gradients (sets them to null, PyTorch's default <c>set_to_none=True</c>).</summary>
    public void ZeroGrad()
    {
        foreach (var p in Parameters)
            p.Grad = null;
    }

    /// <summary>Updates every parameter that has a gradient.</summary>
    public void Step()
    {
        for (int i = 0; i < Parameters.Count; i++)
        {
            var p = Parameters[i];
            if (p.Grad is null)
                continue;
            Update(i, p.Value.AsSpan(), p.Grad.AsSpan());
        }
    }

    /// <summary>Updates parameter number <paramref name="index"/> in place from its gradient.</summary>
    private protected abstract void Update(int index, Span<float> value, ReadOnlySpan<float> grad);
}
