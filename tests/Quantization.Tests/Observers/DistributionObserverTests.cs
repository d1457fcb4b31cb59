using Quantization.Observers;
using Xunit;

namespace Quantization.Tests.Observers;

/// <summary>The clipping observers on a Gaussian with a few large outliers.</summary>
public class DistributionObserverTests
{
    private const int Seed = 99;
    private static readonly Lazy<Tensor> Data = new(() =>
    {
        // One million N(0, 1) samples (Box–Muller) and three outliers at ±30.
        var rng = new Random(Seed);
        var values = new float[1_000_000];
        for (int i = 0; i < values.Length; i++)
            values[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        values[10] = 30f;
        values[500_000] = -30f;
        values[999_999] = 30f;
        return new Tensor(values, values.Length);
    });

    public static TheoryData<string> ClippingObservers() => ["Histogram", "Percentile", "Entropy"];

    [Theory]
    [MemberData(nameof(ClippingObservers))]
    public void Clipping_observers_beat_min_max_on_outliers(string name)
    {
        var minMax = Calibrate(new MinMaxObserver());
        var clipping = Calibrate(Create(name));

        // MinMax keeps the outliers: its range covers ±30.
        Assert.True(minMax.Scale * (255 - minMax.ZeroPoint) >= 29.5f && minMax.Scale * minMax.ZeroPoint >= 29.5f);
        // The clipping observers cut them off ...
        float clippedMax = clipping.Scale * (255 - clipping.ZeroPoint);
        Assert.True(clippedMax < 15f, $"{name} kept a maximum of {clippedMax}");
        Assert.True(clippedMax > 2.5f, $"{name} clipped the bulk of the distribution at {clippedMax}");
        // ... and quantize the data with less error.
        double minMaxError = RoundTripError(minMax), clippingError = RoundTripError(clipping);
        Assert.True(clippingError < minMaxError, $"{name}: MSE {clippingError} is not below MinMax's {minMaxError} (seed {Seed})");
    }

    [Fact]
    public void Symmetric_schemes_give_symmetric_ranges()
    {
        var options = new ObserverOptions { DType = QuantDType.QInt8, QScheme = QScheme.PerTensorSymmetric };
        foreach (var observer in new Observer[] { new PercentileObserver(options: options), new EntropyObserver(options), new HistogramObserver(options) })
        {
            var p = Calibrate(observer);
            Assert.Equal(0, p.ZeroPoint);
            Assert.InRange(p.Scale * 127.5f, 2.5f, 15f);
        }
    }

    [Fact]
    public void Percentile_matches_the_gaussian_quantile()
    {
        // 99.9 % of |N(0,1)| lies below 3.29, so a symmetric 99.9 percentile gives amax ≈ 3.29 (bin width ~0.015).
        var observer = new PercentileObserver(99.9, new ObserverOptions { DType = QuantDType.QInt8, QScheme = QScheme.PerTensorSymmetric });
        var p = Calibrate(observer);
        Assert.InRange(p.Scale * 127.5f, 3.25f, 3.35f);
    }

    [Fact]
    public void Histogram_merges_batches_with_growing_ranges()
    {
        // The same data in one batch or in four (each with a different range) gives nearly the same choice.
        var whole = new HistogramObserver();
        whole.Observe(Data.Value);
        var parts = new HistogramObserver();
        var span = Data.Value.AsSpan();
        for (int i = 0; i < 4; i++)
            parts.Observe(new Tensor(span.Slice(i * 250_000, 250_000), 250_000));
        var a = whole.CalculateQParams();
        var b = parts.CalculateQParams();
        Assert.InRange(b.Scale / a.Scale, 0.9f, 1.1f);
        Assert.InRange(b.ZeroPoint - a.ZeroPoint, -3, 3);
    }

    [Fact]
    public void Histogram_of_a_constant_tensor_is_its_min_max()
    {
        var observer = new HistogramObserver();
        observer.Observe(Tensor.Full(2f, 100));
        Assert.Equal(2f / 255f, observer.CalculateQParams().Scale);
    }

    private static Observer Create(string name) => name switch
    {
        "Histogram" => new HistogramObserver(),
        "Percentile" => new PercentileObserver(),
        _ => new EntropyObserver(),
    };

    private static QuantParams Calibrate(Observer observer)
    {
        observer.Observe(Data.Value);
        return observer.CalculateQParams();
    }

    /// <summary>Mean squared error of quantize -> dequantize with the scalar PyTorch formula.</summary>
    private static double RoundTripError(QuantParams p)
    {
        double sum = 0;
        float inverse = 1f / p.Scale;
        foreach (float x in Data.Value.AsSpan())
        {
            int q = Math.Clamp(p.ZeroPoint + (int)MathF.Round(x * inverse, MidpointRounding.ToEven), 0, 255);
            double error = x - (double)p.Scale * (q - p.ZeroPoint);
            sum += error * error;
        }

        return sum / Data.Value.Length;
    }
}
