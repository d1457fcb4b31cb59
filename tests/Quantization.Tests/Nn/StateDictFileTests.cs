using Quantization.Nn;
using Xunit;

namespace Quantization.Tests.Nn;

public sealed class StateDictFileTests : IDisposable
{
    private readonly string _scratch = Directory.CreateTempSubdirectory("quantization-statedict-tests-").FullName;

    public void Dispose() => Directory.Delete(_scratch, recursive: true);

    private static Sequential Model(int seed)
    {
        Init.ManualSeed(seed);
        return new Sequential(new Conv2d(1, 2, 3), new BatchNorm2d(2), new ReLU(), new Flatten(), new Linear(2 * 2 * 2, 3));
    }

    private static byte[] Saved(Dictionary<string, Tensor> state)
    {
        using var stream = new MemoryStream();
        StateDictFile.Save(state, stream);
        return stream.ToArray();
    }

    private static Dictionary<string, Tensor> Load(byte[] bytes) => StateDictFile.Load(new MemoryStream(bytes));

    [Fact]
    public void A_saved_model_loads_into_a_fresh_one_with_identical_outputs()
    {
        var model = Model(50);
        var x = GradCheck.Smooth(51, 1f, 0f, [], 3, 1, 4, 4);
        model.Forward(x);   // a training step moves the BatchNorm running statistics away from their defaults
        model.Eval();
        var expected = model.Forward(x).AsSpan().ToArray();
        string path = Path.Combine(_scratch, "model.qnn");
        model.Save(path);

        var fresh = Model(52);
        fresh.Eval();
        Assert.NotEqual(expected, fresh.Forward(x).AsSpan().ToArray());
        fresh.Load(path);
        Assert.Equal(expected, fresh.Forward(x).AsSpan().ToArray());
        Assert.Equal(1f, ((BatchNorm2d)fresh[1]).NumBatchesTracked.AsSpan()[0]);
    }

    [Fact]
    public void Round_trip_keeps_names_order_shapes_and_exact_values()
    {
        var state = new Dictionary<string, Tensor>
        {
            ["scalar"] = new([3.5f]),
            ["größe.weight"] = new([float.Epsilon, -0f, float.MaxValue, float.NegativeInfinity, 1e-30f, -7.25f], 2, 3),
            ["empty"] = new Tensor(0, 4),
        };
        var loaded = Load(Saved(state));
        Assert.Equal(state.Keys, loaded.Keys);
        foreach (var (name, tensor) in state)
        {
            Assert.Equal(tensor.Shape.ToArray(), loaded[name].Shape.ToArray());
            Assert.Equal(tensor.AsSpan().ToArray().Select(BitConverter.SingleToInt32Bits), loaded[name].AsSpan().ToArray().Select(BitConverter.SingleToInt32Bits));
        }
    }

    public static TheoryData<string, string> Damage => new()
    {
        { "flip", "checksum" },
        { "truncate", "checksum" },
        { "short", "truncated" },
        { "magic", "QNNSTATE" },
        { "version", "version 3" },
        { "empty", "QNNSTATE" },
        { "appended", "checksum" },
    };

    [Theory]
    [MemberData(nameof(Damage))]
    public void Corrupt_or_truncated_files_raise_invalid_data(string damage, string expected)
    {
        var bytes = Saved(Model(53).StateDict());
        byte[] damaged = damage switch
        {
            "flip" => Flip(bytes, bytes.Length / 2),
            "truncate" => bytes[..^10],
            "short" => bytes[..14],
            "magic" => Flip(bytes, 0),
            "version" => [.. bytes[..8], 3, 0, 0, 0, .. bytes[12..]],
            "empty" => [],
            _ => [.. bytes, 0],
        };
        var ex = Assert.Throws<InvalidDataException>(() => Load(damaged));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);

        string path = Path.Combine(_scratch, damage + ".qnn");
        File.WriteAllBytes(path, damaged);
        var model = Model(54);
        var before = model.StateDict().Values.SelectMany(t => t.AsSpan().ToArray()).ToArray();
        Assert.Throws<InvalidDataException>(() => model.Load(path));
        Assert.Equal(before, model.StateDict().Values.SelectMany(t => t.AsSpan().ToArray()));
    }

    [Fact]
    public void Loading_another_structure_is_an_argument_error()
    {
        string path = Path.Combine(_scratch, "linear.qnn");
        new Linear(2, 2).Save(path);
        var ex = Assert.Throws<ArgumentException>(() => Model(55).Load(path));
        Assert.Contains("Missing", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Names_that_cannot_be_stored_are_rejected_on_save()
    {
        Assert.Equal("state", Assert.Throws<ArgumentException>(() => Saved(new() { [""] = new Tensor(1) })).ParamName);
        Assert.Equal("state", Assert.Throws<ArgumentException>(() => Saved(new() { [new string('x', 1025)] = new Tensor(1) })).ParamName);
    }

    private static byte[] Flip(byte[] bytes, int at)
    {
        var copy = (byte[])bytes.Clone();
        copy[at] ^= 0x5A;
        return copy;
    }

    [Fact]
    public void Quantized_tensors_round_trip_with_their_parameters_at_one_byte_per_value()
    {
        var x = new Tensor([0.5f, -1.25f, 3f, 0f, -0.01f, 2.5f], 2, 3);
        var quantized = new Dictionary<string, QuantizedTensor>
        {
            ["u8"] = QuantizedTensor.QuantizePerTensor(x, 0.02f, 77, QuantDType.QUInt8),
            ["s8"] = QuantizedTensor.QuantizePerChannel(x, [0.03f, 0.05f], [0, 0], 0, QuantDType.QInt8),
            ["s8sym"] = QuantizedTensor.Quantize(x, QuantParams.PerChannelSymmetric([0.1f, 0.2f, 0.3f], 1, QuantDType.QInt8)),
            ["s32"] = QuantizedTensor.QuantizePerTensor(x, 0.001f, 5, QuantDType.QInt32),
        };
        using var stream = new MemoryStream();
        StateDictFile.Save(new Dictionary<string, Tensor> { ["f"] = x }, quantized, stream);
        stream.Position = 0;

        var (floats, loaded) = StateDictFile.LoadAll(stream);

        Assert.Equal(x.AsSpan().ToArray(), floats["f"].AsSpan().ToArray());
        foreach (var (name, q) in quantized)
        {
            Assert.Equal(q.QParams, loaded[name].QParams);
            Assert.Equal(q.IntRepr(), loaded[name].IntRepr());
            Assert.Equal(q.Shape.ToArray(), loaded[name].Shape.ToArray());
        }

        stream.Position = 0;
        Assert.Contains("LoadAll", Assert.Throws<InvalidDataException>(() => StateDictFile.Load(stream)).Message);
        Assert.Throws<ArgumentException>(() => StateDictFile.Save(new Dictionary<string, Tensor> { ["u8"] = x }, quantized, new MemoryStream()));
    }

    [Fact]
    public void Version_1_files_are_still_read()
    {
        // Version 1: magic | 1 | count | name length | name | rank | dims | float32 values | FNV-1a hash.
        using var body = new MemoryStream();
        body.Write("QNNSTATE"u8);
        foreach (int v in new[] { 1, 1, 1 })
            body.Write(BitConverter.GetBytes(v));
        body.Write("w"u8);
        foreach (int v in new[] { 1, 2 })
            body.Write(BitConverter.GetBytes(v));
        body.Write(BitConverter.GetBytes(1.5f));
        body.Write(BitConverter.GetBytes(-2f));
        ulong hash = 14695981039346656037UL;
        foreach (byte b in body.ToArray())
            hash = (hash ^ b) * 1099511628211UL;
        body.Write(BitConverter.GetBytes(hash));
        body.Position = 0;

        var state = StateDictFile.Load(body);

        Assert.Equal([1.5f, -2f], state["w"].AsSpan().ToArray());
    }
}
