using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Quantization.Graph;
using Quantization.Nn.Quantized;
using Quantization.Onnx.Export;
using Quantization.Workflows;
using Xunit;

namespace Quantization.Onnx.Tests.Export;

/// <summary>Dynamic (weight-only) export, and what export refuses.</summary>
public sealed class ExportContractTests(ITestOutputHelper output)
{
    [Fact]
    public void Dynamic_linear_layers_export_as_s8_weights_behind_dequantize_linear()
    {
        var model = OnnxModel.Load(AssetModels.HelloDeepa);
        var graph = (GraphModule)Quantizer.QuantizeDynamic(model.ToGraphModule());
        Assert.Equal(3, graph.Modules<DynamicQuantizedLinear>().Count());
        using var stream = new MemoryStream();
        OnnxExporter.SaveQdq(model, graph, stream);

        var exported = OnnxModel.Load(stream.ToArray());
        var ops = exported.Graph.CountOpTypes();
        Assert.Equal(3, ops["DequantizeLinear"]);
        Assert.False(ops.ContainsKey("QuantizeLinear"));
        Assert.Equal(3, exported.Graph.Initializers.Values.Count(t => t.ElementType == OnnxElementType.Int8 && t.Dims.Count == 2));

        // ONNX Runtime multiplies the dequantized weights in FP32; our kernel also quantizes the activations.
        Tensor x = GraphModuleAssetTests.Random(5, 1, 25, 96);
        Tensor ours = graph.Forward(x), reference = model.ToGraphModule().Forward(x);
        using var session = new InferenceSession(stream.ToArray());
        using var results = session.Run([NamedOnnxValue.CreateFromTensor("onnx::Flatten_0", new DenseTensor<float>(x.AsSpan().ToArray(), x.Shape.ToArray()))]);
        float ort = results[0].AsTensor<float>().ToArray()[0];
        output.WriteLine($"hello_deepa dynamic: FP32 {reference.AsSpan()[0]:G6}, ours {ours.AsSpan()[0]:G6}, ORT on the export {ort:G6}");
        Assert.True(Math.Abs(ort - ours.AsSpan()[0]) <= 0.01f && Math.Abs(ort - reference.AsSpan()[0]) <= 0.01f);
    }

    [Fact]
    public void External_weights_are_written_into_the_exported_model()
    {
        string dir = Directory.CreateTempSubdirectory("export").FullName;
        try
        {
            File.WriteAllBytes(Path.Combine(dir, "weights.bin"), [.. BitConverter.GetBytes(1f), .. BitConverter.GetBytes(2f), .. BitConverter.GetBytes(3f), .. BitConverter.GetBytes(4f)]);
            var proto = ModelBuilder.AddModel();
            var w = proto.Graph.Initializer[0];
            w.FloatData.Clear();
            w.DataLocation = Proto.TensorProto.Types.DataLocation.External;
            w.ExternalData.Add(new Proto.StringStringEntryProto { Key = "location", Value = "weights.bin" });
            string path = Path.Combine(dir, "add.onnx");
            File.WriteAllBytes(path, Google.Protobuf.MessageExtensions.ToByteArray(proto));
            var model = OnnxModel.Load(path);

            using var stream = new MemoryStream();
            OnnxExporter.SaveQdq(model, model.ToGraphModule(), stream);

            // Loadable from bytes alone, which external data would not be.
            Assert.Equal([1f, 2f, 3f, 4f], OnnxModel.Load(stream.ToArray()).Graph.Initializers["W"].ToFloats());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_graph_imported_from_another_model_is_rejected()
    {
        var graph = OnnxModel.Load(AssetModels.HelloDeepa).ToGraphModule();
        var e = Assert.Throws<ArgumentException>(() => OnnxExporter.SaveQdq(OnnxModel.Load(AssetModels.OcrClassifier), graph, new MemoryStream()));
        Assert.Contains("not imported from this model", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_prepared_graph_that_was_not_converted_is_rejected()
    {
        var model = OnnxModel.Load(AssetModels.HelloDeepa);
        var graph = model.ToGraphModule();
        Quantizer.Prepare(graph, new QConfigMapping().SetGlobal(QConfig.GetDefault()), perLayer: true);
        graph.Forward(GraphModuleAssetTests.Random(1, 1, 25, 96));
        var e = Assert.Throws<ArgumentException>(() => OnnxExporter.SaveQdq(model, graph, new MemoryStream()));
        Assert.Contains("Quantizer.Convert", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Quantized_layers_inside_control_flow_are_not_supported()
    {
        var model = OnnxModel.Load(AssetModels.SileroVadLegacy);
        var graph = model.ToGraphModule();
        Quantizer.Prepare(graph, new QConfigMapping().SetGlobal(QConfig.GetDefault()), perLayer: true);
        // Silero's convolutions live in the branches of its top-level If, one per sampling rate.
        foreach (var (rate, samples) in new[] { (16000f, 512), (8000f, 256) })
            graph.Run(new Dictionary<string, Tensor> { ["input"] = GraphModuleAssetTests.Random(1, 1, samples), ["sr"] = Tensor.Full(rate), ["h"] = new Tensor(2, 1, 64), ["c"] = new Tensor(2, 1, 64) });
        Quantizer.Convert(graph, log: _ => { });
        Assert.NotEmpty(graph.Modules<QdqLayer>());
        var e = Assert.Throws<NotSupportedException>(() => OnnxExporter.SaveQdq(model, graph, new MemoryStream()));
        Assert.Contains("control-flow subgraph", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Compact_names_keep_the_graph_inputs_outputs_and_the_values_subgraphs_read()
    {
        // Silero's top-level If reads the main graph's values by name from inside its branches.
        var model = OnnxModel.Load(AssetModels.SileroVadLegacy);
        using var stream = new MemoryStream();
        OnnxExporter.Save(model, model.ToGraphModule(), stream, new OnnxExportOptions { Format = QuantFormat.QOperator, CompactNames = true });
        var compact = Proto.ModelProto.Parser.ParseFrom(stream.ToArray());
        Assert.Equal(model.Proto.Graph.Input.Select(i => i.Name), compact.Graph.Input.Select(i => i.Name));
        Assert.Equal(model.Proto.Graph.Output.Select(o => o.Name), compact.Graph.Output.Select(o => o.Name));
        Assert.All(compact.Graph.Node, n => Assert.Empty(n.Name));
        Assert.Contains(compact.Graph.Node, n => n.Output.Any(o => o.Length <= 2));
        Assert.True(stream.Length < new FileInfo(AssetModels.SileroVadLegacy).Length);

        var feeds = new Dictionary<string, (float[] Data, int[] Shape)>
        {
            ["input"] = (GraphModuleAssetTests.Random(1, 1, 512).AsSpan().ToArray(), [1, 512]),
            ["h"] = (GraphModuleAssetTests.Random(2, 2, 1, 64).AsSpan().ToArray(), [2, 1, 64]),
            ["c"] = (GraphModuleAssetTests.Random(3, 2, 1, 64).AsSpan().ToArray(), [2, 1, 64]),
        };
        float[][] Run(InferenceSession session)
        {
            var inputs = feeds.Select(kv => NamedOnnxValue.CreateFromTensor(kv.Key, new DenseTensor<float>(kv.Value.Data, kv.Value.Shape))).ToList();
            inputs.Add(NamedOnnxValue.CreateFromTensor("sr", new DenseTensor<long>(new[] { 16000L }, session.InputMetadata["sr"].Dimensions)));
            using var results = session.Run(inputs);
            return results.Select(r => r.AsTensor<float>().ToArray()).ToArray();
        }

        using var original = new InferenceSession(AssetModels.SileroVadLegacy);
        using var exported = new InferenceSession(stream.ToArray());
        Assert.Equal(Run(original), Run(exported));
    }

    [Fact]
    public void An_unknown_format_is_rejected()
    {
        var model = OnnxModel.Load(AssetModels.HelloDeepa);
        var e = Assert.Throws<ArgumentException>(() => OnnxExporter.Save(model, model.ToGraphModule(), new MemoryStream(), new OnnxExportOptions { Format = (QuantFormat)7 }));
        Assert.Equal("options", e.ParamName);
    }
}
