using Google.Protobuf;
using Quantization.Onnx.Proto;
using Xunit;
using static Quantization.Onnx.Tests.ModelBuilder;

namespace Quantization.Onnx.Tests;

/// <summary>Each rule the loader enforces, broken on purpose in a small model built in code.</summary>
public sealed class ValidationTests
{
    [Fact]
    public void The_valid_base_model_loads()
    {
        var model = AddModel().Load();
        Assert.Equal(13, model.OpsetVersion);
        Assert.Equal("X", Assert.Single(model.Graph.Inputs).Name);
        Assert.Equal([1f, 2f, 3f, 4f], model.Graph.Initializers["W"].ToFloats());
    }

    [Theory]
    [InlineData(new byte[] { 0xff, 0xff, 0xff })]
    [InlineData(new byte[] { 0x0a, 0x80, 0x80, 0x80, 0x80, 0x08 })]   // field 1, length 2^31: truncated
    [InlineData(new byte[] { 0x3a, 0x05, 0x0a })]                     // graph field cut short
    public void Bytes_that_are_not_a_model_are_rejected(byte[] data)
    {
        var e = Assert.Throws<OnnxFormatException>(() => OnnxModel.Load(data));
        Assert.False(string.IsNullOrWhiteSpace(e.Message));
    }

    [Fact]
    public void A_truncated_model_is_a_protobuf_error()
    {
        byte[] data = AddModel().ToByteArray();
        var e = Assert.Throws<OnnxFormatException>(() => OnnxModel.Load(data.AsSpan(0, data.Length - 3)));
        Assert.Contains("truncated or corrupt", e.Message);
        Assert.IsType<InvalidProtocolBufferException>(e.InnerException);
    }

    [Fact]
    public void Empty_input_and_a_model_without_graph_are_rejected()
    {
        Assert.Contains("empty", Assert.Throws<OnnxFormatException>(() => OnnxModel.Load(ReadOnlySpan<byte>.Empty)).Message);
        var model = AddModel();
        model.Graph = null;
        Assert.Contains("no graph", Assert.Throws<OnnxFormatException>(() => model.Load()).Message);
    }

    [Theory]
    [InlineData(8)]
    [InlineData(22)]
    public void Unsupported_opsets_are_rejected(long opset)
    {
        var model = AddModel();
        model.OpsetImport[0].Version = opset;
        var e = Assert.Throws<OnnxFormatException>(() => model.Load());
        Assert.Contains($"opset {opset}", e.Message);
        Assert.Contains("9 to 21", e.Message);
    }

    [Fact]
    public void The_standard_opset_is_required_and_ai_onnx_is_its_alias()
    {
        var model = AddModel();
        model.OpsetImport[0].Domain = "ai.onnx";
        Assert.Equal(13, model.Load().OpsetImports[""]);
        model.OpsetImport[0].Domain = "com.example";
        Assert.Contains("standard ONNX operator set", Assert.Throws<OnnxFormatException>(() => model.Load()).Message);
    }

    [Fact]
    public void A_node_in_a_domain_that_is_not_imported_is_rejected()
    {
        var model = AddModel();
        model.Graph.Node[0].Domain = "com.microsoft";
        var e = Assert.Throws<OnnxFormatException>(() => model.Load());
        Assert.Contains("'com.microsoft'", e.Message);
        Assert.Contains("Node 'add' (Add)", e.Message);
    }

    [Fact]
    public void A_missing_initializer_names_the_node_and_the_value()
    {
        var model = AddModel();
        model.Graph.Initializer.Clear();
        var e = Assert.Throws<OnnxFormatException>(() => model.Load());
        Assert.Contains("Node 'add' (Add) reads 'W'", e.Message);
        Assert.Contains("missing initializer", e.Message);
    }

    [Fact]
    public void A_value_assigned_twice_is_rejected()
    {
        var model = AddModel();
        model.Graph.Node.Add(Node("Relu", ["X"], ["Y"], "relu"));
        var e = Assert.Throws<OnnxFormatException>(() => model.Load());
        Assert.Contains("'Y' is assigned twice", e.Message);
        Assert.Contains("node 'relu'", e.Message);

        var overwritesInput = AddModel();
        overwritesInput.Graph.Node.Add(Node("Relu", ["Y"], ["X"], "relu"));
        Assert.Contains("a graph input or initializer", Assert.Throws<OnnxFormatException>(() => overwritesInput.Load()).Message);
    }

    [Fact]
    public void Duplicate_initializers_inputs_outputs_and_attributes_are_rejected()
    {
        var initializers = AddModel();
        initializers.Graph.Initializer.Add(Floats("W", [2, 2], 0, 0, 0, 0));
        Assert.Contains("two initializers named 'W'", Assert.Throws<OnnxFormatException>(() => initializers.Load()).Message);

        var inputs = AddModel();
        inputs.Graph.Input.Add(Value("X", FloatType, 2, 2));
        Assert.Contains("input 'X' twice", Assert.Throws<OnnxFormatException>(() => inputs.Load()).Message);

        var outputs = AddModel();
        outputs.Graph.Output.Add(Value("Y", FloatType, 2, 2));
        Assert.Contains("output 'Y' twice", Assert.Throws<OnnxFormatException>(() => outputs.Load()).Message);

        var attributes = AddModel();
        attributes.Graph.Node[0].Attribute.Add([Ints("axes", 0), Ints("axes", 1)]);
        Assert.Contains("two attributes named 'axes'", Assert.Throws<OnnxFormatException>(() => attributes.Load()).Message);
    }

    [Fact]
    public void A_cycle_is_reported_with_its_nodes()
    {
        var graph = new GraphProto { Name = "loop" };
        graph.Input.Add(Value("X", FloatType, 2));
        graph.Output.Add(Value("Y", FloatType, 2));
        graph.Node.Add(Node("Add", ["X", "b"], ["a"], "first"));
        graph.Node.Add(Node("Relu", ["a"], ["b"], "second"));
        graph.Node.Add(Node("Relu", ["a"], ["Y"], "out"));
        var e = Assert.Throws<OnnxFormatException>(() => Model(graph).Load());
        Assert.Contains("cycle", e.Message);
        Assert.Contains("node 'second' (Relu) -> node 'first' (Add) -> node 'second' (Relu)", e.Message);
    }

    [Fact]
    public void A_node_reading_its_own_output_is_a_cycle()
    {
        var model = AddModel();
        model.Graph.Node.Add(Node("Add", ["Y", "z"], ["z"], "self"));
        Assert.Contains("node 'self' (Add) -> node 'self' (Add)", Assert.Throws<OnnxFormatException>(() => model.Load()).Message);
    }

    [Fact]
    public void Nodes_out_of_order_are_sorted_topologically()
    {
        var graph = new GraphProto { Name = "shuffled" };
        graph.Input.Add(Value("X", FloatType, 2));
        graph.Output.Add(Value("Y", FloatType, 2));
        graph.Node.Add(Node("Neg", ["b"], ["Y"], "third"));
        graph.Node.Add(Node("Relu", ["a"], ["b"], "second"));
        graph.Node.Add(Node("Abs", ["X"], ["a"], "first"));
        Assert.Equal(["first", "second", "third"], Model(graph).Load().Graph.Nodes.Select(n => n.Name));
    }

    [Fact]
    public void Graph_outputs_must_be_produced_and_declared()
    {
        var missing = AddModel();
        missing.Graph.Output.Add(Value("Z", FloatType, 2, 2));
        Assert.Contains("output 'Z' of the graph 'add' is not produced", Assert.Throws<OnnxFormatException>(() => missing.Load()).Message);

        var none = AddModel();
        none.Graph.Output.Clear();
        Assert.Contains("declares no outputs", Assert.Throws<OnnxFormatException>(() => none.Load()).Message);
    }

    [Fact]
    public void Negative_and_overflowing_dims_are_rejected()
    {
        var negative = AddModel();
        negative.Graph.Initializer[0].Dims[1] = -2;
        Assert.Contains("negative dimension -2 at axis 1", Assert.Throws<OnnxFormatException>(() => negative.Load()).Message);

        var overflow = AddModel();
        overflow.Graph.Initializer[0].Dims.Clear();
        overflow.Graph.Initializer[0].Dims.Add([1L << 40, 1L << 40]);
        var e = Assert.Throws<OnnxFormatException>(() => overflow.Load());
        Assert.Contains("initializer 'W'", e.Message);
        Assert.Contains("more elements than an array can hold", e.Message);

        var shape = AddModel();
        shape.Graph.Input[0].Type.TensorType.Shape.Dim[0].DimValue = -1;
        Assert.Contains("Dimension 0 of 'X'", Assert.Throws<OnnxFormatException>(() => shape.Load()).Message);
    }

    [Fact]
    public void A_huge_declared_size_is_checked_against_the_data_before_allocating()
    {
        var model = AddModel();
        // 2^28 floats (1 GiB) declared, 16 bytes present.
        model.Graph.Initializer[0] = Raw("W", FloatType, [1L << 14, 1L << 14], new byte[16]);
        byte[] data = model.ToByteArray();
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<OnnxFormatException>(() => OnnxModel.Load(data));
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Contains("raw_data holds 16 bytes", e.Message);
        Assert.True(allocated < 1 << 20, $"{allocated} bytes allocated");
    }

    [Fact]
    public void Data_that_does_not_match_the_dims_is_rejected()
    {
        var typed = AddModel();
        typed.Graph.Initializer[0].FloatData.RemoveAt(3);
        var e = Assert.Throws<OnnxFormatException>(() => typed.Load());
        Assert.Contains("initializer 'W'", e.Message);
        Assert.Contains("float_data holds 3 values", e.Message);

        var raw = AddModel();
        raw.Graph.Initializer[0] = Raw("W", FloatType, [2, 2], new byte[15]);
        Assert.Contains("raw_data holds 15 bytes", Assert.Throws<OnnxFormatException>(() => raw.Load()).Message);

        var both = AddModel();
        both.Graph.Initializer[0].RawData = ByteString.CopyFrom(new byte[16]);
        Assert.Contains("exactly one is allowed", Assert.Throws<OnnxFormatException>(() => both.Load()).Message);

        var wrongField = AddModel();
        wrongField.Graph.Initializer[0].DataType = Int64Type;
        Assert.Contains("int64_data holds 0 values", Assert.Throws<OnnxFormatException>(() => wrongField.Load()).Message);

        var unknownType = AddModel();
        unknownType.Graph.Initializer[0].DataType = 99;
        Assert.Contains("element type 99", Assert.Throws<OnnxFormatException>(() => unknownType.Load()).Message);
    }

    [Fact]
    public void Wrong_attribute_types_name_the_node_and_attribute()
    {
        var model = AddModel();
        model.Graph.Node[0].Attribute.Add(Ints("axes", 0, 1));
        var node = model.Load().Graph.Nodes[0];
        Assert.Equal([0L, 1L], node.GetInts("axes"));
        var e = Assert.Throws<OnnxFormatException>(() => node.GetInt("axes", 0));
        Assert.Equal("Attribute 'axes' of node 'add' (Add) is Ints, not Int.", e.Message);
        Assert.Contains("no attribute 'perm'", Assert.Throws<OnnxFormatException>(() => node.GetAttribute("perm")).Message);
        Assert.Equal(7, node.GetInt("perm", 7));
    }

    [Fact]
    public void An_attribute_without_type_takes_the_type_of_its_value()
    {
        var model = AddModel();
        model.Graph.Node[0].Attribute.Add(new AttributeProto { Name = "alpha", F = 0.5f });
        model.Graph.Node[0].Attribute.Add(new AttributeProto { Name = "empty" });
        Assert.Contains("'empty'", Assert.Throws<OnnxFormatException>(() => model.Load()).Message);
        model.Graph.Node[0].Attribute.RemoveAt(1);
        Assert.Equal(0.5f, model.Load().Graph.Nodes[0].GetFloat("alpha", 0));
    }
}
