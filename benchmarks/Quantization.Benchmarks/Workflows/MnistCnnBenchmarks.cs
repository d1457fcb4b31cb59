using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Quantization.Benchmarks.Infrastructure;
using Quantization.Nn;
using Quantization.Nn.Models;
using Quantization.Workflows;

namespace Quantization.Benchmarks.Workflows;

/// <summary>
/// Issue 5's target: the MNIST CNN statically quantized as the README shows (QuantWrapper, conv+bn+relu fused,
/// X86 defaults, calibrated on real digits), INT8 forward against FP32 forward (baseline) on a batch of 64 test
/// digits, 1 and 2 threads. Random weights: speed does not depend on training. The INT8 time includes quantizing the
/// input and dequantizing the logits.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class MnistCnnBenchmarks
{
    /// <summary>conv 3×3 1→16 at 28×28, conv 3×3 16→32 at 14×14, linear 1568→10, per digit.</summary>
    private const long Macs = MnistBatches.Size * (28 * 28 * 16 * 9 + 14 * 14 * 32 * 16 * 9 + 32 * 7 * 7 * 10);

    private static readonly string[][] s_fusion =
        [["module.features.0", "module.features.1", "module.features.2"], ["module.features.4", "module.features.5", "module.features.6"]];

    private Tensor _batch = null!;
    private Module _fp32 = null!;
    private Module _int8 = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Parallelism.ThreadCount = Threads;
        (_batch, var calibration) = MnistBatches.Load();
        Init.ManualSeed(1);
        _fp32 = MnistModels.Cnn().Eval();
        var copy = MnistModels.Cnn();
        copy.LoadStateDict(_fp32.StateDict());
        var model = new QuantWrapper(copy);
        Quantizer.FuseModules(model.Eval(), s_fusion);
        _int8 = Quantizer.Quantize(model, QConfig.GetDefault(QuantBackend.X86), m =>
        {
            foreach (var batch in calibration)
                m.Forward(batch);
        });
        MnistBatches.RequireClose(Fp32(), Int8(), minSqnrDb: 20, "MNIST CNN");
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
