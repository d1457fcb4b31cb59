using BenchmarkDotNet.Attributes;
using Quantization.Benchmarks.Infrastructure;
using Quantization.Kernels.Elementwise;

namespace Quantization.Benchmarks.Tensors;

/// <summary>
/// Quantize, dequantize and fake-quantize of 1M floats: the vectorized kernels against the scalar reference
/// in the same run. Traffic per op: quantize reads 4 MB and writes 1 MB; dequantize the reverse;
/// fake-quantize reads and writes 4 MB.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class QuantizeBenchmarks
{
    private const int N = 1 << 20;
    private const float Scale = 0.0137f;
    private const int ZeroPoint = 121;

    private readonly float[] _source = new float[N];
    private readonly byte[] _quantized = new byte[N];
    private readonly float[] _floats = new float[N];

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(42);
        for (int i = 0; i < N; i++)
            _source[i] = (float)(rng.NextDouble() * 4 - 2);
        QuantizeKernels.QuantizeToUInt8(_source, Scale, ZeroPoint, 0, 255, RoundingConvention.PyTorch, _quantized);
    }

    [Benchmark(Baseline = true), BenchmarkCategory("Quantize"), BytesPerOperation(5 * N)]
    public void QuantizeScalarReference()
    {
        for (int i = 0; i < N; i++)
            _quantized[i] = (byte)QuantizeReference.Quantize(_source[i], Scale, ZeroPoint, 0, 255, RoundingConvention.PyTorch);
    }

    [Benchmark, BenchmarkCategory("Quantize"), BytesPerOperation(5 * N)]
    public void QuantizeVectorized() =>
        QuantizeKernels.QuantizeToUInt8(_source, Scale, ZeroPoint, 0, 255, RoundingConvention.PyTorch, _quantized);

    [Benchmark, BenchmarkCategory("Quantize"), BytesPerOperation(5 * N)]
    public void QuantizeVectorizedOnnx() =>
        QuantizeKernels.QuantizeToUInt8(_source, Scale, ZeroPoint, 0, 255, RoundingConvention.Onnx, _quantized);

    [Benchmark(Baseline = true), BenchmarkCategory("Dequantize"), BytesPerOperation(5 * N)]
    public void DequantizeScalarReference()
    {
        for (int i = 0; i < N; i++)
            _floats[i] = QuantizeReference.Dequantize(_quantized[i], Scale, ZeroPoint);
    }

    [Benchmark, BenchmarkCategory("Dequantize"), BytesPerOperation(5 * N)]
    public void DequantizeVectorized() => QuantizeKernels.DequantizeUInt8(_quantized, Scale, ZeroPoint, _floats);

    [Benchmark(Baseline = true), BenchmarkCategory("FakeQuantize"), BytesPerOperation(8 * N)]
    public void FakeQuantizeScalarReference()
    {
        for (int i = 0; i < N; i++)
            _floats[i] = QuantizeReference.FakeQuantize(_source[i], Scale, ZeroPoint, 0, 255);
    }

    [Benchmark, BenchmarkCategory("FakeQuantize"), BytesPerOperation(8 * N)]
    public void FakeQuantizeVectorized() => QuantizeKernels.FakeQuantize(_source, Scale, ZeroPoint, 0, 255, _floats);

    private sealed class Config : BenchmarkDotNet.Configs.ManualConfig
    {
        public Config()
        {
            AddColumn(new ThroughputColumn());
            AddLogicalGroupRules(BenchmarkDotNet.Configs.BenchmarkLogicalGroupRule.ByCategory);
        }
    }
}
