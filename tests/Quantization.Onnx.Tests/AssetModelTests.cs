using Microsoft.ML.OnnxRuntime;
using Xunit;

namespace Quantization.Onnx.Tests;

/// <summary>Every asset model of DESIGN.md §5 loads, with facts checked against the files and against ONNX Runtime.</summary>
public sealed class AssetModelTests
{
    public static TheoryData<string> Names => ["cls", "det", "hello_deepa", "silero"];

    [Fact]
    public void Ocr_classifier_is_an_opset_9_cnn_with_weights_in_constant_nodes()
    {
        var model = OnnxModel.Load(AssetModels.OcrClassifier);
        Assert.Equal(9, model.OpsetVersion);
        var g = model.Graph;
        var input = Assert.Single(g.Inputs);
        Assert.Equal("x", input.Name);
        Assert.Equal(OnnxElementType.Float, input.ElementType);
        Assert.Equal(["p2o.DynamicDimension.0", "3", "p2o.DynamicDimension.1", "p2o.DynamicDimension.2"], input.Shape!.Select(d => d.ToString()));
        Assert.Equal(3, input.Shape![1].Value);
        Assert.False(input.Shape[0].IsFixed);
        Assert.Equal("softmax_0.tmp_0", Assert.Single(g.Outputs).Name);
        var ops = g.CountOpTypes();
        Assert.Equal(471, g.Nodes.Count);
        Assert.Equal(53, ops["Conv"]);
        Assert.Equal(35, ops["BatchNormalization"]);
        Assert.Equal(9, ops["HardSigmoid"]);
        Assert.Equal(250, ops["Constant"]);
        // The Paddle exporter stores every weight as a Constant node, none as an initializer.
        Assert.Empty(g.Initializers);
        Assert.Equal(250, g.Constants.Count);
    }

    [Fact]
    public void Ocr_detector_is_an_opset_11_cnn_with_resize_and_conv_transpose()
    {
        var model = OnnxModel.Load(AssetModels.OcrDetector);
        Assert.Equal(11, model.OpsetVersion);
        var g = model.Graph;
        Assert.Equal("x", Assert.Single(g.Inputs).Name);
        Assert.Equal(4, Assert.Single(g.Outputs).Shape!.Count);
        var ops = g.CountOpTypes();
        Assert.Equal(672, g.Nodes.Count);
        Assert.Equal(62, ops["Conv"]);
        Assert.Equal(2, ops["ConvTranspose"]);
        Assert.Equal(6, ops["Resize"]);
        Assert.Equal(342, g.Constants.Count);
        // A Conv's weight is a 4-d float constant [out, in/group, kh, kw].
        var conv = g.Nodes.First(n => n.OpType == "Conv");
        var weight = g.FindConstant(conv.Inputs[1]);
        Assert.NotNull(weight);
        Assert.Equal(4, weight.Dims.Count);
        Assert.Equal(OnnxElementType.Float, weight.ElementType);
        Assert.Equal(2, conv.GetInts("kernel_shape").Count);
    }

    [Fact]
    public void Hello_deepa_is_gemm_and_layer_norm_at_opset_13()
    {
        var model = OnnxModel.Load(AssetModels.HelloDeepa);
        Assert.Equal(13, model.OpsetVersion);
        Assert.Equal("pytorch", model.ProducerName);
        var g = model.Graph;
        var input = Assert.Single(g.Inputs);
        Assert.Equal("onnx::Flatten_0", input.Name);
        Assert.Equal([1L, 25, 96], input.Shape!.Select(d => d.Value!.Value));
        var output = Assert.Single(g.Outputs);
        Assert.Equal([1L, 1], output.Shape!.Select(d => d.Value!.Value));
        var ops = g.CountOpTypes();
        Assert.Equal(29, g.Nodes.Count);
        Assert.Equal(3, ops["Gemm"]);
        Assert.Equal(4, ops["ReduceMean"]);
        Assert.Equal(2, ops["Sqrt"]);
        Assert.Equal(10, g.Initializers.Count);
        // The first Gemm takes the flattened 25 x 96 features.
        var gemm = g.Nodes.First(n => n.OpType == "Gemm");
        var w = g.FindConstant(gemm.Inputs[1])!;
        Assert.Contains(2400L, w.Dims);
        Assert.Equal(1, gemm.GetInt("transB", 0));
    }

    [Fact]
    public void Silero_vad_is_an_if_over_two_rates_with_lstm_in_nested_subgraphs()
    {
        var model = OnnxModel.Load(AssetModels.SileroVadLegacy);
        Assert.Equal(16, model.OpsetVersion);
        var g = model.Graph;
        Assert.Equal(["input", "sr", "h", "c"], g.Inputs.Select(i => i.Name));
        Assert.Equal(["batch", "sequence"], g.Inputs[0].Shape!.Select(d => d.Param));
        Assert.Equal(OnnxElementType.Int64, g.Inputs[1].ElementType);
        Assert.Empty(g.Inputs[1].Shape!);
        Assert.Equal(["2", "batch", "64"], g.Inputs[2].Shape!.Select(d => d.ToString()));
        Assert.Equal(["output", "hn", "cn"], g.Outputs.Select(o => o.Name));
        Assert.Equal(["Equal", "If"], g.Nodes.Select(n => n.OpType));

        var branches = g.Nodes[1].Subgraphs.ToList();
        Assert.Equal(2, branches.Count);
        Assert.Equal(OnnxAttributeType.Graph, g.Nodes[1].GetAttribute("then_branch").Type);
        foreach (var branch in branches)
        {
            Assert.Equal(88, branch.Nodes.Count);
            Assert.Equal(18, branch.CountOpTypes()["Conv"]);
            // Branches read the main graph's weights and state from the enclosing scope.
            Assert.Contains("h", branch.OuterScopeNames);
            Assert.Contains("input", branch.OuterScopeNames);
            int lstms = branch.Nodes.SelectMany(n => n.Subgraphs).Sum(s => s.Nodes.Count(n => n.OpType == "LSTM"));
            Assert.Equal(4, lstms);
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Every_constant_holds_the_product_of_its_dims(string name)
    {
        var model = OnnxModel.Load(AssetModels.ByName(name));
        int checkedTensors = 0;
        foreach (var graph in AllGraphs(model.Graph))
        {
            foreach (var t in graph.Initializers.Values.Concat(graph.Constants.Values))
            {
                long product = t.Dims.Aggregate(1L, (a, d) => a * d);
                Assert.Equal(product, t.ElementCount);
                Assert.Equal(product * ElementBytes(t.ElementType), t.ToRawBytes().LongLength);
                if (t.ElementType == OnnxElementType.Float)
                    Assert.All(t.ToFloats(), v => Assert.True(float.IsFinite(v), $"{t.Name} holds {v}"));
                checkedTensors++;
            }
        }

        Assert.True(checkedTensors >= 14, $"{name}: only {checkedTensors} constant tensors");
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Inputs_and_outputs_agree_with_onnx_runtime(string name)
    {
        string path = AssetModels.ByName(name);
        var model = OnnxModel.Load(path);
        using var session = new InferenceSession(path);
        Assert.Equal(session.InputMetadata.Keys, model.Graph.Inputs.Select(i => i.Name));
        Assert.Equal(session.OutputMetadata.Keys, model.Graph.Outputs.Select(o => o.Name));
        foreach (var input in model.Graph.Inputs)
        {
            var meta = session.InputMetadata[input.Name];
            // ONNX Runtime reports a symbolic dimension as -1 with its name in SymbolicDimensions.
            Assert.Equal(meta.Dimensions, input.Shape!.Select(d => (int)(d.Value ?? -1)));
            Assert.Equal(meta.SymbolicDimensions, input.Shape!.Select(d => d.Param ?? ""));
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Loading_from_bytes_stream_and_path_agree(string name)
    {
        string path = AssetModels.ByName(name);
        var fromPath = OnnxModel.Load(path);
        var fromBytes = OnnxModel.Load(File.ReadAllBytes(path));
        using var stream = File.OpenRead(path);
        var fromStream = OnnxModel.Load(stream);
        Assert.Equal(fromPath.Graph.Nodes.Select(n => n.ToString()), fromBytes.Graph.Nodes.Select(n => n.ToString()));
        Assert.Equal(fromPath.Graph.Nodes.Count, fromStream.Graph.Nodes.Count);
        Assert.Equal(fromPath.OpsetImports, fromStream.OpsetImports);
    }

    internal static IEnumerable<OnnxGraph> AllGraphs(OnnxGraph graph) =>
        new[] { graph }.Concat(graph.Nodes.SelectMany(n => n.Subgraphs).SelectMany(AllGraphs));

    private static long ElementBytes(OnnxElementType type) => type switch
    {
        OnnxElementType.Float or OnnxElementType.Int32 => 4,
        OnnxElementType.Int64 or OnnxElementType.Double => 8,
        _ => 1,
    };
}
