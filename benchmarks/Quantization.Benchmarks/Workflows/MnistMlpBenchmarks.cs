using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Quantization.Benchmarks.Infrastructure;
using Quantization.Nn;
using Quantization.Nn.Models;
using Quantization.Workflows;

namespace Quantization.Benchmarks.Workflows;

/// <summary>
/// The MNIST MLP dynamically quantized (INT8 weights, activations quantized per call), INT8 forward against FP32
/// forward (baseline) on a batch of 64 test digits, 1 and 2 threads. Random weights: speed does not depend on training.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class MnistMlpBenchmarks
{
    /// <summary>Linear 784→256, 256→128, 128→10, per digit.</summary>
    private const long Macs = MnistBatches.Size * (28 * 28 * 256 + 256 * 128 + 128 * 10);

    private Tensor _batch = null!;
    private Module _fp32 = null!;
    private Module _int8 = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Parallelism.ThreadCount = Threads;
        _batch = MnistBatches.Load(calibrationBatches: 0).Test;
        Init.ManualSeed(1);
        _fp32 = MnistModels.Mlp().Eval();
        var copy = MnistModels.Mlp();
        copy.LoadStateDict(_fp32.StateDict());
        _int8 = Quantizer.QuantizeDynamic(copy.Eval());
        MnistBatches.RequireClose(Fp32(), Int8(), minSqnrDb: 20, "MNIST MLP");
    }

    [Benchmark(Baseline = true), MacsPerOperation(Macs)]
    public Tensor Fp32() => _fp32.Forward(_batch);

    [Benchmark, MacsPerOperation(Macs)]
    public Tensor Int8() => _int8.Forward(_batch);

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new MacThroughputColumn());
    }
}
