namespace Quantization.Observers;

/// <summary>
/// PyTorch's <c>HistogramObserver</c>: a 2048-bin histogram of everything observed (merged into a growing range, so
/// memory stays fixed), and a range chosen by a greedy search that minimizes the L2 error of quantizing the
/// histogram to 256 levels.
/// </summary>
/// <remarks>
/// The search starts from the full histogram and repeatedly moves whichever end holds less mass inward by a
/// quantile step of 1e-5 of the total, computing the expected squared quantization error of the narrowed range
/// (each source bin's density spread uniformly, integrated against the destination bins it falls in), and stops at
/// the first step that makes the error worse. The range that clips the rare extreme values often beats
/// <see cref="MinMaxObserver"/> by a wide margin.
/// </remarks>
public sealed class HistogramObserver : Observer
{
    /// <summary>The number of histogram bins.</summary>
    public const int BinCount = 2048;

    private const int DestinationBins = 256;
    private const double QuantileStep = 1e-5;

    private readonly RunningHistogram _histogram = new(BinCount);

    /// <summary>Creates the observer; <paramref name="options"/> must name a per-tensor scheme.</summary>
    /// <exception cref="ArgumentException">The options are inconsistent.</exception>
    public HistogramObserver(ObserverOptions? options = null)
        : base(options, perChannel: false)
    {
    }

    /// <inheritdoc/>
    public override bool HasObservedData => !_histogram.IsEmpty;

    /// <inheritdoc/>
    public override void Reset() => _histogram.Clear();

    private protected override void ObserveCore(Tensor x)
    {
        if (FiniteMinMax(x.AsSpan()) is var (min, max))
            _histogram.Add(x.AsSpan(), min, max, absolute: false);
    }

    private protected override QuantParams CalculateCore()
    {
        if (_histogram.Min == _histogram.Max)
            return FromRange(_histogram.Min, _histogram.Max);
        var (min, max) = SearchRange();
        return FromRange(min, max);
    }

    /// <summary>The greedy quantile walk; returns the chosen range.</summary>
    private (float Min, float Max) SearchRange()
    {
        double[] counts = _histogram.Counts;
        double total = _histogram.Total;
        var cumulative = new double[BinCount];
        double running = 0;
        for (int i = 0; i < BinCount; i++)
            cumulative[i] = running += counts[i];

        double alpha = 0, beta = 1, bestNorm = double.PositiveInfinity;
        int start = 0, end = BinCount - 1;
        while (alpha < beta)
        {
            double nextAlpha = alpha + QuantileStep, nextBeta = beta - QuantileStep;
            int l = start, r = end;
            while (l < end && cumulative[l] < nextAlpha * total)
                l++;
            while (r > start && cumulative[r] > nextBeta * total)
                r--;

            int nextStart = start, nextEnd = end;
            if (l - start > end - r)
            {
                nextStart = l;
                alpha = nextAlpha;
            }
            else
            {
                nextEnd = r;
                beta = nextBeta;
            }

            if (nextStart == start && nextEnd == end)
                continue;
            double norm = QuantizationError(counts, nextStart, nextEnd);
            if (norm > bestNorm)
                break;
            (bestNorm, start, end) = (norm, nextStart, nextEnd);
        }

        return ((float)_histogram.Edge(start), (float)_histogram.Edge(end + 1));
    }

    /// <summary>The expected squared error of quantizing the histogram to 256 levels over bins [start, end].</summary>
    private double QuantizationError(double[] counts, int start, int end)
    {
        double binWidth = ((double)_histogram.Max - _histogram.Min) / BinCount;
        double dstWidth = binWidth * (end - start + 1) / DestinationBins;
        if (dstWidth == 0)
            return 0;
        double norm = 0;
        for (int i = 0; i < BinCount; i++)
        {
            if (counts[i] == 0)
                continue;
            double density = counts[i] / binWidth;
            double srcBegin = (i - start) * binWidth, srcEnd = srcBegin + binWidth;
            int dstOfBegin = Math.Clamp((int)Math.Floor(srcBegin / dstWidth), 0, DestinationBins - 1);
            int dstOfEnd = Math.Clamp((int)Math.Floor(srcEnd / dstWidth), 0, DestinationBins - 1);
            double beginCenter = (dstOfBegin + 0.5) * dstWidth, endCenter = (dstOfEnd + 0.5) * dstWidth;
            norm += Norm(srcBegin - beginCenter, dstWidth / 2, density);
            norm += (dstOfEnd - dstOfBegin - 1) * Norm(-dstWidth / 2, dstWidth / 2, density);
            norm += Norm(-dstWidth / 2, srcEnd - endCenter, density);
        }

        return norm;
    }

    /// <summary>∫ density · t² dt over [begin, end].</summary>
    private static double Norm(double begin, double end, double density) => density * (end * end * end - begin * begin * begin) / 3;
}
