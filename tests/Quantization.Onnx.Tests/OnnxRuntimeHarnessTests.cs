using Google.Protobuf;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Quantization.Onnx.Proto;
using Xunit;
using static Quantization.Onnx.Tests.ModelBuilder;

namespace Quantization.Onnx.Tests;

/// <summary>ONNX Runtime runs a model built in code: the reference later execution tests compare against.</summary>
public sealed class OnnxRuntimeHarnessTests
{
    [Fact]
    public void Onnx_runtime_runs_a_model_built_in_code()
    {
        // Y = Relu(X W + B) with X [2, 3], W [3, 2], B [2].
        var graph = new GraphProto { Name = "linear_relu" };
        graph.Input.Add(Value("X", FloatType, 2, 3));
        graph.Output.Add(Value("Y", FloatType, 2, 2));
        graph.Initializer.Add(Floats("W", [3, 2], 1, -1, 2, 0, -1, 1));
        graph.Initializer.Add(Floats("B", [2], 0.5f, -4));
        graph.Node.Add(Node("MatMul", ["X", "W"], ["xw"], "matmul"));
        graph.Node.Add(Node("Add", ["xw", "B"], ["pre"], "bias"));
        graph.Node.Add(Node("Relu", ["pre"], ["Y"], "relu"));
        byte[] bytes = Model(graph, opset: 17).ToByteArray();

        using var session = new InferenceSession(bytes);
        var x = new DenseTensor<float>(new float[] { 1, 2, 3, -1, 0, 4 }, [2, 3]);
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("X", x)]);
        float[] y = results.Single(r => r.Name == "Y").AsTensor<float>().ToArray();
        // Row 1: [1 + 4 - 3, -1 + 0 + 3] + [0.5, -4] = [2.5, -2] -> [2.5, 0]; row 2: [-1 - 4, 1 + 4] + B = [-4.5, 1] -> [0, 1].
        Assert.Equal([2.5f, 0f, 0f, 1f], y);

        // Our loader sees the same model.
        var model = OnnxModel.Load(bytes);
        Assert.Equal(["MatMul", "Add", "Relu"], model.Graph.Nodes.Select(n => n.OpType));
        Assert.Equal([0.5f, -4f], model.Graph.Initializers["B"].ToFloats());
    }
}
