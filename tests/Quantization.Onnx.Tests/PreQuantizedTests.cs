using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Quantization.Onnx.Proto;
using Xunit;
using static Quantization.Onnx.Tests.ModelBuilder;

namespace Quantization.Onnx.Tests;

/// <summary>
/// Pre-quantized models built in code, QOperator and QDQ, run by us and by ONNX Runtime on the same bytes. Integer
/// outputs must be equal except where noted; float outputs agree within a tight tolerance.
/// </summary>
public sealed class PreQuantizedTests(ITestOutputHelper output)
{
    private const int UInt8 = (int)TensorProto.Types.DataType.Uint8;
    private const int Int8 = (int)TensorProto.Types.DataType.Int8;
    private const int Int32 = (int)TensorProto.Types.DataType.Int32;

    // One seeded generator per test (xunit makes an instance per test), so values do not depend on test order.
    private readonly Random _random = new(20261123);

    private static TensorProto Typed(string name, int type, long[] dims, params int[] values) => Raw(name, type, dims, type switch
    {
        UInt8 => values.Select(v => (byte)v).ToArray(),
        Int8 => values.Select(v => unchecked((byte)(sbyte)v)).ToArray(),
        _ => values.SelectMany(BitConverter.GetBytes).ToArray(),
    });

    private static TensorProto Scalar(string name, float value) => Floats(name, [], value);

    private int[] RandomInts(int count, int min, int max) => Enumerable.Range(0, count).Select(_ => _random.Next(min, max + 1)).ToArray();

    private float[] RandomFloats(int count, float range) => Enumerable.Range(0, count).Select(_ => (float)(_random.NextDouble() * 2 - 1) * range).ToArray();

    private static GraphProto Graph(string name, params NodeProto[] nodes)
    {
        var graph = new GraphProto { Name = name };
        graph.Node.Add(nodes);
        return graph;
    }

    private static ValueInfoProto Output(string name, int type) =>
        new() { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = type } } };

    /// <summary>An input: its ONNX type, shape and values (integers for the integer types).</summary>
    private sealed record Feed(string Name, int Type, int[] Shape, float[] Values);

    /// <summary>
    /// Runs <paramref name="model"/> on both and compares every output: integer outputs may differ by at most
    /// <paramref name="maxIntDifference"/>, float outputs by <paramref name="floatTolerance"/>. Returns the largest differences seen.
    /// </summary>
    private GraphModuleOutputs Compare(ModelProto model, Feed[] feeds, int maxIntDifference = 0, float floatTolerance = 1e-6f)
    {
        byte[] bytes = model.ToByteArray();
        var module = OnnxModel.Load(bytes).ToGraphModule();
        var ours = module.Run(feeds.ToDictionary(f => f.Name, f => new Tensor(f.Values, f.Shape)));

        using var session = new InferenceSession(bytes);
        var ortInputs = feeds.Select(f => f.Type switch
        {
            UInt8 => NamedOnnxValue.CreateFromTensor(f.Name, new DenseTensor<byte>(f.Values.Select(v => (byte)v).ToArray(), f.Shape)),
            Int8 => NamedOnnxValue.CreateFromTensor(f.Name, new DenseTensor<sbyte>(f.Values.Select(v => (sbyte)v).ToArray(), f.Shape)),
            _ => NamedOnnxValue.CreateFromTensor(f.Name, new DenseTensor<float>(f.Values, f.Shape)),
        }).ToList();
        using var results = session.Run(ortInputs);
        float maxInt = 0, maxFloat = 0;
        foreach (var result in results)
        {
            (float[] expected, int[] dims, bool integer) = result.Value switch
            {
                Tensor<byte> t => (t.Select(v => (float)v).ToArray(), t.Dimensions.ToArray(), true),
                Tensor<sbyte> t => (t.Select(v => (float)v).ToArray(), t.Dimensions.ToArray(), true),
                Tensor<int> t => (t.Select(v => (float)v).ToArray(), t.Dimensions.ToArray(), true),
                Tensor<float> t => (t.ToArray(), t.Dimensions.ToArray(), false),
                var v => throw new InvalidOperationException($"Unexpected output type {v.GetType()}."),
            };
            Tensor actual = ours[result.Name];
            Assert.Equal(dims, actual.Shape.ToArray());
            for (int i = 0; i < expected.Length; i++)
            {
                float difference = Math.Abs(expected[i] - actual.AsSpan()[i]);
                Assert.True(difference <= (integer ? maxIntDifference : floatTolerance),
                    $"{result.Name}[{i}]: ONNX Runtime {expected[i]}, ours {actual.AsSpan()[i]}.");
                if (integer)
                    maxInt = Math.Max(maxInt, difference);
                else
                    maxFloat = Math.Max(maxFloat, difference);
            }
        }

        output.WriteLine($"{model.Graph.Name}: max integer difference {maxInt}, max float difference {maxFloat}");
        return new GraphModuleOutputs(module.Nodes.Select(n => n.OpType).ToArray(), maxInt, maxFloat);
    }

    private sealed record GraphModuleOutputs(string[] OpTypes, float MaxIntDifference, float MaxFloatDifference);

    [Theory]
    [InlineData(false, 1, 6)]
    [InlineData(true, 2, 6)]
    [InlineData(false, 4, 4)]
    public void QLinearConv_matches_onnx_runtime(bool signed, int groups, int outChannels)
    {
        int activation = signed ? Int8 : UInt8, qmin = signed ? -128 : 0, qmax = signed ? 127 : 255;
        var graph = Graph("qlinearconv", Node("QLinearConv", ["X", "xs", "xz", "W", "ws", "wz", "ys", "yz", "B"], ["Y"], "qconv",
            Ints("pads", 1, 0, 1, 2), Ints("strides", 2, 1), Int("group", groups)));
        graph.Input.Add(Value("X", activation, 2, 4, 9, 10));
        graph.Output.Add(Output("Y", activation));
        graph.Initializer.Add([
            Scalar("xs", 0.02f), Typed("xz", activation, [], signed ? -3 : 128),
            Typed("W", Int8, [outChannels, 4 / groups, 3, 3], RandomInts(outChannels * 4 / groups * 9, -127, 127)),
            Floats("ws", [outChannels], RandomFloats(outChannels, 0.01f).Select(v => Math.Abs(v) + 0.001f).ToArray()), Typed("wz", Int8, [outChannels], new int[outChannels]),
            Scalar("ys", 0.05f), Typed("yz", activation, [], signed ? 5 : 100), Typed("B", Int32, [outChannels], RandomInts(outChannels, -500, 500)),
        ]);
        var outcome = Compare(Model(graph), [new Feed("X", activation, [2, 4, 9, 10], RandomInts(720, qmin, qmax).Select(v => (float)v).ToArray())]);
        Assert.Equal(["QLinearConv"], outcome.OpTypes);
    }

    [Fact]
    public void QLinearMatMul_matches_onnx_runtime()
    {
        var graph = Graph("qlinearmatmul", Node("QLinearMatMul", ["A", "as", "az", "B", "bs", "bz", "ys", "yz"], ["Y"], "qmatmul"));
        graph.Input.Add(Value("A", UInt8, 2, 3, 17));
        graph.Output.Add(Output("Y", UInt8));
        graph.Initializer.Add([
            Scalar("as", 0.03f), Typed("az", UInt8, [], 120), Typed("B", Int8, [17, 7], RandomInts(17 * 7, -127, 127)),
            Scalar("bs", 0.004f), Typed("bz", Int8, [], 0), Scalar("ys", 0.04f), Typed("yz", UInt8, [], 131),
        ]);
        Compare(Model(graph), [new Feed("A", UInt8, [2, 3, 17], RandomInts(102, 0, 255).Select(v => (float)v).ToArray())]);
    }

    [Fact]
    public void MatMulInteger_and_ConvInteger_accumulators_are_exact()
    {
        var graph = Graph("integer",
            Node("MatMulInteger", ["A", "B", "az", "bz"], ["Y"], "mmi"),
            Node("ConvInteger", ["X", "W", "xz", "wz"], ["Z"], "convi", Ints("pads", 1, 1, 1, 1)));
        graph.Input.Add(Value("A", UInt8, 5, 33));
        graph.Input.Add(Value("X", UInt8, 1, 2, 6, 7));
        graph.Output.Add(Output("Y", Int32));
        graph.Output.Add(Output("Z", Int32));
        graph.Initializer.Add([
            Typed("B", UInt8, [33, 9], RandomInts(33 * 9, 0, 255)), Typed("az", UInt8, [], 17), Typed("bz", UInt8, [9], RandomInts(9, 100, 150)),
            Typed("W", UInt8, [3, 2, 3, 3], RandomInts(54, 0, 255)), Typed("xz", UInt8, [], 200), Typed("wz", UInt8, [], 128),
        ]);
        var outcome = Compare(Model(graph), [
            new Feed("A", UInt8, [5, 33], RandomInts(165, 0, 255).Select(v => (float)v).ToArray()),
            new Feed("X", UInt8, [1, 2, 6, 7], RandomInts(84, 0, 255).Select(v => (float)v).ToArray()),
        ]);
        Assert.Equal(0, outcome.MaxIntDifference);
    }

    [Fact]
    public void Dynamic_quantization_chain_matches_onnx_runtime()
    {
        // ONNX Runtime's dynamic quantization of a MatMul: DynamicQuantizeLinear, MatMulInteger, Cast, two Muls.
        var graph = Graph("dynamic",
            Node("DynamicQuantizeLinear", ["X"], ["Xq", "Xs", "Xz"], "dql"),
            Node("MatMulInteger", ["Xq", "W", "Xz", "wz"], ["Acc"], "mmi"),
            Node("Cast", ["Acc"], ["AccF"], "cast", Int("to", FloatType)),
            Node("Mul", ["Xs", "ws"], ["S"], "scale"),
            Node("Mul", ["AccF", "S"], ["Y"], "rescale"));
        graph.Input.Add(Value("X", FloatType, 4, 20));
        graph.Output.Add(Output("Y", FloatType));
        graph.Output.Add(Output("Xq", UInt8));
        graph.Initializer.Add([Typed("W", Int8, [20, 6], RandomInts(120, -127, 127)), Typed("wz", Int8, [], 0), Scalar("ws", 0.01f)]);
        var outcome = Compare(Model(graph), [new Feed("X", FloatType, [4, 20], RandomFloats(80, 3f))], floatTolerance: 1e-5f);
        Assert.Equal(0, outcome.MaxIntDifference);
    }

    [Fact]
    public void QLinearAdd_broadcasts_and_is_within_one_of_onnx_runtime()
    {
        // ONNX Runtime's vectorized QLinearAdd uses fixed-point multipliers, ours the float formula: ties may round apart.
        var node = Node("QLinearAdd", ["A", "as", "az", "B", "bs", "bz", "cs", "cz"], ["C"], "qadd");
        node.Domain = "com.microsoft";
        var graph = Graph("qlinearadd", node);
        graph.Input.Add(Value("A", UInt8, 2, 3, 40));
        graph.Input.Add(Value("B", UInt8, 3, 1));
        graph.Output.Add(Output("C", UInt8));
        graph.Initializer.Add([
            Scalar("as", 0.02f), Typed("az", UInt8, [], 128), Scalar("bs", 0.03f), Typed("bz", UInt8, [], 100),
            Scalar("cs", 0.045f), Typed("cz", UInt8, [], 110),
        ]);
        var model = Model(graph);
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "com.microsoft", Version = 1 });
        Compare(model, [
            new Feed("A", UInt8, [2, 3, 40], RandomInts(240, 0, 255).Select(v => (float)v).ToArray()),
            new Feed("B", UInt8, [3, 1], RandomInts(3, 0, 255).Select(v => (float)v).ToArray()),
        ], maxIntDifference: 1);
    }

    /// <summary>
    /// X → QuantizeLinear → DequantizeLinear → op(DequantizeLinear(W), DequantizeLinear(B)) → QuantizeLinear →
    /// DequantizeLinear → Y, with per-channel weights; ONNX Runtime fuses it as we do.
    /// </summary>
    private ModelProto QdqModel(string op, int[] xShape, long[] wShape, int channelAxis, bool bias, params AttributeProto[] attributes) =>
        QdqModel(op, xShape, wShape, channelAxis, bias, relu: false, 128, attributes);

    private ModelProto QdqModel(string op, int[] xShape, long[] wShape, int channelAxis, bool bias, bool relu, int yZeroPoint, params AttributeProto[] attributes)
    {
        int channels = (int)wShape[channelAxis];
        float xs = 0.025f, ys = 0.06f;
        float[] ws = RandomFloats(channels, 0.01f).Select(v => Math.Abs(v) + 0.002f).ToArray();
        var graph = Graph("qdq_" + op,
            Node("QuantizeLinear", ["X", "xs", "xz"], ["Xq"], "qx"),
            Node("DequantizeLinear", ["Xq", "xs", "xz"], ["Xd"], "dqx"),
            Node("DequantizeLinear", ["Wq", "ws", "wz"], ["Wd"], "dqw", Int("axis", channelAxis)),
            Node(op, bias ? ["Xd", "Wd", "Bd"] : ["Xd", "Wd"], ["Yf"], "op", attributes),
            Node("QuantizeLinear", [relu ? "Yr" : "Yf", "ys", "yz"], ["Yq"], "qy"),
            Node("DequantizeLinear", ["Yq", "ys", "yz"], ["Y"], "dqy"));
        if (relu)
            graph.Node.Insert(4, Node("Relu", ["Yf"], ["Yr"], "relu"));
        if (bias)
            graph.Node.Insert(3, Node("DequantizeLinear", ["Bq", "bs", "bz"], ["Bd"], "dqb", Int("axis", 0)));
        graph.Input.Add(Value("X", FloatType, xShape.Select(d => (long)d).ToArray()));
        graph.Output.Add(Output("Y", FloatType));
        graph.Initializer.Add([
            Scalar("xs", xs), Typed("xz", UInt8, [], 118), Floats("ws", [channels], ws), Typed("wz", Int8, [channels], new int[channels]),
            Typed("Wq", Int8, wShape, RandomInts((int)wShape.Aggregate(1L, (a, b) => a * b), -127, 127)),
            Scalar("ys", ys), Typed("yz", UInt8, [], yZeroPoint),
        ]);
        if (bias)
        {
            graph.Initializer.Add([
                Typed("Bq", Int32, [channels], RandomInts(channels, -2000, 2000)), Floats("bs", [channels], ws.Select(w => xs * w).ToArray()),
                Typed("bz", Int32, [channels], new int[channels]),
            ]);
        }

        return Model(graph);
    }

    [Fact]
    public void Qdq_conv_runs_fused_on_the_int8_kernel()
    {
        var model = QdqModel("Conv", [1, 3, 11, 12], [5, 3, 3, 3], 0, bias: true, Ints("pads", 1, 1, 1, 1));
        var outcome = Compare(model, [new Feed("X", FloatType, [1, 3, 11, 12], RandomFloats(396, 3f))]);
        Assert.Equal(["QuantizeLinear", "QLinearConv", "DequantizeLinear"], outcome.OpTypes);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(128)]
    public void Qdq_conv_with_relu_runs_fused_with_the_relu_as_the_lower_clamp(int yZeroPoint)
    {
        // With zero point 0 the Relu is the clamp QuantizeLinear does anyway. With 128, should ONNX Runtime run this
        // Conv in float between DequantizeLinear and QuantizeLinear instead of fusing, a value on a rounding boundary
        // could land one step (one output scale, 0.06) from our integer requantization; none did here.
        var model = QdqModel("Conv", [1, 3, 11, 12], [5, 3, 3, 3], 0, bias: true, relu: true, yZeroPoint, Ints("pads", 1, 1, 1, 1));
        var outcome = Compare(model, [new Feed("X", FloatType, [1, 3, 11, 12], RandomFloats(396, 3f))], floatTolerance: yZeroPoint == 0 ? 1e-6f : 0.0601f);
        Assert.Equal(["QuantizeLinear", "QLinearConv", "DequantizeLinear"], outcome.OpTypes);
    }

    [Fact]
    public void Qdq_matmul_and_gemm_run_fused_on_the_int8_gemm()
    {
        var matmul = Compare(QdqModel("MatMul", [2, 3, 24], [24, 10], 1, bias: false), [new Feed("X", FloatType, [2, 3, 24], RandomFloats(144, 3f))], floatTolerance: 1e-6f);
        Assert.Equal(["QuantizeLinear", "QLinearMatMul", "DequantizeLinear"], matmul.OpTypes);
        var gemm = Compare(QdqModel("Gemm", [4, 24], [10, 24], 0, bias: true, Int("transB", 1)), [new Feed("X", FloatType, [4, 24], RandomFloats(96, 3f))], floatTolerance: 1e-6f);
        Assert.Equal(["QuantizeLinear", "QGemm", "DequantizeLinear"], gemm.OpTypes);
    }

    [Fact]
    public void Qdq_conv_without_output_quantization_runs_in_fp32_on_dequantized_weights()
    {
        // Nothing quantizes the Conv's output, so neither ONNX Runtime nor we fuse: the weights are dequantized once.
        var graph = Graph("qdq_float_conv",
            Node("QuantizeLinear", ["X", "xs", "xz"], ["Xq"], "qx"),
            Node("DequantizeLinear", ["Xq", "xs", "xz"], ["Xd"], "dqx"),
            Node("DequantizeLinear", ["Wq", "ws", "wz"], ["Wd"], "dqw", Int("axis", 0)),
            Node("Conv", ["Xd", "Wd"], ["Y"], "conv", Ints("pads", 1, 1, 1, 1)));
        graph.Input.Add(Value("X", FloatType, 1, 2, 7, 8));
        graph.Output.Add(Output("Y", FloatType));
        graph.Initializer.Add([
            Scalar("xs", 0.03f), Typed("xz", Int8, [], 3), Floats("ws", [4], 0.01f, 0.02f, 0.005f, 0.03f), Typed("wz", Int8, [4], -2, 0, 1, 5),
            Typed("Wq", Int8, [4, 2, 3, 3], RandomInts(72, -127, 127)),
        ]);
        // Outputs reach about 100; both sum the same float products, in different orders.
        var outcome = Compare(Model(graph), [new Feed("X", FloatType, [1, 2, 7, 8], RandomFloats(112, 3f))], floatTolerance: 1e-4f);
        Assert.Equal(["QuantizeLinear", "DequantizeLinear", "Conv"], outcome.OpTypes);
    }

    [Fact]
    public void Int32_accumulators_beyond_two_to_the_24_equal_onnx_runtime_after_the_cast_to_float()
    {
        // |acc| up to 1100 · 255 · 127 ≈ 3.6e7 > 2^24: held as the nearest float, which is what Cast(to float) gives.
        var graph = Graph("large",
            Node("MatMulInteger", ["A", "B"], ["Acc"], "mmi"),
            Node("Cast", ["Acc"], ["Y"], "cast", Int("to", FloatType)));
        graph.Input.Add(Value("A", UInt8, 2, 1100));
        graph.Output.Add(Output("Y", FloatType));
        graph.Initializer.Add(Typed("B", Int8, [1100, 3], RandomInts(3300, 120, 127)));
        var outcome = Compare(Model(graph), [new Feed("A", UInt8, [2, 1100], RandomInts(2200, 250, 255).Select(v => (float)v).ToArray())], floatTolerance: 0);
        Assert.Equal(0, outcome.MaxFloatDifference);
    }

    [Fact]
    public void Unfused_quantize_and_dequantize_match_onnx_runtime_per_axis()
    {
        var graph = Graph("qdq",
            Node("QuantizeLinear", ["X", "s", "z"], ["Q"], "q", Int("axis", 1)),
            Node("DequantizeLinear", ["Q", "s", "z"], ["Y"], "dq", Int("axis", 1)));
        graph.Input.Add(Value("X", FloatType, 2, 3, 5));
        graph.Output.Add(Output("Q", Int8));
        graph.Output.Add(Output("Y", FloatType));
        graph.Initializer.Add([Floats("s", [3], 0.01f, 0.02f, 0.05f), Typed("z", Int8, [3], -5, 0, 7)]);
        var outcome = Compare(Model(graph), [new Feed("X", FloatType, [2, 3, 5], RandomFloats(30, 4f))]);
        Assert.Equal(0, outcome.MaxIntDifference);
    }

    [Fact]
    public void Every_unsupported_node_is_named_at_once()
    {
        var graph = Graph("unsupported",
            Node("Hardmax", ["X"], ["A"], "first"),
            Node("Relu", ["A"], ["B"], "fine"),
            Node("Celu", ["B"], ["Y"], "second"));
        graph.Input.Add(Value("X", FloatType, 2, 2));
        graph.Output.Add(Value("Y", FloatType, 2, 2));
        var e = Assert.Throws<OnnxFormatException>(() => Model(graph).Load().ToGraphModule());
        Assert.Contains("first", e.Message);
        Assert.Contains("Hardmax", e.Message);
        Assert.Contains("second", e.Message);
        Assert.Contains("Celu", e.Message);
        Assert.DoesNotContain("fine", e.Message);
    }
}
