namespace Quantization.Observers;

/// <summary>
/// What an observer calibrates for (PyTorch's observer arguments): the integer type, the scheme, an optional reduced
/// or custom integer range, the channel axis of per-channel observers, and the moving-average constant.
/// </summary>
public sealed record ObserverOptions
{
    /// <summary>float32 machine epsilon, PyTorch's default lower bound for a scale.</summary>
    public const float DefaultEps = 1.1920929e-07f;

    /// <summary>The quantized integer type (default QUInt8, as PyTorch's activation observers).</summary>
    public QuantDType DType { get; init; } = QuantDType.QUInt8;

    /// <summary>The scheme; per-channel schemes need a per-channel observer.</summary>
    public QScheme QScheme { get; init; } = QScheme.PerTensorAffine;

    /// <summary>
    /// Use one bit less of range (QUInt8 [0, 127], QInt8 [-64, 63]) so x86 kernels built on <c>vpmaddubsw</c>
    /// cannot saturate; a custom range is halved (floor division) instead.
    /// </summary>
    public bool ReduceRange { get; init; }

    /// <summary>A custom smallest integer (with <see cref="QuantMax"/>); it must not be above 0.</summary>
    public int? QuantMin { get; init; }

    /// <summary>A custom largest integer (with <see cref="QuantMin"/>); it must not be below 0.</summary>
    public int? QuantMax { get; init; }

    /// <summary>The channel axis of per-channel observers (weights: 0, the output channels).</summary>
    public int ChannelAxis { get; init; }

    /// <summary>The moving-average constant c in <c>m += c * (batch_m - m)</c>, in (0, 1].</summary>
    public float AveragingConstant { get; init; } = 0.01f;

    /// <summary>The smallest scale an observer returns.</summary>
    public float Eps { get; init; } = DefaultEps;

    /// <summary>
    /// The integer range the observer targets (PyTorch's <c>calculate_qmin_qmax</c>): the dtype's range, reduced by a
    /// bit with <see cref="ReduceRange"/>, or the custom range (halved with floor division when reduced).
    /// </summary>
    /// <exception cref="ArgumentException">The options are inconsistent; the message names the option.</exception>
    public (int QuantMin, int QuantMax) ResolveRange()
    {
        if (!Enum.IsDefined(DType))
            throw new ArgumentException($"Unknown dtype {DType}.", nameof(DType));
        if (!Enum.IsDefined(QScheme))
            throw new ArgumentException($"Unknown scheme {QScheme}.", nameof(QScheme));
        if (!(AveragingConstant > 0 && AveragingConstant <= 1))
            throw new ArgumentException($"AveragingConstant must lie in (0, 1] but is {AveragingConstant}.", nameof(AveragingConstant));
        if (!(Eps > 0) || !float.IsFinite(Eps))
            throw new ArgumentException($"Eps must be finite and positive but is {Eps}.", nameof(Eps));
        if (ChannelAxis < 0)
            throw new ArgumentException($"ChannelAxis must be non-negative but is {ChannelAxis}.", nameof(ChannelAxis));
        if (ReduceRange && QScheme.IsSymmetric() && DType == QuantDType.QUInt8)
            throw new ArgumentException("ReduceRange cannot be used with a symmetric QUInt8 scheme (PyTorch refuses it too).", nameof(ReduceRange));
        if (QuantMin.HasValue != QuantMax.HasValue)
            throw new ArgumentException("QuantMin and QuantMax must be given together.", QuantMin.HasValue ? nameof(QuantMax) : nameof(QuantMin));
        if (QuantMin is not int qmin || QuantMax is not int qmax)
            return DType.Range(ReduceRange);

        if (!(qmin <= 0 && 0 <= qmax))
            throw new ArgumentException($"A custom range must include 0 but is [{qmin}, {qmax}].", nameof(QuantMin));
        if (qmin >= qmax)
            throw new ArgumentException($"QuantMin ({qmin}) must be less than QuantMax ({qmax}).", nameof(QuantMin));
        if (qmin < DType.MinValue() || qmax > DType.MaxValue())
            throw new ArgumentException($"The custom range [{qmin}, {qmax}] does not fit {DType} [{DType.MinValue()}, {DType.MaxValue()}].", nameof(QuantMax));
        return ReduceRange ? (FloorHalf(qmin), FloorHalf(qmax)) : (qmin, qmax);
    }

    private static int FloorHalf(int value) => (int)Math.Floor(value / 2.0);
}
