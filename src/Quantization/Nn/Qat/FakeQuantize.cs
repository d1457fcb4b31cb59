using Quantization.Observers;

namespace Quantization.Nn.Qat;

/// <summary>
/// Simulates quantization during training (PyTorch's <c>FakeQuantize</c>): while <see cref="ObserverEnabled"/> its
/// observer watches every input and the scale and zero point follow it; while <see cref="FakeQuantEnabled"/> the
/// output is the input quantized and dequantized with them — bit-exact with the integer kernels — and the gradient
/// passes straight through wherever the value was not clamped.
/// </summary>
public sealed class FakeQuantize : Module
{
    /// <summary>Wraps <paramref name="observer"/> (usually a moving-average one).</summary>
    public FakeQuantize(Observer observer)
    {
        ArgumentNullException.ThrowIfNull(observer);
        Observer = observer;
    }

    /// <summary>The observer that calibrates the scale and zero point.</summary>
    public Observer Observer { get; }

    /// <summary>Whether inputs update the observer (turn off to freeze the parameters late in training).</summary>
    public bool ObserverEnabled { get; set; } = true;

    /// <summary>Whether the output is fake-quantized (off: the input passes through unchanged).</summary>
    public bool FakeQuantEnabled { get; set; } = true;

    /// <summary>The parameters from the last observation, or null before any.</summary>
    public QuantParams? QParams { get; private set; }

    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (ObserverEnabled)
        {
            Observer.Observe(input.Value);
            if (Observer.HasObservedData)
                QParams = Observer.CalculateQParams();
        }

        return FakeQuantEnabled && QParams is not null
            ? Functional.FakeQuantize(input, QParams, Observer.QuantMin, Observer.QuantMax)
            : input;
    }

    /// <inheritdoc/>
    public override string ToString() => $"FakeQuantize({Observer.GetType().Name}, observer={ObserverEnabled}, fake_quant={FakeQuantEnabled}, qparams={QParams})";
}
