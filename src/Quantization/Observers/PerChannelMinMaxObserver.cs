namespace Quantization.Observers;

/// <summary>
/// The running minimum and maximum of every slice along <see cref="ObserverOptions.ChannelAxis"/> (PyTorch's
/// <c>PerChannelMinMaxObserver</c>), for weights: axis 0 is a Linear or Conv layer's output channel.
/// </summary>
public class PerChannelMinMaxObserver : Observer
{
    private float[]? _min, _max;

    /// <summary>Creates the observer; <paramref name="options"/> must name a per-channel scheme.</summary>
    /// <exception cref="ArgumentException">The options are inconsistent.</exception>
    public PerChannelMinMaxObserver(ObserverOptions? options = null)
        : base(options ?? new ObserverOptions { QScheme = QScheme.PerChannelAffine }, perChannel: true)
    {
    }

    /// <summary>The per-channel minima so far (empty before any data).</summary>
    public ReadOnlySpan<float> Min => _min;

    /// <summary>The per-channel maxima so far (empty before any data).</summary>
    public ReadOnlySpan<float> Max => _max;

    /// <inheritdoc/>
    public override bool HasObservedData => _min is not null;

    /// <inheritdoc/>
    public override void Reset() => (_min, _max) = (null, null);

    private protected override void ObserveCore(Tensor x)
    {
        int axis = Options.ChannelAxis;
        if (axis >= x.Rank)
            throw new ArgumentOutOfRangeException(nameof(x), axis, $"The channel axis {axis} does not exist in a tensor of rank {x.Rank}.");
        var layout = ChannelLayout.Around(x.Shape, axis);
        if (_min is not null && _min.Length != layout.Channels)
            throw new ArgumentException($"This observer has seen {_min.Length} channels along axis {axis}; the tensor has {layout.Channels}.", nameof(x));

        var batchMin = new float[layout.Channels];
        var batchMax = new float[layout.Channels];
        ReadOnlySpan<float> values = x.AsSpan();
        for (int c = 0; c < layout.Channels; c++)
        {
            float lo = float.PositiveInfinity, hi = float.NegativeInfinity;
            for (int o = 0; o < layout.Outer; o++)
            {
                if (FiniteMinMax(values.Slice(layout.Start(o, c), layout.Inner)) is var (min, max))
                {
                    lo = MathF.Min(lo, min);
                    hi = MathF.Max(hi, max);
                }
            }

            (batchMin[c], batchMax[c]) = (lo, hi);
        }

        if (_min is null || _max is null)
        {
            (_min, _max) = (batchMin, batchMax);
            return;
        }

        for (int c = 0; c < batchMin.Length; c++)
        {
            if (batchMin[c] > batchMax[c])
                continue; // no finite value in this channel
            (_min[c], _max[c]) = _min[c] > _max[c] ? (batchMin[c], batchMax[c]) : Update(_min[c], _max[c], batchMin[c], batchMax[c]);
        }
    }

    /// <summary>Combines a channel's running range with a batch's.</summary>
    private protected virtual (float Min, float Max) Update(float min, float max, float batchMin, float batchMax) =>
        (MathF.Min(min, batchMin), MathF.Max(max, batchMax));

    private protected override QuantParams CalculateCore()
    {
        // A channel that never saw a finite value gets the range [0, 0] (scale eps), like an all-zero channel.
        var mins = _min!.Select(v => float.IsFinite(v) ? v : 0f).ToArray();
        var maxs = _max!.Select(v => float.IsFinite(v) ? v : 0f).ToArray();
        return FromRanges(mins, maxs, Options.ChannelAxis);
    }
}

/// <summary>
/// Per-channel moving averages of each batch's minima and maxima (PyTorch's
/// <c>MovingAveragePerChannelMinMaxObserver</c>): <c>m += c * (batch_m - m)</c> per channel.
/// </summary>
public sealed class MovingAveragePerChannelMinMaxObserver : PerChannelMinMaxObserver
{
    /// <summary>Creates the observer; <paramref name="options"/> must name a per-channel scheme.</summary>
    public MovingAveragePerChannelMinMaxObserver(ObserverOptions? options = null)
        : base(options)
    {
    }

    private protected override (float Min, float Max) Update(float min, float max, float batchMin, float batchMax)
    {
        float c = Options.AveragingConstant;
        return (min + c * (batchMin - min), max + c * (batchMax - max));
    }
}
