using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Quantization.Benchmarks.Infrastructure;
using Quantization.Kernels.Gemm;

namespace Quantization.Benchmarks.Kernels;

/// <summary>
/// The DESIGN.md §4 GEMM sizes on 1 and 2 threads, in one run: the FP32 GEMM (baseline), the best INT8 variant
/// (on AVX512-VNNI CPUs the generated 512-bit kernels) and the best managed INT8 variant. INT8 uses the
/// dynamic-quantization epilogue (FP32 output with per-column scale and bias), as a quantized Linear layer does;
/// FP32 adds the same bias.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class GemmBenchmarks
{
    private float[] _af = [];
    private byte[] _aq = [];
    private float[] _bias = [];
    private float[] _c = [];
    private Fp32PackedB _fp32 = null!;
    private Int8PackedWeights _int8 = null!;
    private Int8PackedWeights _int8Managed = null!;
    private Int8GemmEpilogue _epilogue = null!;

    [ParamsSource(nameof(Shapes))]
    public GemmShape Shape { get; set; } = GemmShape.Design[0];

    [Params(1, 2)]
    public int Threads { get; set; }

    public static IEnumerable<GemmShape> Shapes => GemmShape.Design;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(42);
        var (m, k, n) = (Shape.M, Shape.K, Shape.N);
        _af = Enumerable.Range(0, m * k).Select(_ => (float)rng.NextDouble()).ToArray();
        var wf = Enumerable.Range(0, k * n).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        _aq = new byte[m * k];
        rng.NextBytes(_aq);
        var wq = new sbyte[k * n];
        rng.NextBytes(MemoryMarshal.AsBytes(wq.AsSpan()));
        _bias = new float[n];
        _fp32 = Fp32Gemm.Pack(wf, k, n, transposed: true);
        _int8 = Int8Gemm.Pack(wq, k, n, transposed: true, [0]);
        var managed = Int8Gemm.Registry.Supported.First(v => v is not Int8GemmAvx512VnniJit);
        _int8Managed = Int8Gemm.Pack(wq, k, n, transposed: true, [0], managed);
        _epilogue = Int8GemmEpilogue.ToFloat(Enumerable.Repeat(1e-4f, n).ToArray(), _bias);
        _c = new float[m * n];
    }

    [Benchmark(Baseline = true)]
    public void Fp32() => Fp32Gemm.Multiply(_af, Shape.M, Shape.K, _fp32, _bias, _c, Shape.N, maxThreads: Threads);

    [Benchmark]
    public void Int8() => Int8Gemm.Multiply<float>(_aq, Shape.M, Shape.K, 128, _int8, _epilogue, _c, Shape.N, Threads);

    [Benchmark]
    public void Int8Managed() => Int8Gemm.Multiply<float>(_aq, Shape.M, Shape.K, 128, _int8Managed, _epilogue, _c, Shape.N, Threads);

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new MacThroughputColumn());
    }
}
