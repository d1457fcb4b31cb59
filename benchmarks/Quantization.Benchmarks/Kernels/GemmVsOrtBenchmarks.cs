using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Quantization.Benchmarks.Infrastructure;
using Quantization.Kernels.Gemm;
using Quantization.Onnx.Proto;

namespace Quantization.Benchmarks.Kernels;

/// <summary>
/// Our INT8 GEMM against ONNX Runtime on the DESIGN.md §4 sizes, 1 and 2 threads, in one run: ORT's MatMulInteger
/// (baseline: u8 A with zero point 128, s8 B a constant initializer, int32 out), our best INT8 variant on the same
/// inputs with int32 output, and ORT's FP32 MatMul on the same values as floats (A - 128 and B). ORT runs with graph
/// optimizations on and as many intra-op threads as we use, through an IO binding to tensors created once, so its
/// timings exclude allocating inputs and outputs. Setup throws unless all three give the same numbers.
/// </summary>
[MemoryDiagnoser]
[Config(typeof(Config))]
public class GemmVsOrtBenchmarks
{
    private const byte AZeroPoint = 128;

    private byte[] _a = [];
    private int[] _c = [];
    private Int8PackedWeights _int8 = null!;
    private OrtGemm<int> _ortInteger = null!;
    private OrtGemm<float> _ortFloat = null!;

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
        _a = new byte[m * k];
        rng.NextBytes(_a);
        var w = new sbyte[k * n];
        rng.NextBytes(MemoryMarshal.AsBytes(w.AsSpan()));
        _int8 = Int8Gemm.Pack(w, k, n, transposed: false, [0]);
        _c = new int[m * n];

        _ortInteger = new OrtGemm<int>(MatMulModel(Shape, w, integer: true), OrtValue.CreateTensorValueFromMemory(_a, [m, k]), Shape, Threads);
        float[] af = _a.Select(x => (float)(x - AZeroPoint)).ToArray();
        _ortFloat = new OrtGemm<float>(MatMulModel(Shape, w, integer: false), OrtValue.CreateTensorValueFromMemory(af, [m, k]), Shape, Threads);

        Int8();
        OrtMatMulInteger();
        OrtMatMulFp32();
        CheckResults();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _ortInteger.Dispose();
        _ortFloat.Dispose();
    }

    [Benchmark(Baseline = true)]
    public void OrtMatMulInteger() => _ortInteger.Run();

    [Benchmark]
    public void Int8() => Int8Gemm.Multiply<int>(_a, Shape.M, Shape.K, AZeroPoint, _int8, Int8GemmEpilogue.Int32, _c, Shape.N, Threads);

    [Benchmark]
    public void OrtMatMulFp32() => _ortFloat.Run();

    /// <summary>ORT's int32 result must equal ours bit for bit; its FP32 one may differ from the exact integers only by rounding.</summary>
    private void CheckResults()
    {
        var ortInteger = _ortInteger.Output;
        int mismatch = _c.AsSpan().CommonPrefixLength(ortInteger);
        if (mismatch < _c.Length)
            throw new InvalidOperationException($"{Shape}: ORT MatMulInteger differs from our INT8 GEMM first at {mismatch}: {ortInteger[mismatch]} vs {_c[mismatch]}.");

        var ortFloat = _ortFloat.Output;
        double tolerance = 1e-6 * _c.Max(x => Math.Abs((double)x));
        for (int i = 0; i < _c.Length; i++)
        {
            if (Math.Abs(ortFloat[i] - (double)_c[i]) > tolerance)
                throw new InvalidOperationException($"{Shape}: ORT FP32 MatMul differs from the exact result at {i}: {ortFloat[i]} vs {_c[i]}.");
        }
    }

    /// <summary>C = MatMulInteger(A, B, 128) with A u8 and C int32, or C = MatMul(A, B) in FP32; B [K, N] is an initializer.</summary>
    private static byte[] MatMulModel(GemmShape shape, sbyte[] w, bool integer)
    {
        int input = (int)(integer ? TensorProto.Types.DataType.Uint8 : TensorProto.Types.DataType.Float);
        int output = (int)(integer ? TensorProto.Types.DataType.Int32 : TensorProto.Types.DataType.Float);
        var graph = new GraphProto { Name = "gemm" };
        graph.Input.Add(Value("A", input, shape.M, shape.K));
        graph.Output.Add(Value("C", output, shape.M, shape.N));
        ReadOnlySpan<byte> b = integer ? MemoryMarshal.AsBytes(w.AsSpan()) : MemoryMarshal.AsBytes(w.Select(x => (float)x).ToArray().AsSpan());
        graph.Initializer.Add(Initializer("B", integer ? (int)TensorProto.Types.DataType.Int8 : input, b, shape.K, shape.N));
        var node = new NodeProto { OpType = integer ? "MatMulInteger" : "MatMul" };
        node.Input.Add(["A", "B"]);
        if (integer)
        {
            graph.Initializer.Add(Initializer("a_zero_point", input, [AZeroPoint]));
            node.Input.Add("a_zero_point");
        }

        node.Output.Add("C");
        graph.Node.Add(node);
        var model = new ModelProto { IrVersion = 8, ProducerName = "benchmarks", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = 13 });
        return model.ToByteArray();
    }

    private static ValueInfoProto Value(string name, int elementType, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (long d in dims)
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elementType, Shape = shape } } };
    }

    private static TensorProto Initializer(string name, int elementType, ReadOnlySpan<byte> littleEndian, params long[] dims)
    {
        var t = new TensorProto { Name = name, DataType = elementType, RawData = ByteString.CopyFrom(littleEndian) };
        t.Dims.Add(dims);
        return t;
    }

    /// <summary>A session whose input A (owned from here on) and output C are bound once; ORT reads and writes them in place.</summary>
    private sealed class OrtGemm<TOut> : IDisposable
        where TOut : unmanaged
    {
        private readonly SessionOptions _options;
        private readonly InferenceSession _session;
        private readonly RunOptions _run = new();
        private readonly OrtValue _input;
        private readonly OrtValue _output;
        private readonly OrtIoBinding _binding;

        public OrtGemm(byte[] model, OrtValue input, GemmShape shape, int threads)
        {
            _options = new SessionOptions
            {
                IntraOpNumThreads = threads,
                InterOpNumThreads = 1,
                ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
                GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
            };
            _session = new InferenceSession(model, _options);
            _input = input;
            Output = new TOut[shape.M * shape.N];
            _output = OrtValue.CreateTensorValueFromMemory(Output, [shape.M, shape.N]);
            _binding = _session.CreateIoBinding();
            _binding.BindInput("A", _input);
            _binding.BindOutput("C", _output);
        }

        public TOut[] Output { get; }

        public void Run() => _session.RunWithBinding(_run, _binding);

        public void Dispose()
        {
            _binding.Dispose();
            _output.Dispose();
            _input.Dispose();
            _run.Dispose();
            _session.Dispose();
            _options.Dispose();
        }
    }

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new MacThroughputColumn());
    }
}
