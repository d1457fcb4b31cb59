using Quantization.Nn;
using Quantization.Nn.Qat;
using Quantization.Observers;

namespace Quantization.Workflows;

/// <summary>
/// A float module of a prepared model together with the observer that records its outputs during calibration (what
/// PyTorch attaches as <c>activation_post_process</c>); for quantization-aware training the observer sits in a
/// <see cref="Nn.Qat.FakeQuantize"/> that also fake-quantizes the outputs. <see cref="Quantizer.Convert"/> replaces it
/// by the module's quantized form.
/// </summary>
public sealed class ObservedModule : Module
{
    internal ObservedModule(Module module, Observer observer, QConfig qconfig, bool fakeQuantize, Observer? inputObserver = null)
    {
        Module = RegisterModule("module", module);
        Observer = observer;
        QConfig = qconfig;
        InputObserver = inputObserver;
        if (fakeQuantize)
            FakeQuantize = RegisterModule("activation_post_process", new FakeQuantize(observer));
    }

    /// <summary>The float module.</summary>
    public Module Module { get; }

    /// <summary>The observer of the module's outputs.</summary>
    public Observer Observer { get; }

    /// <summary>The configuration the module was prepared with.</summary>
    public QConfig QConfig { get; }

    /// <summary>The observer of the module's FP32 inputs when it is quantized on its own (per-layer preparation), or null.</summary>
    public Observer? InputObserver { get; }

    /// <summary>The fake quantization of the outputs (quantization-aware training), or null.</summary>
    public FakeQuantize? FakeQuantize { get; }

    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        InputObserver?.Observe(input.Value);
        var output = Module.Forward(input);
        if (FakeQuantize is not null)
            return FakeQuantize.Forward(output);
        Observer.Observe(output.Value);
        return output;
    }

    /// <inheritdoc/>
    public override string ToString() => $"Observed({Module}, {Observer.GetType().Name})";
}
