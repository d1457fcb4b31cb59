using System.Diagnostics;
using Quantization.Kernels.Elementwise;

namespace Quantization.Observers;

/// <summary>
/// Watches FP32 tensors during calibration and turns their statistics into <see cref="QuantParams"/> (PyTorch's
/// observers). <see cref="Observe"/> never modifies its input.
/// </summary>
/// <remarks>
/// Non-finite values: NaN is rejected with an <see cref="ArgumentException"/> (a NaN activation means the model is
/// broken, and no range can hold it); ±Infinity is ignored, so only finite values calibrate the range (infinities
/// then saturate when quantized). An empty tensor is ignored. An observer that saw no data returns scale 1 and zero
/// point 0, as PyTorch does, traces a warning, and reports <see cref="HasObservedData"/> false.
/// </remarks>
public abstract class Observer
{
    private protected Observer(ObserverOptions? options, bool perChannel)
    {
        Options = options ?? new ObserverOptions();
        (QuantMin, QuantMax) = Options.ResolveRange();
        if (perChannel != Options.QScheme.IsPerChannel())
        {
            throw new ArgumentException(perChannel
                ? $"{GetType().Name} needs a per-channel scheme, not {Options.QScheme}."
                : $"{GetType().Name} needs a per-tensor scheme, not {Options.QScheme}; use a per-channel observer.", nameof(options));
        }
    }

    /// <summary>The options this observer was built with.</summary>
    public ObserverOptions Options { get; }

    /// <summary>The smallest integer of the target range.</summary>
    public int QuantMin { get; }

    /// <summary>The largest integer of the target range.</summary>
    public int QuantMax { get; }

    /// <summary>True once a tensor with at least one finite value has been observed.</summary>
    public abstract bool HasObservedData { get; }

    /// <summary>Records the statistics of <paramref name="x"/>.</summary>
    /// <exception cref="ArgumentNullException"><paramref name="x"/> is null.</exception>
    /// <exception cref="ArgumentException"><paramref name="x"/> contains NaN, or does not fit a per-channel observer.</exception>
    public void Observe(Tensor x)
    {
        ArgumentNullException.ThrowIfNull(x);
        if (x.Length == 0)
            return;
        int nan = QuantizeKernels.IndexOfNaN(x.AsSpan());
        if (nan >= 0)
            throw new ArgumentException($"Element {nan} is NaN; observers calibrate finite values only.", nameof(x));
        ObserveCore(x);
    }

    /// <summary>The quantization parameters for what was observed.</summary>
    /// <exception cref="InvalidOperationException">The observer has no parameters to give (<see cref="PlaceholderObserver"/>).</exception>
    public QuantParams CalculateQParams()
    {
        EnsureHasParameters();
        if (!HasObservedData)
        {
            Trace.TraceWarning($"{GetType().Name} saw no data before CalculateQParams; returning scale 1 and zero point 0.");
            return QuantParams.PerTensorAffine(1f, 0, Options.DType);
        }

        return CalculateCore();
    }

    /// <summary>Forgets everything observed.</summary>
    public abstract void Reset();

    private protected abstract void ObserveCore(Tensor x);

    /// <summary>Throws for observers that never produce parameters.</summary>
    private protected virtual void EnsureHasParameters()
    {
    }

    private protected abstract QuantParams CalculateCore();

    /// <summary>Per-tensor parameters for the range [<paramref name="min"/>, <paramref name="max"/>].</summary>
    private protected QuantParams FromRange(float min, float max)
    {
        var (scale, zp) = Calculate(min, max);
        return Options.QScheme == QScheme.PerTensorSymmetric && zp == QuantParams.SymmetricZeroPoint(Options.DType)
            ? QuantParams.PerTensorSymmetric(scale, Options.DType)
            : QuantParams.PerTensorAffine(scale, zp, Options.DType);
    }

    /// <summary>Per-channel parameters for the ranges of every channel.</summary>
    private protected QuantParams FromRanges(ReadOnlySpan<float> mins, ReadOnlySpan<float> maxs, int axis)
    {
        var scales = new float[mins.Length];
        var zeroPoints = new int[mins.Length];
        for (int c = 0; c < mins.Length; c++)
            (scales[c], zeroPoints[c]) = Calculate(mins[c], maxs[c]);
        bool symmetric = Options.QScheme == QScheme.PerChannelSymmetric
            && Array.TrueForAll(zeroPoints, z => z == QuantParams.SymmetricZeroPoint(Options.DType));
        return symmetric
            ? QuantParams.PerChannelSymmetric(scales, axis, Options.DType)
            : QuantParams.PerChannelAffine(scales, zeroPoints, axis, Options.DType);
    }

    private (float Scale, int ZeroPoint) Calculate(float min, float max) =>
        QParamsMath.Calculate(min, max, QuantMin, QuantMax, Options.QScheme.IsSymmetric(), Options.DType, Options.QuantMin.HasValue, Options.Eps);

    /// <summary>The smallest and largest finite values, or null when there are none.</summary>
    private protected static (float Min, float Max)? FiniteMinMax(ReadOnlySpan<float> values)
    {
        if (values.IsEmpty)
            return null;
        var (min, max) = (System.Numerics.Tensors.TensorPrimitives.Min(values), System.Numerics.Tensors.TensorPrimitives.Max(values));
        if (float.IsFinite(min) && float.IsFinite(max))
            return (min, max);

        // Rare: infinities present. Only finite values calibrate.
        float lo = float.PositiveInfinity, hi = float.NegativeInfinity;
        foreach (float v in values)
        {
            if (float.IsFinite(v))
            {
                lo = MathF.Min(lo, v);
                hi = MathF.Max(hi, v);
            }
        }

        return lo <= hi ? (lo, hi) : null;
    }
}
