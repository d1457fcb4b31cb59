namespace Quantization.Observers;

/// <summary>
/// A fixed number of equal-width bins over a range that grows to cover every batch: the bounded-memory state of the
/// histogram-based observers. When a batch falls outside the range, the range widens and every old bin's count is
/// spread over the new bins it overlaps, in proportion to the overlap (values are taken as uniform within a bin).
/// </summary>
internal sealed class RunningHistogram(int bins)
{
    public int Bins { get; } = bins;

    public double[] Counts { get; } = new double[bins];

    public float Min { get; private set; } = float.PositiveInfinity;

    public float Max { get; private set; } = float.NegativeInfinity;

    public bool IsEmpty => Min > Max;

    public double Total => Counts.Sum();

    public void Clear()
    {
        Array.Clear(Counts);
        (Min, Max) = (float.PositiveInfinity, float.NegativeInfinity);
    }

    /// <summary>Adds the finite values of <paramref name="values"/> (their magnitudes when <paramref name="absolute"/>), within [<paramref name="batchMin"/>, <paramref name="batchMax"/>].</summary>
    public void Add(ReadOnlySpan<float> values, float batchMin, float batchMax, bool absolute)
    {
        if (IsEmpty)
            (Min, Max) = (batchMin, batchMax);
        else if (batchMin < Min || batchMax > Max)
            Widen(MathF.Min(Min, batchMin), MathF.Max(Max, batchMax));

        double width = (double)Max - Min;
        double perBin = width > 0 ? Bins / width : 0;
        foreach (float raw in values)
        {
            if (!float.IsFinite(raw))
                continue;
            float v = absolute ? MathF.Abs(raw) : raw;
            int bin = (int)((v - (double)Min) * perBin);
            Counts[Math.Clamp(bin, 0, Bins - 1)]++;
        }
    }

    /// <summary>The lower edge of bin <paramref name="bin"/>.</summary>
    public double Edge(int bin) => Min + ((double)Max - Min) * bin / Bins;

    private void Widen(float min, float max)
    {
        double oldWidth = ((double)Max - Min) / Bins, newWidth = ((double)max - min) / Bins;
        var old = (double[])Counts.Clone();
        Array.Clear(Counts);
        for (int i = 0; i < Bins; i++)
        {
            if (old[i] == 0)
                continue;
            double lo = Min + i * oldWidth, hi = lo + oldWidth;
            if (oldWidth == 0)
            {
                // Every earlier value was the same number: it lands in one bin.
                Counts[Math.Clamp((int)((lo - min) / newWidth), 0, Bins - 1)] += old[i];
                continue;
            }

            int first = Math.Clamp((int)((lo - min) / newWidth), 0, Bins - 1), last = Math.Clamp((int)((hi - min) / newWidth), 0, Bins - 1);
            for (int j = first; j <= last; j++)
            {
                double overlap = Math.Min(hi, min + (j + 1) * newWidth) - Math.Max(lo, min + j * newWidth);
                if (overlap > 0)
                    Counts[j] += old[i] * overlap / oldWidth;
            }
        }

        (Min, Max) = (min, max);
    }
}
