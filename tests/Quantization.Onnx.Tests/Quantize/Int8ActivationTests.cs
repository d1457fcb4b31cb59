using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Quantization.Graph;
using Quantization.Onnx.Export;
using Quantization.Onnx.Proto;
using Quantization.Onnx.Quantize;
using Xunit;
using static Quantization.Onnx.Tests.ModelBuilder;

namespace Quantization.Onnx.Tests.Quantize;

/// <summary>
/// Static quantization keeps activations INT8 between nodes (<see cref="StaticQuantizationOptions.KeepActivationsInt8"/>):
/// on a small network with every kind of step (a decomposed HardSwish, a residual Add, a squeeze-and-excitation
/// scale, MaxPool, nearest Resize), the values stay codes, and ONNX Runtime running the exported QDQ model computes the same codes.
/// </summary>
public sealed class Int8ActivationTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(QuantFormat.Qdq, false)]
    [InlineData(QuantFormat.QOperator, false)]
    [InlineData(QuantFormat.QOperator, true)]
    public void Values_between_layers_stay_int8_and_match_onnx_runtime_on_the_export(QuantFormat format, bool compactNames)
    {
        var model = Network().Load();
        var graph = OnnxQuantizer.QuantizeStatic(model.ToGraphModule(), Samples(1, 8), cancellationToken: TestContext.Current.CancellationToken);
        var plan = graph.Plan!;
        var kinds = graph.Nodes.ToDictionary(n => n.Name, n => plan.Steps[graph.Nodes.ToList().IndexOf(n)].Kind);

        // Layers pass codes on; the HardSwish a layer reads becomes a table; the one nobody needs as codes stays a function.
        Assert.Equal(Int8Plan.StepKind.Layer, kinds["c1"]);
        Assert.Equal(Int8Plan.StepKind.Lazy, kinds["hs_add"]);
        Assert.Equal(Int8Plan.StepKind.Lazy, kinds["hs_div"]);
        Assert.Equal(Int8Plan.StepKind.Table, kinds["channel_scale"]);
        Assert.Equal(8, graph.Plan!.Steps[graph.Nodes.ToList().FindIndex(n => n.Name == "channel_scale")].Function!.Channels);
        Assert.Equal(Int8Plan.StepKind.Compute, kinds["residual"]);
        Assert.Equal(Int8Plan.StepKind.Compute, kinds["gap"]);
        Assert.Equal(Int8Plan.StepKind.Lazy, kinds["gate"]);
        Assert.Equal(Int8Plan.StepKind.Compute, kinds["scale"]);
        Assert.Equal(Int8Plan.StepKind.Compute, kinds["pool"]);
        Assert.Equal(Int8Plan.StepKind.Compute, kinds["upsample"]);
        Assert.Equal(Int8Plan.StepKind.Compute, kinds["concat"]);
        Assert.Contains("cat", plan.Requantized.Keys);
        Assert.Equal(plan.Quantized["m"], plan.Quantized["p"]);
        Assert.Equal(plan.Quantized["m"], plan.Quantized["u"]);
        Assert.DoesNotContain("p", plan.Requantized.Keys);
        Assert.DoesNotContain("u", plan.Requantized.Keys);
        Assert.All(new[] { "a", "h", "b", "r", "g", "m", "p", "u", "y" }, v => Assert.Contains(v, plan.Quantized.Keys));
        // A value only the caller reads is not quantized anew: the difference runs in FP32 on the dequantized operands.
        Assert.Equal(Int8Plan.StepKind.Float, kinds["difference"]);
        Assert.DoesNotContain("z", plan.Quantized.Keys);

        using var stream = new MemoryStream();
        OnnxExporter.Save(model, graph, stream, new OnnxExportOptions { Format = format, CompactNames = compactNames });
        if (format == QuantFormat.QOperator)
        {
            // The four convolutions are integer operators; the Concat reads codes through DequantizeLinear.
            var ops = OnnxModel.Load(stream.ToArray()).Graph.CountOpTypes();
            Assert.Equal(4, ops["QLinearConv"]);
            Assert.False(ops.ContainsKey("Conv"));
        }

        using var session = new InferenceSession(stream.ToArray());
        int equal = 0, total = 0;
        float step = plan.Quantized["y"].Scale;
        foreach (var sample in Samples(100, 4))
        {
            var x = sample["x"];
            var run = graph.Run(sample);
            float[] ours = run["y"].AsSpan().ToArray();
            using var results = session.Run([NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(x.AsSpan().ToArray(), x.Shape.ToArray()))]);
            float[] ort = results.First(r => r.Name == "y").AsTensor<float>().ToArray();
            Assert.Equal(results.First(r => r.Name == "z").AsTensor<float>().ToArray(), run["z"].AsSpan().ToArray());
            // The concatenation requantizes both operands' codes; c4 reads them.
            float[] ort2 = results.First(r => r.Name == "y2").AsTensor<float>().ToArray();
            float[] ours2 = run["y2"].AsSpan().ToArray();
            float step2 = plan.Quantized["y2"].Scale;
            for (int i = 0; i < ort2.Length; i++)
                Assert.True(Math.Abs(ort2[i] - ours2[i]) <= step2 * 1.01f, $"y2 element {i}: ORT {ort2[i]}, ours {ours2[i]}, more than one step ({step2}) apart.");
            equal += ort2.Zip(ours2).Count(p => p.First == p.Second);
            total += ort2.Length;
            Assert.Equal(ort.Length, ours.Length);
            for (int i = 0; i < ort.Length; i++)
            {
                Assert.True(Math.Abs(ort[i] - ours[i]) <= step * 1.01f, $"Element {i}: ORT {ort[i]}, ours {ours[i]}, more than one step ({step}) apart.");
                equal += ort[i] == ours[i] ? 1 : 0;
            }

            total += ort.Length;
        }

        output.WriteLine($"ORT on the export vs our INT8: {equal} of {total} outputs equal, the rest one step apart");
        Assert.True(equal >= 0.95 * total, $"Only {equal} of {total} outputs equal ONNX Runtime's.");
    }

    [Fact]
    public void Swapping_a_layer_after_quantization_runs_each_layer_between_quantize_and_dequantize()
    {
        var samples = Samples(1, 4);
        var kept = OnnxQuantizer.QuantizeStatic(Network().Load().ToGraphModule(), samples, cancellationToken: TestContext.Current.CancellationToken);
        var perLayer = OnnxQuantizer.QuantizeStatic(Network().Load().ToGraphModule(), samples,
            new StaticQuantizationOptions { KeepActivationsInt8 = false }, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Null(perLayer.Plan);
        var x = Samples(50, 1).Single();
        Assert.NotEqual(perLayer.Run(x)["y"].AsSpan().ToArray(), kept.Run(x)["y"].AsSpan().ToArray());

        // Put the same float layer into both: the plan no longer holds, so both graphs compute per layer alike.
        string name = kept.Nodes.Single(n => n.Name == "c3").ModuleName!;
        var floatLayer = Network().Load().ToGraphModule().GetSubmodule(name);
        kept.SetSubmodule(name, floatLayer);
        perLayer.SetSubmodule(name, floatLayer);
        Assert.False(kept.Plan!.Matches(kept));
        Assert.Equal(perLayer.Run(x)["y"].AsSpan().ToArray(), kept.Run(x)["y"].AsSpan().ToArray());
    }

    [Fact]
    public void Elementwise_float_nodes_after_a_layer_kept_in_fp32_run_as_one_chain_with_the_same_values()
    {
        var samples = Samples(1, 4);
        var options = new StaticQuantizationOptions { ExcludeNodes = ["c1"] };
        var graph = OnnxQuantizer.QuantizeStatic(ChainNetwork().Load().ToGraphModule(), samples, options, cancellationToken: TestContext.Current.CancellationToken);
        var perLayer = OnnxQuantizer.QuantizeStatic(ChainNetwork().Load().ToGraphModule(), samples,
            new StaticQuantizationOptions { ExcludeNodes = ["c1"], KeepActivationsInt8 = false }, cancellationToken: TestContext.Current.CancellationToken);
        var plan = graph.Plan!;
        var nodes = graph.Nodes.ToList();
        foreach (string name in new[] { "scale", "bias", "hs_add", "hs_clip", "hs_mul", "hs_div", "relu", "gate", "flip", "sum" })
            Assert.Equal(Int8Plan.StepKind.Chain, plan.Steps[nodes.FindIndex(n => n.Name == name)].Kind);
        // Every chain starts at the float convolution's output, whatever path it takes there.
        Assert.All(plan.Chains.Values, c => Assert.Equal("a", c.Source));
        Assert.Equal(10, plan.Chains["s"].Length);
        // A per-channel constant is no scalar: that node runs on its own.
        Assert.Equal(Int8Plan.StepKind.Float, plan.Steps[nodes.FindIndex(n => n.Name == "channel")].Kind);

        // Per layer, every float node runs on its own: the outputs (the chain's end, an intermediate the graph returns,
        // and what a quantized layer computes from the chain) are the same bit for bit.
        foreach (var sample in Samples(100, 3))
        {
            var ours = graph.Run(sample);
            var reference = perLayer.Run(sample);
            foreach (string name in new[] { "s", "t", "y" })
                Assert.Equal(reference[name].AsSpan().ToArray(), ours[name].AsSpan().ToArray());
            Assert.Equal(reference["s"].Shape.ToArray(), ours["s"].Shape.ToArray());
        }
    }

    [Fact]
    public void Running_into_the_same_outputs_overwrites_them_with_each_run_s_values()
    {
        // 32×32: every output has at least TensorArena.MinLength values, so the run's own arrays go back to the arena
        // and later runs reuse them; a wrong recycling would show as changed values in a later run.
        const int Size = 32;
        var graph = OnnxQuantizer.QuantizeStatic(ChainNetwork(Size).Load().ToGraphModule(), Samples(1, 4, Size),
            new StaticQuantizationOptions { ExcludeNodes = ["c1"] }, cancellationToken: TestContext.Current.CancellationToken);
        Assert.NotNull(graph.Plan);
        var stale = new Tensor(2, 2);
        var outputs = new Dictionary<string, Tensor> { ["s"] = stale, ["unrelated"] = stale };
        Dictionary<string, Tensor>? first = null;
        IReadOnlyDictionary<string, Tensor>? earlier = null;
        float[]? earlierY = null;
        foreach (var sample in Samples(200, 4, Size))
        {
            var expected = graph.Run(sample);
            earlier ??= expected;
            earlierY ??= expected["y"].AsSpan().ToArray();
            float[] input = sample["x"].AsSpan().ToArray();
            graph.Run(sample, outputs);
            first ??= new Dictionary<string, Tensor>(outputs);
            foreach (string name in graph.OutputNames)
            {
                Assert.Equal(expected[name].AsSpan().ToArray(), outputs[name].AsSpan().ToArray());
                Assert.Same(first[name], outputs[name]);
            }

            Assert.Equal(input, sample["x"].AsSpan().ToArray());
        }

        // A tensor of the wrong shape is replaced, an entry that names no output is left, and outputs a caller got
        // from the other overload keep their values.
        Assert.NotSame(stale, first!["s"]);
        Assert.Same(stale, outputs["unrelated"]);
        Assert.Equal(earlierY, earlier!["y"].AsSpan().ToArray());
    }

    /// <summary>
    /// x [1, 4, 8, 8] → c1 (3×3 conv) → a → HardSwish as Add/Clip/Mul/Div, times a constant per channel → h → c2 (1×1) → b; r = b + h;
    /// g = GlobalAveragePool(r); m = r · HardSigmoid(g); p = MaxPool 2×2 (m); u = nearest Resize 2× (p); y = c3 (1×1) of u;
    /// z = b − h, which only the caller reads; y2 = c4 (1×1) of Concat(m, r) along the channels.
    /// </summary>
    private static ModelProto Network()
    {
        var rng = new Random(7);
        float[] Weights(int count, float scale) => Enumerable.Range(0, count).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();
        var graph = new GraphProto { Name = "int8" };
        graph.Input.Add(Value("x", FloatType, 1, 4, 8, 8));
        graph.Output.Add(Value("y", FloatType, 1, 6, 8, 8));
        graph.Initializer.Add(Floats("w1", [8, 4, 3, 3], Weights(8 * 4 * 9, 0.3f)));
        graph.Initializer.Add(Floats("b1", [8], Weights(8, 0.5f)));
        graph.Initializer.Add(Floats("w2", [8, 8, 1, 1], Weights(64, 0.4f)));
        graph.Initializer.Add(Floats("w3", [6, 8, 1, 1], Weights(48, 0.4f)));
        graph.Initializer.Add(Floats("k", [8, 1, 1], Weights(8, 2f)));
        graph.Initializer.Add(Floats("three", [], 3f));
        graph.Initializer.Add(Floats("six", [], 6f));
        graph.Initializer.Add(Floats("zero", [], 0f));
        graph.Initializer.Add(Floats("up", [4], 1f, 1f, 2f, 2f));
        graph.Node.Add(Node("Conv", ["x", "w1", "b1"], ["a"], "c1", Ints("pads", 1, 1, 1, 1)));
        graph.Node.Add(Node("Add", ["a", "three"], ["a3"], "hs_add"));
        graph.Node.Add(Node("Clip", ["a3", "zero", "six"], ["a3c"], "hs_clip"));
        graph.Node.Add(Node("Mul", ["a", "a3c"], ["am"], "hs_mul"));
        graph.Node.Add(Node("Div", ["am", "six"], ["h0"], "hs_div"));
        graph.Node.Add(Node("Mul", ["h0", "k"], ["h"], "channel_scale"));
        graph.Node.Add(Node("Conv", ["h", "w2"], ["b"], "c2"));
        graph.Node.Add(Node("Add", ["b", "h"], ["r"], "residual"));
        graph.Node.Add(Node("GlobalAveragePool", ["r"], ["g"], "gap"));
        graph.Node.Add(Node("HardSigmoid", ["g"], ["s"], "gate"));
        graph.Node.Add(Node("Mul", ["r", "s"], ["m"], "scale"));
        graph.Node.Add(Node("MaxPool", ["m"], ["p"], "pool", Ints("kernel_shape", 2, 2), Ints("strides", 2, 2)));
        graph.Node.Add(Node("Resize", ["p", "", "up"], ["u"], "upsample"));
        graph.Node.Add(Node("Conv", ["u", "w3"], ["y"], "c3"));
        graph.Output.Add(Value("z", FloatType, 1, 8, 8, 8));
        graph.Node.Add(Node("Sub", ["b", "h"], ["z"], "difference"));
        graph.Output.Add(Value("y2", FloatType, 1, 4, 8, 8));
        graph.Initializer.Add(Floats("w4", [4, 16, 1, 1], Weights(64, 0.4f)));
        graph.Node.Add(Node("Concat", ["m", "r"], ["cat"], "concat", new AttributeProto { Name = "axis", Type = AttributeProto.Types.AttributeType.Int, I = 1 }));
        graph.Node.Add(Node("Conv", ["cat", "w4"], ["y2"], "c4"));
        return Model(graph);
    }

    /// <summary>
    /// x [1, 4, 8, 8] → c1 (3×3 conv, kept FP32) → a; t = 0.5 a + 0.25; h = HardSwish(t) as Add/Clip/Mul/Div;
    /// s = ReLU(h) + (1 − HardSigmoid(t)), through a rank-5 constant; c = s · k (per channel) → c2 (1×1) → y. Outputs y, s, t.
    /// </summary>
    private static ModelProto ChainNetwork(int size = 8)
    {
        var rng = new Random(11);
        float[] Weights(int count, float scale) => Enumerable.Range(0, count).Select(_ => (float)(rng.NextDouble() * 2 - 1) * scale).ToArray();
        var graph = new GraphProto { Name = "chain" };
        graph.Input.Add(Value("x", FloatType, 1, 4, size, size));
        graph.Output.Add(Value("y", FloatType, 1, 6, size, size));
        graph.Output.Add(Value("s", FloatType, 1, 1, 8, size, size));
        graph.Output.Add(Value("t", FloatType, 1, 8, size, size));
        graph.Initializer.Add(Floats("w1", [8, 4, 3, 3], Weights(8 * 4 * 9, 0.6f)));
        graph.Initializer.Add(Floats("w2", [6, 8, 1, 1], Weights(48, 0.4f)));
        graph.Initializer.Add(Floats("k", [8, 1, 1], Weights(8, 2f)));
        graph.Initializer.Add(Floats("half", [1], 0.5f));
        graph.Initializer.Add(Floats("quarter", [], 0.25f));
        graph.Initializer.Add(Floats("three", [], 3f));
        graph.Initializer.Add(Floats("six", [], 6f));
        graph.Initializer.Add(Floats("zero", [], 0f));
        graph.Initializer.Add(Floats("one", [1, 1, 1, 1, 1], 1f));
        graph.Node.Add(Node("Conv", ["x", "w1"], ["a"], "c1", Ints("pads", 1, 1, 1, 1)));
        graph.Node.Add(Node("Mul", ["half", "a"], ["a1"], "scale"));
        graph.Node.Add(Node("Add", ["a1", "quarter"], ["t"], "bias"));
        graph.Node.Add(Node("Add", ["t", "three"], ["t3"], "hs_add"));
        graph.Node.Add(Node("Clip", ["t3", "zero", "six"], ["t3c"], "hs_clip"));
        graph.Node.Add(Node("Mul", ["t", "t3c"], ["tm"], "hs_mul"));
        graph.Node.Add(Node("Div", ["tm", "six"], ["h"], "hs_div"));
        graph.Node.Add(Node("Relu", ["h"], ["r"], "relu"));
        graph.Node.Add(Node("HardSigmoid", ["t"], ["g"], "gate"));
        graph.Node.Add(Node("Sub", ["one", "g"], ["f"], "flip"));
        graph.Node.Add(Node("Add", ["r", "f"], ["s"], "sum"));
        graph.Node.Add(Node("Reshape", ["s", "shape"], ["s4"], "squeeze"));
        graph.Node.Add(Node("Mul", ["s4", "k"], ["c"], "channel"));
        graph.Node.Add(Node("Conv", ["c", "w2"], ["y"], "c2"));
        graph.Initializer.Add(Raw("shape", Int64Type, [4], [.. new long[] { 1, 8, size, size }.SelectMany(BitConverter.GetBytes)]));
        return Model(graph);
    }

    private static List<IReadOnlyDictionary<string, Tensor>> Samples(int seed, int count, int size = 8)
    {
        var rng = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var x = new Tensor(1, 4, size, size);
            foreach (ref float v in x.AsSpan())
                v = (float)(rng.NextDouble() * 4 - 2);
            return (IReadOnlyDictionary<string, Tensor>)new Dictionary<string, Tensor> { ["x"] = x };
        }).ToList();
    }
}
