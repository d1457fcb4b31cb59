using Quantization.Graph;
using Quantization.Nn;
using Quantization.Nn.Quantized;
using Quantization.Onnx.Quantize;
using Xunit;

namespace Quantization.Onnx.Tests.Quantize;

/// <summary>
/// Dynamic quantization of openWakeWord, and how <see cref="OnnxQuantizer"/> selects nodes, reports progress, cancels
/// and rejects bad input (on the small PP-OCR classifier with rendered text lines).
/// </summary>
public sealed class OnnxQuantizerTests(ITestOutputHelper output)
{
    private const int Seed = 17;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Hello_deepa_dynamic_keeps_the_score(bool perChannel)
    {
        // The model reads 25 frames of 96-dim speech embeddings. Without the audio front end (a melspectrogram and
        // an embedding model) there are no real embeddings here, so these are seeded stand-ins spread like them:
        // zero-centred, unit scale, a heavier tail. 64 windows.
        var inputs = Enumerable.Range(0, 64).Select(i => Features(Seed + i)).ToList();
        var floatGraph = OnnxModel.Load(AssetModels.HelloDeepa).ToGraphModule();
        var graph = OnnxQuantizer.QuantizeDynamic(OnnxModel.Load(AssetModels.HelloDeepa).ToGraphModule(), new DynamicQuantizationOptions { PerChannel = perChannel });
        Assert.Equal(3, graph.Modules<DynamicQuantizedLinear>().Count());
        Assert.Empty(graph.Modules<Linear>());

        double signal = 0, noise = 0;
        foreach (var x in inputs)
        {
            float reference = floatGraph.Forward(x).AsSpan()[0], actual = graph.Forward(x).AsSpan()[0];
            signal += reference * (double)reference;
            noise += (reference - (double)actual) * (reference - actual);
        }

        double sqnr = 10 * Math.Log10(signal / noise);
        output.WriteLine($"hello_deepa dynamic ({(perChannel ? "per channel" : "per tensor")}): output SQNR {sqnr:F1} dB over {inputs.Count} windows");
        foreach (var node in OnnxQuantizer.CompareNodes(floatGraph, graph, inputs.Select(FeedWakeWord), TestContext.Current.CancellationToken))
            output.WriteLine($"  {node.NodeName} ({node.OpType}): weights {node.WeightSqnr:F1} dB, own {node.LayerSqnr:F1} dB, accumulated {node.OutputSqnr:F1} dB");
        Assert.True(sqnr >= 25, $"Output SQNR {sqnr:F1} dB is below 25 dB.");
    }

    [Fact]
    public void Static_selection_progress_and_keep_worst()
    {
        var calibration = Lines().Take(6).ToList();
        var progress = new List<CalibrationProgress>();
        var options = new StaticQuantizationOptions
        {
            ExcludeNodes = ["p2o.Conv.0"],
            ExcludeOpTypes = ["MatMul"],
            KeepWorstInFp32 = 2,
            SymmetricActivations = true,
        };
        var graph = OnnxQuantizer.QuantizeStatic(Classifier(), calibration, options, new SynchronousProgress(progress.Add), TestContext.Current.CancellationToken);

        Assert.IsType<Conv2d>(graph.GetSubmodule("p2o_Conv_0"), exactMatch: false);
        Assert.IsType<Linear>(graph.GetSubmodule(graph.Nodes.Single(n => n.OpType == "MatMul").ModuleName!));
        // 52 of the 53 convolutions were quantized; the 2 that hurt the output most went back to FP32.
        Assert.Equal(50, graph.Modules<QdqLayer>().Count());
        Assert.All(graph.Modules<QdqLayer>(), q => Assert.Equal(128, q.Quantize.OutputQParams.ZeroPoint));
        Assert.Equal([.. Enumerable.Range(1, 6).Select(i => new CalibrationProgress(CalibrationStage.Calibrating, i)),
            .. Enumerable.Range(1, 6).Select(i => new CalibrationProgress(CalibrationStage.Comparing, i))], progress);
    }

    [Fact]
    public void Keep_worst_puts_back_the_nodes_that_hurt_the_output_most_alone()
    {
        var ct = TestContext.Current.CancellationToken;
        var calibration = Lines().Take(3).ToList();
        var graph = OnnxQuantizer.QuantizeStatic(Classifier(), calibration, new StaticQuantizationOptions { KeepWorstInFp32 = 3 }, cancellationToken: ct);

        // Brute force: the same calibration with every node INT8, and with every node back in (fused) FP32; each node
        // quantized alone in the FP32 graph, scored by the output SQNR.
        var quantized = OnnxQuantizer.QuantizeStatic(Classifier(), calibration, cancellationToken: ct);
        var fused = OnnxQuantizer.QuantizeStatic(Classifier(), calibration,
            new StaticQuantizationOptions { KeepWorstInFp32 = int.MaxValue, KeepWorstRanking = NodeRanking.LayerSqnr }, cancellationToken: ct);
        Assert.Empty(fused.Modules<QdqLayer>());
        var reference = calibration.Select(x => fused.Forward(x["x"]).AsSpan().ToArray()).ToList();
        var names = quantized.NamedChildren().Where(c => c.Module is QdqLayer).Select(c => c.Name).ToList();
        var sqnr = new Dictionary<string, double>();
        foreach (string name in names)
        {
            var fp32 = fused.GetSubmodule(name);
            fused.SetSubmodule(name, quantized.GetSubmodule(name));
            double signal = 0, noise = 0;
            foreach (var (x, r) in calibration.Zip(reference))
            {
                var y = fused.Forward(x["x"]).AsSpan();
                for (int i = 0; i < r.Length; i++)
                    (signal, noise) = (signal + (double)r[i] * r[i], noise + ((double)r[i] - y[i]) * (r[i] - y[i]));
            }

            fused.SetSubmodule(name, fp32);
            sqnr[name] = 10 * Math.Log10(signal / noise);
        }

        var expected = sqnr.OrderBy(p => p.Value).Take(3).Select(p => p.Key).Order().ToList();
        output.WriteLine($"Worst alone: {string.Join(", ", expected.Select(n => $"{n} ({sqnr[n]:F1} dB)"))}");
        Assert.Equal(expected, names.Where(n => graph.GetSubmodule(n) is not QdqLayer).Order().ToList());
        Assert.Equal(names.Count - 3, graph.Modules<QdqLayer>().Count());
    }

    [Fact]
    public void Calibration_data_is_streamed_once()
    {
        int enumerations = 0, produced = 0;
        IEnumerable<IReadOnlyDictionary<string, Tensor>> Stream()
        {
            enumerations++;
            foreach (var line in Lines().Take(4))
            {
                produced++;
                yield return line;
            }
        }

        OnnxQuantizer.QuantizeStatic(Classifier(), Stream(), cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal((1, 4), (enumerations, produced));
    }

    [Fact]
    public void Bad_input_fails_clearly_and_leaves_the_graph_float()
    {
        var graph = Classifier();
        var empty = Assert.Throws<InvalidOperationException>(() => OnnxQuantizer.QuantizeStatic(graph, [], cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("no samples", empty.Message);
        Assert.Empty(graph.Modules<QdqLayer>());
        Assert.DoesNotContain(graph.NamedModules(), m => m.Module is Workflows.ObservedModule);

        var unknown = Assert.Throws<ArgumentException>(() => OnnxQuantizer.QuantizeStatic(graph, Lines().Take(1),
            new StaticQuantizationOptions { IncludeNodes = ["p2o.Conv.0", "conv_typo"], ExcludeNodes = ["nope"] }, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("'conv_typo'", unknown.Message);
        Assert.Contains("'nope'", unknown.Message);
        Assert.DoesNotContain("'p2o.Conv.0'", unknown.Message);
        Assert.Throws<ArgumentException>(() => OnnxQuantizer.QuantizeDynamic(OnnxModel.Load(AssetModels.HelloDeepa).ToGraphModule(), new DynamicQuantizationOptions { ExcludeNodes = ["missing"] }));

        var signed = Assert.Throws<NotSupportedException>(() => OnnxQuantizer.QuantizeStatic(graph, Lines().Take(1),
            new StaticQuantizationOptions { ActivationType = QuantDType.QInt8 }, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("ActivationType", signed.Message);
        var weights = Assert.Throws<NotSupportedException>(() => OnnxQuantizer.QuantizeDynamic(graph, new DynamicQuantizationOptions { WeightType = QuantDType.QUInt8 }));
        Assert.Contains("WeightType", weights.Message);
        var symmetric = Assert.Throws<ArgumentException>(() => OnnxQuantizer.QuantizeStatic(graph, Lines().Take(1),
            new StaticQuantizationOptions { SymmetricActivations = true, ReduceRange = true }, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("SymmetricActivations", symmetric.Message);
        var ranking = Assert.Throws<ArgumentException>(() => OnnxQuantizer.QuantizeStatic(graph, Lines().Take(1),
            new StaticQuantizationOptions { KeepWorstInFp32 = 1, KeepWorstRanking = (NodeRanking)7 }, cancellationToken: TestContext.Current.CancellationToken));
        Assert.Contains("KeepWorstRanking", ranking.Message);
        Assert.Empty(graph.Modules<QdqLayer>());
    }

    [Fact]
    public void Cancellation_stops_between_samples_and_leaves_the_graph_float()
    {
        var graph = Classifier();
        using var cancellation = new CancellationTokenSource();
        int seen = 0;
        var progress = new SynchronousProgress(p =>
        {
            seen = p.SamplesProcessed;
            if (p.SamplesProcessed == 2)
                cancellation.Cancel();
        });
        Assert.ThrowsAny<OperationCanceledException>(() => OnnxQuantizer.QuantizeStatic(graph, Lines().Take(5), progress: progress, cancellationToken: cancellation.Token));
        Assert.Equal(2, seen);
        Assert.Empty(graph.Modules<QdqLayer>());
        Assert.DoesNotContain(graph.NamedModules(), m => m.Module is Workflows.ObservedModule);
    }

    [Theory]
    [InlineData(NodeRanking.OutputSqnr)]
    [InlineData(NodeRanking.LayerSqnr)]
    public void Cancellation_while_ranking_leaves_the_graph_float(NodeRanking ranking)
    {
        var graph = Classifier();
        using var cancellation = new CancellationTokenSource();
        var progress = new SynchronousProgress(p =>
        {
            if (p.Stage == CalibrationStage.Comparing)
                cancellation.Cancel();
        });
        Assert.ThrowsAny<OperationCanceledException>(() => OnnxQuantizer.QuantizeStatic(graph, Lines().Take(3),
            new StaticQuantizationOptions { KeepWorstInFp32 = 2, KeepWorstRanking = ranking }, progress, cancellation.Token));
        Assert.Empty(graph.Modules<QdqLayer>());
        Assert.NotEmpty(graph.Modules<Conv2d>());
    }

    private static GraphModule Classifier() => OnnxModel.Load(AssetModels.OcrClassifier).ToGraphModule();

    private static IEnumerable<IReadOnlyDictionary<string, Tensor>> Lines() =>
        OcrData.Lines(seed: 303, lines: 8, pages: 0).Select(l => Feed(OcrData.ClassifierInput(l.Image)));

    private static IReadOnlyDictionary<string, Tensor> Feed(Tensor x) => new Dictionary<string, Tensor> { ["x"] = x };

    private static IReadOnlyDictionary<string, Tensor> FeedWakeWord(Tensor x) => new Dictionary<string, Tensor> { ["onnx::Flatten_0"] = x };

    private static Tensor Features(int seed)
    {
        var random = new Random(seed);
        var x = new Tensor(1, 25, 96);
        foreach (ref float v in x.AsSpan())
        {
            // Box–Muller normal, with one value in fifty scaled up as a heavier tail.
            double normal = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            v = (float)(random.Next(50) == 0 ? 3 * normal : normal);
        }

        return x;
    }

    /// <summary>Reports on the calling thread (<see cref="Progress{T}"/> would post to the thread pool).</summary>
    private sealed class SynchronousProgress(Action<CalibrationProgress> report) : IProgress<CalibrationProgress>
    {
        public void Report(CalibrationProgress value) => report(value);
    }
}
