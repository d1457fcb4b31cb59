using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Quantization.Graph;
using Quantization.Nn;
using Quantization.Onnx.Proto;
using Xunit;
using static Quantization.Onnx.Tests.ModelBuilder;

namespace Quantization.Onnx.Tests;

/// <summary>
/// Small models built in code: attribute forms the asset models do not use, checked against ONNX Runtime; layer
/// swapping; and the errors for bad inputs and unsupported models.
/// </summary>
public sealed class GraphImportTests
{
    private static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    private static AttributeProto Str(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    private static TensorProto Int64s(string name, long[] dims, params long[] values)
    {
        var t = new TensorProto { Name = name, DataType = Int64Type };
        t.Dims.Add(dims);
        t.Int64Data.Add(values);
        return t;
    }

    private static TensorProto RandomFloats(string name, int seed, params long[] dims)
    {
        var rng = new Random(seed);
        int n = (int)dims.Aggregate(1L, (a, b) => a * b);
        return Floats(name, dims, Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray());
    }

    /// <summary>One node from X to Y with the given extra inputs as initializers; checks ours against ONNX Runtime on a seeded X.</summary>
    private static void MatchesOnnxRuntime(long opset, int[] xShape, NodeProto node, params TensorProto[] initializers)
    {
        var graph = new GraphProto { Name = node.OpType };
        graph.Input.Add(Value("X", FloatType, xShape.Select(d => (long)d).ToArray()));
        graph.Output.Add(new ValueInfoProto { Name = "Y", Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = FloatType } } });
        graph.Initializer.Add(initializers);
        graph.Node.Add(node);
        byte[] bytes = Model(graph, opset).ToByteArray();

        Tensor x = GraphModuleAssetTests.Random(3, xShape);
        Tensor ours = OnnxModel.Load(bytes).ToGraphModule().Forward(x);
        using var session = new InferenceSession(bytes);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("X", new DenseTensor<float>(x.AsSpan().ToArray(), xShape))]);
        var expected = results.Single().AsTensor<float>();
        Assert.Equal(expected.Dimensions.ToArray(), ours.Shape.ToArray());
        float[] e = expected.ToArray();
        for (int i = 0; i < e.Length; i++)
            Assert.True(Math.Abs(e[i] - ours.AsSpan()[i]) <= 1e-5f, $"{node.OpType} element {i}: ONNX Runtime {e[i]}, ours {ours.AsSpan()[i]}.");
    }

    [Theory]
    [InlineData("SAME_UPPER")]
    [InlineData("SAME_LOWER")]
    [InlineData("VALID")]
    public void Conv_auto_pad_with_a_non_square_kernel(string autoPad) =>
        MatchesOnnxRuntime(13, [1, 2, 5, 6], Node("Conv", ["X", "W", "B"], ["Y"], "conv", Ints("kernel_shape", 2, 3), Str("auto_pad", autoPad)),
            RandomFloats("W", 1, 3, 2, 2, 3), RandomFloats("B", 2, 3));

    [Fact]
    public void Conv_with_asymmetric_pads_and_per_axis_strides() =>
        MatchesOnnxRuntime(13, [2, 4, 7, 9], Node("Conv", ["X", "W"], ["Y"], "conv", Ints("pads", 0, 1, 2, 3), Ints("strides", 2, 1), Int("group", 2)),
            RandomFloats("W", 4, 6, 2, 3, 2));

    [Fact]
    public void Conv_1d_runs_as_a_height_one_conv2d() =>
        MatchesOnnxRuntime(16, [1, 3, 20], Node("Conv", ["X", "W", "B"], ["Y"], "conv1d", Ints("pads", 2, 1), Ints("strides", 3)),
            RandomFloats("W", 5, 4, 3, 5), RandomFloats("B", 6, 4));

    [Fact]
    public void ConvTranspose_with_padding_and_output_padding() =>
        MatchesOnnxRuntime(11, [1, 4, 5, 6], Node("ConvTranspose", ["X", "W", "B"], ["Y"], "deconv", Ints("strides", 2, 3), Ints("pads", 1, 0, 0, 2), Ints("output_padding", 1, 1)),
            RandomFloats("W", 7, 4, 3, 3, 4), RandomFloats("B", 8, 3));

    [Fact]
    public void Gemm_with_alpha_beta_and_untransposed_b() =>
        MatchesOnnxRuntime(13, [3, 5], Node("Gemm", ["X", "W", "C"], ["Y"], "gemm", Float("alpha", 0.5f), Float("beta", 2f)),
            RandomFloats("W", 9, 5, 4), RandomFloats("C", 10, 4));

    [Fact]
    public void MatMul_by_a_constant_over_rank_3_input() =>
        MatchesOnnxRuntime(13, [2, 3, 5], Node("MatMul", ["X", "W"], ["Y"], "matmul"), RandomFloats("W", 11, 5, 4));

    [Fact]
    public void MaxPool_with_ceil_mode_pads_and_strides() =>
        MatchesOnnxRuntime(11, [1, 2, 7, 8], Node("MaxPool", ["X"], ["Y"], "pool", Ints("kernel_shape", 3, 2), Ints("strides", 2, 3), Ints("pads", 1, 0, 1, 1), Int("ceil_mode", 1)));

    [Fact]
    public void Softmax_before_opset_13_flattens_the_trailing_axes() =>
        MatchesOnnxRuntime(11, [2, 3, 4], Node("Softmax", ["X"], ["Y"], "softmax", Int("axis", 1)));

    [Theory]
    [InlineData("half_pixel", "round_prefer_floor")]
    [InlineData("asymmetric", "floor")]
    [InlineData("align_corners", "round_prefer_ceil")]
    [InlineData("pytorch_half_pixel", "ceil")]
    public void Resize_nearest_by_scales(string coordinates, string rounding) =>
        MatchesOnnxRuntime(13, [1, 2, 3, 5], Node("Resize", ["X", "", "S"], ["Y"], "resize", Str("coordinate_transformation_mode", coordinates), Str("nearest_mode", rounding)),
            Floats("S", [4], 1, 1, 2.5f, 0.6f));

    [Fact]
    public void Resize_nearest_by_sizes() =>
        MatchesOnnxRuntime(13, [1, 1, 4, 3], Node("Resize", ["X", "", "", "Z"], ["Y"], "resize", Str("coordinate_transformation_mode", "half_pixel")),
            Int64s("Z", [4], 1, 1, 7, 5));

    [Fact]
    public void Replacing_a_layer_module_changes_what_its_node_runs()
    {
        var graph = new GraphProto { Name = "fc" };
        graph.Input.Add(Value("X", FloatType, 1, 2));
        graph.Output.Add(Value("Y", FloatType, 1, 2));
        graph.Initializer.Add(Floats("W", [2, 2], 1, 2, 3, 4));
        graph.Node.Add(Node("Gemm", ["X", "W"], ["Y"], "fc", Int("transB", 1)));
        GraphModule module = Model(graph).Load().ToGraphModule();
        var node = Assert.Single(module.Nodes);
        Assert.Equal("fc", node.ModuleName);
        var x = new Tensor([1, 1], 1, 2);
        Assert.Equal([3f, 7f], module.Forward(x).AsSpan().ToArray());

        var replacement = new Linear(2, 2, bias: false);
        new float[] { 1, 0, 0, -1 }.CopyTo(replacement.Weight.Value.AsSpan());
        module.SetSubmodule("fc", replacement);
        Assert.Equal([1f, -1f], module.Forward(x).AsSpan().ToArray());
    }

    [Fact]
    public void Bad_inputs_are_argument_errors_that_name_the_input()
    {
        GraphModule module = AddModel().Load().ToGraphModule();
        var good = new Tensor(2, 2);
        Assert.Contains("'X' is missing", Assert.Throws<ArgumentException>(() => module.Run(new Dictionary<string, Tensor>())).Message);
        Assert.Contains("no input 'Z'", Assert.Throws<ArgumentException>(() => module.Run(new Dictionary<string, Tensor> { ["X"] = good, ["Z"] = good })).Message);
        Assert.Contains("'X' has rank 3", Assert.Throws<ArgumentException>(() => module.Forward(new Tensor(1, 2, 2))).Message);
        Assert.Contains("'X' has shape (2, 3)", Assert.Throws<ArgumentException>(() => module.Forward(new Tensor(2, 3))).Message);
        Assert.Equal([2f, 3f, 4f, 5f], module.Forward(Tensor.Full(1f, 2, 2)).AsSpan().ToArray());
    }

    [Fact]
    public void Unnamed_layers_are_named_by_op_type_and_forward_needs_one_input_and_output()
    {
        var graph = new GraphProto { Name = "two" };
        graph.Input.Add(Value("A", FloatType, 1, 2));
        graph.Input.Add(Value("B", FloatType, 1, 2));
        graph.Output.Add(Value("Y", FloatType, 1, 2));
        graph.Initializer.Add(Floats("W", [2, 2], 1, 0, 0, 1));
        graph.Node.Add(Node("MatMul", ["A", "W"], ["AW"]));
        graph.Node.Add(Node("MatMul", ["AW", "W"], ["AWW"]));
        graph.Node.Add(Node("Add", ["AWW", "B"], ["Y"]));
        GraphModule module = Model(graph).Load().ToGraphModule();
        Assert.Equal(["matmul", "matmul_1"], module.NamedChildren().Select(c => c.Name));
        Assert.Throws<InvalidOperationException>(() => module.Forward(new Tensor(1, 2)));
        var y = module.Run(new Dictionary<string, Tensor> { ["A"] = new Tensor([1, 2], 1, 2), ["B"] = new Tensor([10, 20], 1, 2) });
        Assert.Equal([11f, 22f], y["Y"].AsSpan().ToArray());
    }

    [Fact]
    public void A_node_that_rejects_its_inputs_is_named()
    {
        var graph = new GraphProto { Name = "reshape" };
        graph.Input.Add(Value("X", FloatType, 2, 3));
        graph.Output.Add(Value("Y", FloatType, 4, 2));
        graph.Initializer.Add(Int64s("S", [2], 4, 2));
        graph.Node.Add(Node("Reshape", ["X", "S"], ["Y"], "bad_reshape"));
        var e = Assert.Throws<ArgumentException>(() => Model(graph).Load().ToGraphModule().Forward(new Tensor(2, 3)));
        Assert.Contains("bad_reshape", e.Message);
    }

    [Fact]
    public void Unsupported_operators_and_attributes_name_the_node()
    {
        var graph = new GraphProto { Name = "unsupported" };
        graph.Input.Add(Value("X", FloatType, 2, 2));
        graph.Output.Add(Value("Y", FloatType, 2, 2));
        graph.Node.Add(Node("Hardmax", ["X"], ["Y"], "mystery"));
        var e = Assert.Throws<OnnxFormatException>(() => Model(graph).Load().ToGraphModule());
        Assert.Contains("Hardmax", e.Message);
        Assert.Contains("mystery", e.Message);

        graph.Node.Clear();
        graph.Node.Add(Node("Resize", ["X", "", "S"], ["Y"], "smooth", Str("mode", "cubic")));
        graph.Initializer.Add(Floats("S", [2], 1, 2));
        e = Assert.Throws<OnnxFormatException>(() => Model(graph).Load().ToGraphModule());
        Assert.Contains("smooth", e.Message);
        Assert.Contains("cubic", e.Message);

        // MatMul needs a constant right-hand side to become a layer.
        graph.Node.Clear();
        graph.Node.Add(Node("MatMul", ["X", "X"], ["Y"], "square"));
        e = Assert.Throws<OnnxFormatException>(() => Model(graph).Load().ToGraphModule());
        Assert.Contains("square", e.Message);
        Assert.Contains("not a constant", e.Message);
    }

    [Fact]
    public void Conv_weights_that_contradict_kernel_shape_are_rejected()
    {
        var graph = new GraphProto { Name = "conv" };
        graph.Input.Add(Value("X", FloatType, 1, 1, 4, 4));
        graph.Output.Add(Value("Y", FloatType, 1, 1, 2, 2));
        graph.Initializer.Add(RandomFloats("W", 1, 1, 1, 3, 3));
        graph.Node.Add(Node("Conv", ["X", "W"], ["Y"], "c1", Ints("kernel_shape", 2, 2)));
        var e = Assert.Throws<OnnxFormatException>(() => Model(graph).Load().ToGraphModule());
        Assert.Contains("c1", e.Message);
        Assert.Contains("kernel_shape", e.Message);
    }
}
