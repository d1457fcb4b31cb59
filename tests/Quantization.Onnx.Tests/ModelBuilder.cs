using Google.Protobuf;
using Quantization.Onnx.Proto;

namespace Quantization.Onnx.Tests;

/// <summary>Builds small models with the generated protobuf classes, for the error cases and the ONNX Runtime harness.</summary>
internal static class ModelBuilder
{
    public const int FloatType = (int)TensorProto.Types.DataType.Float;
    public const int Int64Type = (int)TensorProto.Types.DataType.Int64;

    public static ModelProto Model(GraphProto graph, long opset = 13)
    {
        var model = new ModelProto { IrVersion = 8, ProducerName = "tests", Graph = graph };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = opset });
        return model;
    }

    public static ValueInfoProto Value(string name, int elementType, params long[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (long d in dims)
            shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = elementType, Shape = shape } },
        };
    }

    public static TensorProto Floats(string name, long[] dims, params float[] values)
    {
        var t = new TensorProto { Name = name, DataType = FloatType };
        t.Dims.Add(dims);
        t.FloatData.Add(values);
        return t;
    }

    public static TensorProto Raw(string name, int elementType, long[] dims, byte[] raw)
    {
        var t = new TensorProto { Name = name, DataType = elementType, RawData = ByteString.CopyFrom(raw) };
        t.Dims.Add(dims);
        return t;
    }

    public static NodeProto Node(string opType, string[] inputs, string[] outputs, string name = "", params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = name };
        node.Input.Add(inputs);
        node.Output.Add(outputs);
        node.Attribute.Add(attributes);
        return node;
    }

    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.Add(values);
        return a;
    }

    /// <summary>Y = X + W with X [2, 2] and W an initializer: the smallest valid model, which tests then break.</summary>
    public static ModelProto AddModel()
    {
        var graph = new GraphProto { Name = "add" };
        graph.Input.Add(Value("X", FloatType, 2, 2));
        graph.Output.Add(Value("Y", FloatType, 2, 2));
        graph.Initializer.Add(Floats("W", [2, 2], 1, 2, 3, 4));
        graph.Node.Add(Node("Add", ["X", "W"], ["Y"], "add"));
        return Model(graph);
    }

    public static OnnxModel Load(this ModelProto model) => OnnxModel.Load(model.ToByteArray());
}
