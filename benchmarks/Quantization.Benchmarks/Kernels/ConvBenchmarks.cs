using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Quantization.Benchmarks.Infrastructure;
using Quantization.Kernels.Conv;
using Quantization.Kernels.Gemm;

namespace Quantization.Benchmarks.Kernels;

/// <summary>A convolution layer to benchmark: its geometry and input size, batch 1.</summary>
public sealed class ConvShape : IMacCount
{
    private ConvShape(string name, Conv2dGeometry geometry, int height, int width) => (Name, Geometry, Height, Width) = (name, geometry, height, width);

    public string Name { get; }

    public int Height { get; }

    public int Width { get; }

    internal Conv2dGeometry Geometry { get; }

    /// <summary>A MobileNet-style depthwise 3×3 and pointwise 1×1 pair, and a ResNet-style 3×3 at 56×56×64.</summary>
    public static ConvShape[] Layers { get; } =
    [
        new("MobileNet dw3x3 56x56x128", new Conv2dGeometry(128, 128, 3, 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, Groups: 128), 56, 56),
        new("MobileNet pw1x1 56x56 128-128", new Conv2dGeometry(128, 128, 1, 1), 56, 56),
        new("ResNet 3x3 56x56 64-64", new Conv2dGeometry(64, 64, 3, 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1), 56, 56),
    ];

    public long Macs => (long)Geometry.OutputHeight(Height) * Geometry.OutputWidth(Width) * Geometry.OutChannels * Geometry.PatchSize;

    public override string ToString() => Name;
}

/// <summary>
/// Convolution layers, INT8 (static quantization: u8 in, requantized u8 out with bias and ReLU) against FP32 (bias and
/// ReLU fused) in the same run, NCHW in and out, layout changes included, on 1 and 2 threads.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class ConvBenchmarks
{
    private float[] _xf = [];
    private float[] _yf = [];
    private float[] _bias = [];
    private byte[] _xq = [];
    private byte[] _yq = [];
    private Fp32Conv2d _fp32 = null!;
    private Int8Conv2d _int8 = null!;
    private Int8GemmEpilogue _epilogue = null!;

    [ParamsSource(nameof(Shapes))]
    public ConvShape Shape { get; set; } = ConvShape.Layers[0];

    [Params(1, 2)]
    public int Threads { get; set; }

    public static IEnumerable<ConvShape> Shapes => ConvShape.Layers;

    [GlobalSetup]
    public void Setup()
    {
        var rng = new Random(7);
        var g = Shape.Geometry;
        int inputs = g.InChannels * Shape.Height * Shape.Width, outputs = g.OutChannels * g.OutputHeight(Shape.Height) * g.OutputWidth(Shape.Width);
        _xf = Enumerable.Range(0, inputs).Select(_ => (float)rng.NextDouble()).ToArray();
        _yf = new float[outputs];
        _bias = Enumerable.Range(0, g.OutChannels).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        _fp32 = new Fp32Conv2d(g, Enumerable.Range(0, g.OutChannels * g.PatchSize).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray());

        _xq = new byte[inputs];
        rng.NextBytes(_xq);
        _yq = new byte[outputs];
        var wq = Enumerable.Range(0, g.OutChannels * g.PatchSize).Select(_ => (sbyte)rng.Next(-127, 128)).ToArray();
        _int8 = new Int8Conv2d(g, wq, [0]);
        _epilogue = Int8GemmEpilogue.Requantize(Enumerable.Repeat(1e-3f, g.OutChannels).ToArray(), new int[g.OutChannels], 0, 0, 255, signedOutput: false);
    }

    [Benchmark(Baseline = true)]
    public void Fp32() => _fp32.Run(_xf, 1, Shape.Height, Shape.Width, _bias, _yf, Fp32Activation.Relu, maxThreads: Threads);

    [Benchmark]
    public void Int8() => _int8.Run<byte>(_xq, 1, Shape.Height, Shape.Width, 128, _epilogue, _yq, Threads);

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new MacThroughputColumn());
    }
}
