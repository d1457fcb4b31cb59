namespace Quantization.Observers;

/// <summary>
/// Tracks the running minimum and maximum of everything observed (PyTorch's <c>MinMaxObserver</c>); parameters as
/// in <see cref="QParamsMath"/>. Keeps outliers: one extreme value stretches the range for all the others.
/// </summary>
public class MinMaxObserver : Observer
{
    private float _min = float.PositiveInfinity, _max = float.NegativeInfinity;

    /// <summary>Creates the observer; <paramref name="options"/> must name a per-tensor scheme.</summary>
    /// <exception cref="ArgumentException">The options are inconsistent.</exception>
    public MinMaxObserver(ObserverOptions? options = null)
        : base(options, perChannel: false)
    {
    }

    /// <summary>The (possibly averaged) minimum so far; +∞ before any data.</summary>
    public float Min => _min;

    /// <summary>The (possibly averaged) maximum so far; -∞ before any data.</summary>
    public float Max => _max;

    /// <inheritdoc/>
    public override bool HasObservedData => _min <= _max;

    /// <inheritdoc/>
    public override void Reset() => (_min, _max) = (float.PositiveInfinity, float.NegativeInfinity);

    private protected override void ObserveCore(Tensor x)
    {
        if (FiniteMinMax(x.AsSpan()) is not var (min, max))
            return;
        (_min, _max) = HasObservedData ? Update(_min, _max, min, max) : (min, max);
    }

    /// <summary>Combines the running range with a batch's: the envelope here, an average in the moving-average observer.</summary>
    private protected virtual (float Min, float Max) Update(float min, float max, float batchMin, float batchMax) =>
        (MathF.Min(min, batchMin), MathF.Max(max, batchMax));

    private protected override QuantParams CalculateCore() => FromRange(_min, _max);
}

/// <summary>
/// The moving average of each batch's minimum and maximum (PyTorch's <c>MovingAverageMinMaxObserver</c>): the first
/// batch sets them, then <c>m += c * (batch_m - m)</c> with c = <see cref="ObserverOptions.AveragingConstant"/>.
/// QAT's activation fake-quantizers use it.
/// </summary>
public sealed class MovingAverageMinMaxObserver : MinMaxObserver
{
    /// <summary>Creates the observer; <paramref name="options"/> must name a per-tensor scheme.</summary>
    public MovingAverageMinMaxObserver(ObserverOptions? options = null)
        : base(options)
    {
    }

    private protected override (float Min, float Max) Update(float min, float max, float batchMin, float batchMax)
    {
        float c = Options.AveragingConstant;
        return (min + c * (batchMin - min), max + c * (batchMax - max));
    }
}

/// <summary>
/// Records nothing and only carries a dtype (PyTorch's <c>PlaceholderObserver</c>): it marks tensors whose parameters
/// are chosen elsewhere, such as the activations of dynamic quantization, computed per call.
/// <see cref="Observer.CalculateQParams"/> throws.
/// </summary>
public sealed class PlaceholderObserver : Observer
{
    /// <summary>Creates the placeholder.</summary>
    public PlaceholderObserver(ObserverOptions? options = null)
        : base(options, perChannel: (options ?? new ObserverOptions()).QScheme.IsPerChannel())
    {
    }

    /// <inheritdoc/>
    public override bool HasObservedData => false;

    /// <inheritdoc/>
    public override void Reset()
    {
    }

    private protected override void ObserveCore(Tensor x)
    {
    }

    private protected override void EnsureHasParameters() =>
        throw new InvalidOperationException("A PlaceholderObserver records no statistics and has no quantization parameters; they are chosen elsewhere (e.g. per call in dynamic quantization).");

    private protected override QuantParams CalculateCore() => throw new System.Diagnostics.UnreachableException();
}
