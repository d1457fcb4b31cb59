using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Quantization.Benchmarks.Infrastructure;
using Quantization.Observers;

namespace Quantization.Benchmarks.Observers;

/// <summary>
/// Each observer watching 1M seeded Gaussian floats (4 MB read per operation), the cost of one calibration batch;
/// and, separately, the histogram observers' parameter searches, which run once per calibration.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class ObserverBenchmarks
{
    private const int N = 1 << 20;

    private readonly Tensor _x = new(N);
    private readonly HistogramObserver _histogram = new();
    private readonly EntropyObserver _entropy = new();

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(42);
        var span = _x.AsSpan();
        for (int i = 0; i < N; i++)
            span[i] = (float)(Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
        _histogram.Observe(_x);
        _entropy.Observe(_x);
    }

    [Benchmark(Baseline = true), BytesPerOperation(4 * N)]
    public void MinMax() => new MinMaxObserver().Observe(_x);

    [Benchmark, BytesPerOperation(4 * N)]
    public void MovingAverageMinMax() => new MovingAverageMinMaxObserver().Observe(_x);

    [Benchmark, BytesPerOperation(4 * N)]
    public void PerChannelMinMax() =>
        new PerChannelMinMaxObserver(new ObserverOptions { QScheme = QScheme.PerChannelSymmetric, DType = QuantDType.QInt8 }).Observe(_x.Reshape(1024, 1024));

    [Benchmark, BytesPerOperation(4 * N)]
    public void Histogram() => new HistogramObserver().Observe(_x);

    [Benchmark, BytesPerOperation(4 * N)]
    public void Percentile() => new PercentileObserver().Observe(_x);

    [Benchmark, BytesPerOperation(4 * N)]
    public void Entropy() => new EntropyObserver().Observe(_x);

    [Benchmark]
    public QuantParams HistogramSearch() => _histogram.CalculateQParams();

    [Benchmark]
    public QuantParams EntropySearch() => _entropy.CalculateQParams();

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new ThroughputColumn());
    }
}
