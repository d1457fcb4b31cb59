namespace Quantization.Observers;

/// <summary>
/// Chooses the clipping threshold with the least Kullback–Leibler divergence between the distribution of |x| and
/// its quantized version (TensorRT's entropy calibration, ONNX Runtime's <c>Entropy</c>).
/// </summary>
/// <remarks>
/// A 2048-bin histogram of |x| (bounded memory). For each candidate threshold from bin 128 to bin 2048: the reference
/// distribution P is the histogram cut there with the outliers folded into its last bin; Q merges the kept bins into
/// 128 levels and spreads each level back evenly over the bins that had counts, except the first bin (zero, which
/// quantizes exactly, keeps its mass: spread, the zeros of a ReLU's output made the search clip such activations at
/// about 2σ); the threshold with the smallest
/// KL(P‖Q) wins. ONNX Runtime's defaults (128 bins and 128 levels) leave one candidate, the full range, and so
/// never clip; 2048 bins give the search real choices. The range is then [-t, t] for symmetric schemes, and the
/// observed range clipped to [-t, t] for affine ones.
/// </remarks>
public sealed class EntropyObserver : Observer
{
    private const int Levels = 128;

    private readonly RunningHistogram _histogram = new(HistogramObserver.BinCount);
    private float _min = float.PositiveInfinity, _max = float.NegativeInfinity;

    /// <summary>Creates the observer; <paramref name="options"/> must name a per-tensor scheme.</summary>
    public EntropyObserver(ObserverOptions? options = null)
        : base(options, perChannel: false)
    {
    }

    /// <inheritdoc/>
    public override bool HasObservedData => !_histogram.IsEmpty;

    /// <inheritdoc/>
    public override void Reset()
    {
        _histogram.Clear();
        (_min, _max) = (float.PositiveInfinity, float.NegativeInfinity);
    }

    private protected override void ObserveCore(Tensor x)
    {
        if (FiniteMinMax(x.AsSpan()) is not var (min, max))
            return;
        (_min, _max) = (MathF.Min(_min, min), MathF.Max(_max, max));
        _histogram.Add(x.AsSpan(), 0, MathF.Max(-min, max), absolute: true);
    }

    private protected override QuantParams CalculateCore()
    {
        float t = Threshold();
        return Options.QScheme.IsSymmetric() ? FromRange(-t, t) : FromRange(MathF.Max(_min, -t), MathF.Min(_max, t));
    }

    private float Threshold()
    {
        double[] h = _histogram.Counts;
        int bins = h.Length;
        if (_histogram.Max == 0)
            return 0;
        double bestDivergence = double.PositiveInfinity;
        int bestBin = bins;
        var p = new double[bins];
        var q = new double[bins];
        double outliers = h.Sum();
        for (int i = 0; i < Levels; i++)
            outliers -= h[i];
        for (int i = Levels; i <= bins; i++)
        {
            // P: the first i bins, everything beyond folded into the last one.
            Array.Copy(h, p, i);
            p[i - 1] += outliers;
            if (i < bins)
                outliers -= h[i];

            // Q: the first i bins merged into 128 levels, each spread back over its non-empty bins.
            Array.Clear(q, 0, i);
            // Zero is exact (it is the zero point), so the first bin, which holds the exact zeros of a ReLU's output,
            // keeps its own mass; spread over the first level, that spike would make every wider threshold look worse.
            q[0] = h[0];
            for (int level = 0; level < Levels; level++)
            {
                int from = Math.Max(1, level * i / Levels), to = (level + 1) * i / Levels;
                double sum = 0;
                int nonEmpty = 0;
                for (int j = from; j < to; j++)
                {
                    sum += h[j];
                    nonEmpty += h[j] > 0 ? 1 : 0;
                }

                for (int j = from; j < to && nonEmpty > 0; j++)
                    q[j] = h[j] > 0 ? sum / nonEmpty : 0;
            }

            double divergence = Divergence(p, q, i);
            if (divergence < bestDivergence)
                (bestDivergence, bestBin) = (divergence, i);
        }

        return (float)_histogram.Edge(bestBin);
    }

    /// <summary>KL(P‖Q) of the normalized first <paramref name="n"/> bins; bins where P has mass and Q none count as a large penalty.</summary>
    private static double Divergence(double[] p, double[] q, int n)
    {
        double pSum = 0, qSum = 0;
        for (int j = 0; j < n; j++)
        {
            pSum += p[j];
            qSum += q[j];
        }

        if (pSum == 0 || qSum == 0)
            return double.PositiveInfinity;
        double divergence = 0;
        for (int j = 0; j < n; j++)
        {
            if (p[j] == 0)
                continue;
            double pj = p[j] / pSum, qj = q[j] / qSum;
            // The folded outlier bin can have mass where Q has none; a small floor keeps the divergence finite but large.
            divergence += pj * Math.Log(pj / Math.Max(qj, 1e-12));
        }

        return divergence;
    }
}
