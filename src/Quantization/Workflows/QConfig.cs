using Quantization.Observers;

namespace Quantization.Workflows;

/// <summary>The quantized kernel family a configuration targets; it decides the default observers, as in PyTorch.</summary>
public enum QuantBackend
{
    /// <summary>x86 CPUs (PyTorch's default): activations QUInt8 with reduce_range, weights per-channel symmetric QInt8.</summary>
    X86,

    /// <summary>FBGEMM, the older x86 name: the same choices as <see cref="X86"/>.</summary>
    Fbgemm,

    /// <summary>QNNPACK (ARM): activations QUInt8 [0, 255], weights per-tensor symmetric QInt8.</summary>
    Qnnpack,

    /// <summary>oneDNN: activations QUInt8 [0, 255], weights per-channel symmetric QInt8.</summary>
    OneDnn,
}

/// <summary>
/// How to quantize one module (PyTorch's <c>QConfig</c>): a factory for the observer that watches its output
/// activations and one for the observer that calibrates its weights. Each prepared module gets fresh observers.
/// </summary>
/// <param name="Activation">Creates the observer of a module's output (for dynamic configurations, a <see cref="PlaceholderObserver"/> whose options give the dtype and reduce_range of the per-call quantization).</param>
/// <param name="Weight">Creates the observer of a module's weights.</param>
public sealed record QConfig(Func<Observer> Activation, Func<Observer> Weight)
{
    /// <summary>
    /// The post-training static configuration of <paramref name="backend"/> (PyTorch's <c>get_default_qconfig</c>):
    /// activations by a <see cref="HistogramObserver"/> (QUInt8, reduce_range on x86/FBGEMM), weights by a
    /// per-channel symmetric QInt8 <see cref="PerChannelMinMaxObserver"/> (per-tensor <see cref="MinMaxObserver"/> on QNNPACK).
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="backend"/> is not defined.</exception>
    public static QConfig GetDefault(QuantBackend backend = QuantBackend.X86)
    {
        bool reduceRange = ReducesRange(backend);
        var activation = new ObserverOptions { DType = QuantDType.QUInt8, ReduceRange = reduceRange };
        return new QConfig(() => new HistogramObserver(activation), WeightObserver(backend, movingAverage: false));
    }

    /// <summary>
    /// The quantization-aware training configuration of <paramref name="backend"/> (PyTorch's
    /// <c>get_default_qat_qconfig</c>): moving-average min/max observers (constant 0.01) for activations and
    /// weights, which <c>PrepareQat</c> wraps in fake quantization.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="backend"/> is not defined.</exception>
    public static QConfig GetDefaultQat(QuantBackend backend = QuantBackend.X86)
    {
        var activation = new ObserverOptions { DType = QuantDType.QUInt8, ReduceRange = ReducesRange(backend) };
        return new QConfig(() => new MovingAverageMinMaxObserver(activation), WeightObserver(backend, movingAverage: true));
    }

    /// <summary>
    /// Dynamic quantization with per-tensor symmetric QInt8 weights (PyTorch's <c>default_dynamic_qconfig</c>);
    /// activations are quantized per call to QUInt8, with reduce_range on x86/FBGEMM.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="backend"/> is not defined.</exception>
    public static QConfig GetDefaultDynamic(QuantBackend backend = QuantBackend.X86) =>
        Dynamic(backend, new ObserverOptions { DType = QuantDType.QInt8, QScheme = QScheme.PerTensorSymmetric }, perChannel: false);

    /// <summary>Dynamic quantization with per-channel symmetric QInt8 weights (PyTorch's <c>per_channel_dynamic_qconfig</c>).</summary>
    /// <exception cref="ArgumentException"><paramref name="backend"/> is not defined.</exception>
    public static QConfig GetDefaultDynamicPerChannel(QuantBackend backend = QuantBackend.X86) =>
        Dynamic(backend, new ObserverOptions { DType = QuantDType.QInt8, QScheme = QScheme.PerChannelSymmetric }, perChannel: true);

    private static QConfig Dynamic(QuantBackend backend, ObserverOptions weight, bool perChannel)
    {
        var activation = new ObserverOptions { DType = QuantDType.QUInt8, ReduceRange = ReducesRange(backend) };
        return new QConfig(() => new PlaceholderObserver(activation),
            perChannel ? () => new PerChannelMinMaxObserver(weight) : () => new MinMaxObserver(weight));
    }

    private static Func<Observer> WeightObserver(QuantBackend backend, bool movingAverage)
    {
        if (backend == QuantBackend.Qnnpack)
        {
            var perTensor = new ObserverOptions { DType = QuantDType.QInt8, QScheme = QScheme.PerTensorSymmetric };
            return movingAverage ? () => new MovingAverageMinMaxObserver(perTensor) : () => new MinMaxObserver(perTensor);
        }

        var perChannel = new ObserverOptions { DType = QuantDType.QInt8, QScheme = QScheme.PerChannelSymmetric };
        return movingAverage ? () => new MovingAveragePerChannelMinMaxObserver(perChannel) : () => new PerChannelMinMaxObserver(perChannel);
    }

    private static bool ReducesRange(QuantBackend backend) => backend switch
    {
        QuantBackend.X86 or QuantBackend.Fbgemm => true,
        QuantBackend.Qnnpack or QuantBackend.OneDnn => false,
        _ => throw new ArgumentException($"Unknown backend {backend}.", nameof(backend)),
    };
}
