namespace Quantization.Observers;

/// <summary>
/// Clips the range at a percentile of the observed values (ONNX Runtime's <c>Percentile</c> calibration), from a
/// 2048-bin histogram so memory does not grow with the data. Symmetric schemes use the percentile of |x| and the
/// range [-t, t]; affine schemes put <c>(100 - p)</c>% of the values below the minimum and as many above the maximum.
/// </summary>
public sealed class PercentileObserver : Observer
{
    private readonly RunningHistogram _histogram = new(HistogramObserver.BinCount);

    /// <summary>Creates the observer.</summary>
    /// <param name="percentile">The percentile p in (0, 100] to keep; default 99.99 (ONNX Runtime's is 99.999).</param>
    /// <param name="options">A per-tensor scheme.</param>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="percentile"/> is outside (50, 100].</exception>
    public PercentileObserver(double percentile = 99.99, ObserverOptions? options = null)
        : base(options, perChannel: false)
    {
        if (!(percentile > 50 && percentile <= 100))
            throw new ArgumentOutOfRangeException(nameof(percentile), percentile, "The percentile must lie in (50, 100].");
        Percentile = percentile;
    }

    /// <summary>The percentile kept.</summary>
    public double Percentile { get; }

    /// <inheritdoc/>
    public override bool HasObservedData => !_histogram.IsEmpty;

    /// <inheritdoc/>
    public override void Reset() => _histogram.Clear();

    private protected override void ObserveCore(Tensor x)
    {
        if (FiniteMinMax(x.AsSpan()) is not var (min, max))
            return;
        if (Options.QScheme.IsSymmetric())
            _histogram.Add(x.AsSpan(), 0, MathF.Max(-min, max), absolute: true);
        else
            _histogram.Add(x.AsSpan(), min, max, absolute: false);
    }

    private protected override QuantParams CalculateCore()
    {
        double tail = (100 - Percentile) / 100;
        if (Options.QScheme.IsSymmetric())
        {
            float t = Quantile(1 - tail);
            return FromRange(-t, t);
        }

        return FromRange(Quantile(tail), Quantile(1 - tail));
    }

    /// <summary>The value below which the fraction <paramref name="q"/> of the observations lie (upper bin edge).</summary>
    private float Quantile(double q)
    {
        double target = q * _histogram.Total, running = 0;
        for (int i = 0; i < _histogram.Bins; i++)
        {
            running += _histogram.Counts[i];
            if (running >= target)
                return (float)_histogram.Edge(i + 1);
        }

        return _histogram.Max;
    }
}
