using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Quantization.Onnx.Export;
using Quantization.Onnx.Proto;
using Xunit;
using static Quantization.Onnx.Tests.ModelBuilder;

namespace Quantization.Onnx.Tests.Export;

/// <summary>
/// Export raises opsets below 13 to 13; the operators whose meaning changed are rewritten, so ONNX Runtime computes
/// the same values from the exported (float) model as from the original.
/// </summary>
public sealed class OpsetUpgradeTests
{
    [Fact]
    public void Opset_9_clip_slice_pad_squeeze_and_softmax_mean_the_same_at_13()
    {
        var graph = new GraphProto { Name = "ops" };
        graph.Input.Add(Value("X", FloatType, 2, 3, 4, 5));
        graph.Output.Add(Value("Y", FloatType, 2, 2, 6, 6));
        graph.Output.Add(Value("Z", FloatType, 2, 2, 6, 6));
        graph.Node.Add(Node("Clip", ["X"], ["A"], "clip", Float("min", -0.5f), Float("max", 0.5f)));
        graph.Node.Add(Node("Slice", ["A"], ["B"], "slice", Ints("starts", 1, 0), Ints("ends", 3, 4), Ints("axes", 1, 3)));
        graph.Node.Add(Node("Pad", ["B"], ["C"], "pad", Ints("pads", 0, 0, 1, 1, 0, 0, 1, 1), Float("value", 0.25f)));
        graph.Node.Add(Node("Unsqueeze", ["C"], ["D"], "unsqueeze", Ints("axes", 0)));
        graph.Node.Add(Node("Squeeze", ["D"], ["E"], "squeeze", Ints("axes", 0)));
        graph.Node.Add(Node("Softmax", ["E"], ["Y"], "softmax_2d"));
        graph.Node.Add(Node("Softmax", ["E"], ["Z"], "softmax_last", Int("axis", -1)));
        AssertSameInOnnxRuntime(Model(graph, opset: 9), "X", GraphModuleAssetTests.Random(1, 2, 3, 4, 5));
    }

    [Fact]
    public void Opset_10_resize_keeps_asymmetric_floor_nearest_at_13()
    {
        var graph = new GraphProto { Name = "resize" };
        graph.Input.Add(Value("X", FloatType, 1, 2, 3, 3));
        graph.Output.Add(Value("Y", FloatType, 1, 2, 7, 5));
        graph.Initializer.Add(Floats("scales", [4], 1, 1, 2.5f, 1.7f));
        graph.Node.Add(Node("Resize", ["X", "scales"], ["Y"], "resize", new AttributeProto { Name = "mode", Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8("nearest") }));
        AssertSameInOnnxRuntime(Model(graph, opset: 10), "X", GraphModuleAssetTests.Random(2, 1, 2, 3, 3));
    }

    private static void AssertSameInOnnxRuntime(ModelProto proto, string input, Tensor x)
    {
        var model = proto.Load();
        using var stream = new MemoryStream();
        OnnxExporter.SaveQdq(model, model.ToGraphModule(), stream);
        var exported = OnnxModel.Load(stream.ToArray());
        Assert.Equal(13, exported.OpsetVersion);

        var expected = Run(proto.ToByteArray(), input, x);
        var actual = Run(stream.ToArray(), input, x);
        Assert.Equal(expected.Keys, actual.Keys);
        foreach (var (name, values) in expected)
            Assert.Equal(values, actual[name]);
    }

    private static Dictionary<string, float[]> Run(byte[] model, string input, Tensor x)
    {
        using var session = new InferenceSession(model);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor(input, new DenseTensor<float>(x.AsSpan().ToArray(), x.Shape.ToArray()))]);
        return results.ToDictionary(r => r.Name, r => r.AsTensor<float>().ToArray());
    }

    private static AttributeProto Float(string name, float value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

}
