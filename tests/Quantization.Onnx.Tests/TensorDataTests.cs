using Google.Protobuf;
using Quantization.Onnx.Proto;
using Xunit;
using static Quantization.Onnx.Tests.ModelBuilder;

namespace Quantization.Onnx.Tests;

/// <summary>Initializer data in every encoding ONNX allows: raw little-endian bytes, typed fields, external files, Constant nodes.</summary>
public sealed class TensorDataTests : IDisposable
{
    private readonly string _scratch = Path.Combine(Path.GetTempPath(), "quantization-onnx-tests-" + Guid.NewGuid().ToString("N"));

    public TensorDataTests() => Directory.CreateDirectory(Path.Combine(_scratch, "model"));

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    private static OnnxTensor LoadInitializer(TensorProto tensor)
    {
        var model = AddModel();
        tensor.Name = "extra";
        model.Graph.Initializer.Add(tensor);
        return model.Load().Graph.Initializers["extra"];
    }

    [Fact]
    public void Raw_data_is_little_endian()
    {
        var t = LoadInitializer(Raw("", FloatType, [3], [0, 0, 0x80, 0x3f, 0, 0, 0, 0xc0, 0, 0, 0x20, 0x41]));
        Assert.Equal([1f, -2f, 10f], t.ToFloats());
        Assert.Equal([3], t.Shape());
        var i64 = LoadInitializer(Raw("", Int64Type, [2], [1, 0, 0, 0, 0, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
        Assert.Equal([1L, -2L], i64.ToInt64s());
        Assert.Equal([1, -2], i64.ToInt32s());
    }

    [Fact]
    public void Typed_fields_of_every_common_type_are_read()
    {
        var i8 = new TensorProto { DataType = (int)TensorProto.Types.DataType.Int8, Dims = { 3 }, Int32Data = { -128, 0, 127 } };
        Assert.Equal([(sbyte)-128, 0, 127], LoadInitializer(i8).ToInt8s());
        var u8 = new TensorProto { DataType = (int)TensorProto.Types.DataType.Uint8, Dims = { 2 }, Int32Data = { 0, 255 } };
        Assert.Equal([(byte)0, 255], LoadInitializer(u8).ToUInt8s());
        Assert.Equal([0f, 255f], LoadInitializer(u8).ToFloats());
        var b = new TensorProto { DataType = (int)TensorProto.Types.DataType.Bool, Dims = { 2 }, Int32Data = { 1, 0 } };
        Assert.Equal([true, false], LoadInitializer(b).ToBools());
        var i32 = new TensorProto { DataType = (int)TensorProto.Types.DataType.Int32, Dims = { 2 }, Int32Data = { int.MinValue, 5 } };
        Assert.Equal([int.MinValue, 5], LoadInitializer(i32).ToInt32s());
        var i64 = new TensorProto { DataType = Int64Type, Dims = { 1, 2 }, Int64Data = { long.MaxValue, -3 } };
        Assert.Equal([long.MaxValue, -3L], LoadInitializer(i64).ToInt64s());
        Assert.Throws<InvalidOperationException>(() => LoadInitializer(i64).ToInt32s());
        var d = new TensorProto { DataType = (int)TensorProto.Types.DataType.Double, Dims = { 2 }, DoubleData = { 0.1, 1e300 } };
        Assert.Equal([0.1f, float.PositiveInfinity], LoadInitializer(d).ToFloats());
        Assert.Equal([0.1, 1e300], LoadInitializer(d).ToDoubles());
        // float16 keeps its bit pattern in int32_data: 0x3C00 = 1.0, 0xC000 = -2.0.
        var h = new TensorProto { DataType = (int)TensorProto.Types.DataType.Float16, Dims = { 2 }, Int32Data = { 0x3C00, 0xC000 } };
        Assert.Equal([1f, -2f], LoadInitializer(h).ToFloats());
        var u64 = new TensorProto { DataType = (int)TensorProto.Types.DataType.Uint64, Dims = { 1 }, Uint64Data = { ulong.MaxValue } };
        Assert.Throws<InvalidOperationException>(() => LoadInitializer(u64).ToInt64s());
        var s = new TensorProto { DataType = (int)TensorProto.Types.DataType.String, Dims = { 2 }, StringData = { ByteString.CopyFromUtf8("a"), ByteString.CopyFromUtf8("é") } };
        Assert.Equal(["a", "é"], LoadInitializer(s).ToStrings());
        Assert.Throws<InvalidOperationException>(() => LoadInitializer(s).ToFloats());
        var scalar = new TensorProto { DataType = FloatType, FloatData = { 2.5f } };
        Assert.Equal(1, LoadInitializer(scalar).ElementCount);
        Assert.Empty(LoadInitializer(scalar).ToTensor().Shape.ToArray());
    }

    [Fact]
    public void Initializers_become_fp32_tensors()
    {
        Tensor w = AddModel().Load().Graph.Initializers["W"].ToTensor();
        Assert.Equal([2, 2], w.Shape.ToArray());
        Assert.Equal(3f, w[1, 0]);
    }

    [Fact]
    public void Constant_nodes_of_every_value_kind_are_tensors()
    {
        var model = AddModel();
        var value = new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = Floats("ignored", [2], 7, 8) };
        model.Graph.Node.Add(Node("Constant", [], ["c1"], "c1", value));
        model.Graph.Node.Add(Node("Constant", [], ["c2"], "c2", Ints("value_ints", 3, -1)));
        model.Graph.Node.Add(Node("Constant", [], ["c3"], "c3", new AttributeProto { Name = "value_float", Type = AttributeProto.Types.AttributeType.Float, F = 1.5f }));
        var g = model.Load().Graph;
        Assert.Equal("c1", g.Constants["c1"].Name);
        Assert.Equal([7f, 8f], g.FindConstant("c1")!.ToFloats());
        Assert.Equal([3L, -1L], g.Constants["c2"].ToInt64s());
        Assert.Equal([2L], g.Constants["c2"].Dims);
        Assert.Empty(g.Constants["c3"].Dims);
        Assert.Equal([1.5f], g.Constants["c3"].ToFloats());
        Assert.Null(g.FindConstant("X"));

        var twoValues = AddModel();
        twoValues.Graph.Node.Add(Node("Constant", [], ["c"], "bad", Ints("value_ints", 1), Ints("value_ints2", 1)));
        Assert.Contains("exactly one value attribute", Assert.Throws<OnnxFormatException>(() => twoValues.Load()).Message);
    }

    [Fact]
    public void If_branches_are_subgraphs_that_read_the_outer_scope()
    {
        var then = new GraphProto { Name = "then" };
        then.Node.Add(Node("Add", ["X", "W"], ["t"], "inner"));
        then.Output.Add(Value("t", FloatType));
        var otherwise = new GraphProto { Name = "else" };
        otherwise.Node.Add(Node("Identity", ["X"], ["e"]));
        otherwise.Output.Add(Value("e", FloatType));

        var model = AddModel();
        model.Graph.Input.Add(Value("cond", (int)TensorProto.Types.DataType.Bool));
        model.Graph.Output.Add(Value("Z", FloatType, 2, 2));
        model.Graph.Node.Add(Node("If", ["cond"], ["Z"], "if",
            new AttributeProto { Name = "then_branch", Type = AttributeProto.Types.AttributeType.Graph, G = then },
            new AttributeProto { Name = "else_branch", Type = AttributeProto.Types.AttributeType.Graph, G = otherwise }));
        var g = model.Load().Graph;
        var node = g.Nodes.Single(n => n.OpType == "If");
        Assert.Equal(["X", "W"], node.GetAttribute("then_branch").Graph.OuterScopeNames);
        Assert.Equal(["then", "else"], node.Subgraphs.Select(s => s.Name));
        Assert.Empty(g.OuterScopeNames);

        // A branch may not read what no enclosing graph defines.
        then.Node[0].Input[1] = "nowhere";
        var e = Assert.Throws<OnnxFormatException>(() => model.Load());
        Assert.Contains("Node 'inner' (Add) reads 'nowhere'", e.Message);
        Assert.Contains("graph 'then_branch' of node 'if' (If)", e.Message);
    }

    [Fact]
    public void External_data_is_read_relative_to_the_model_file()
    {
        File.WriteAllBytes(Path.Combine(_scratch, "model", "weights.bin"), [9, 9, 0, 0, 0x80, 0x3f, 0, 0, 0, 0x40]);
        var model = ExternalModel("weights.bin", offset: 2, length: 8);
        string path = Path.Combine(_scratch, "model", "m.onnx");
        File.WriteAllBytes(path, model.ToByteArray());
        Assert.Equal([1f, 2f], OnnxModel.Load(path).Graph.Initializers["E"].ToFloats());
        // From bytes, only with the folder given.
        byte[] bytes = model.ToByteArray();
        Assert.Contains("load the model from a path", Assert.Throws<OnnxFormatException>(() => OnnxModel.Load(bytes)).Message);
        Assert.Equal([1f, 2f], OnnxModel.Load(bytes, Path.Combine(_scratch, "model")).Graph.Initializers["E"].ToFloats());
    }

    [Theory]
    [InlineData("../secret.bin", 0, 8, "outside the model's folder")]
    [InlineData("/etc/passwd", 0, 8, "outside the model's folder")]
    [InlineData("weights.bin", 4, 8, "beyond its end")]
    [InlineData("weights.bin", 0, 1L << 40, "beyond its end")]
    [InlineData("weights.bin", 0, 4, "needs 8 bytes")]
    [InlineData("missing.bin", 0, 8, "does not exist")]
    public void Bad_external_data_is_rejected(string location, long offset, long length, string expected)
    {
        File.WriteAllBytes(Path.Combine(_scratch, "secret.bin"), new byte[8]);
        File.WriteAllBytes(Path.Combine(_scratch, "model", "weights.bin"), new byte[8]);
        var e = Assert.Throws<OnnxFormatException>(() => OnnxModel.Load(ExternalModel(location, offset, length).ToByteArray(), Path.Combine(_scratch, "model")));
        Assert.Contains(expected, e.Message);
        Assert.Contains("initializer 'E'", e.Message);
    }

    private static ModelProto ExternalModel(string location, long offset, long length)
    {
        var t = new TensorProto { Name = "E", DataType = FloatType, Dims = { 2 }, DataLocation = TensorProto.Types.DataLocation.External };
        t.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        t.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = offset.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        t.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = length.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        var model = AddModel();
        model.Graph.Initializer.Add(t);
        return model;
    }
}
