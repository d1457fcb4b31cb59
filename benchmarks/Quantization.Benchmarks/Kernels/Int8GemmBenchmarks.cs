using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Quantization.Benchmarks.Infrastructure;
using Quantization.Kernels.Gemm;

namespace Quantization.Benchmarks.Kernels;

/// <summary>
/// INT8 GEMM at the DESIGN.md §4 sizes on 1 and 2 threads with the dynamic-quantization epilogue (FP32 output with
/// per-column scale and bias), the way a quantized Linear layer calls it.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class Int8GemmBenchmarks
{
    private byte[] _a = [];
    private float[] _c = [];
    private Int8PackedWeights _weights = null!;
    private Int8GemmEpilogue _epilogue = null!;

    [ParamsSource(nameof(Shapes))]
    public GemmShape Shape { get; set; } = GemmShape.Design[0];

    [Params(1, 2)]
    public int Threads { get; set; }

    /// <summary>The two fastest variants this machine supports (on AVX512-VNNI: generated 512-bit code vs managed AVX-VNNI).</summary>
    [ParamsSource(nameof(Variants))]
    public string Variant { get; set; } = "";

    public static IEnumerable<GemmShape> Shapes => GemmShape.Design;

    public static IEnumerable<string> Variants => Int8Gemm.Registry.Supported.Take(2).Select(v => v.Name);

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(42);
        var (m, k, n) = (Shape.M, Shape.K, Shape.N);
        _a = new byte[m * k];
        rng.NextBytes(_a);
        var w = new sbyte[k * n];
        rng.NextBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(w.AsSpan()));
        _weights = Int8Gemm.Pack(w, k, n, transposed: true, [0], Int8Gemm.Registry.Find(Variant));
        _epilogue = Int8GemmEpilogue.ToFloat(Enumerable.Repeat(1e-4f, n).ToArray(), new float[n]);
        _c = new float[m * n];
    }

    [Benchmark]
    public void Int8() => Int8Gemm.Multiply<float>(_a, Shape.M, Shape.K, 128, _weights, _epilogue, _c, Shape.N, Threads);

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new MacThroughputColumn());
    }
}
