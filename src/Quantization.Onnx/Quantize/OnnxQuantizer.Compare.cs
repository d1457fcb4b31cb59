using Quantization.Graph;
using Quantization.Nn;
using Quantization.Nn.Intrinsic;
using Quantization.Nn.Quantized;

namespace Quantization.Onnx.Quantize;

/// <summary>How much one quantized node of a graph differs from its FP32 form (signal-to-quantization-noise ratios in dB, 10 · log10(Σ r² / Σ (r − x)²) over all inputs).</summary>
/// <param name="NodeName">The node's name.</param>
/// <param name="OpType">The node's op type.</param>
/// <param name="ModuleName">The child module the node runs, the same in both graphs.</param>
/// <param name="QuantizedType">The quantized module's type.</param>
/// <param name="WeightSqnr">The SQNR of the dequantized weights against the FP32 ones.</param>
/// <param name="LayerSqnr">
/// The node's own error: its quantized form against its FP32 form on the same FP32 input (the input the float graph
/// gives it). Low values name the nodes that lose accuracy themselves.
/// </param>
/// <param name="OutputSqnr">The node's output in the quantized graph against the float graph's, so including the error of every quantized node before it.</param>
public sealed record NodeComparison(string NodeName, string OpType, string ModuleName, string QuantizedType, double? WeightSqnr, double LayerSqnr, double OutputSqnr);

public static partial class OnnxQuantizer
{
    /// <summary>
    /// Runs <paramref name="inputs"/> through a float graph and its quantized version and compares every quantized node
    /// with its FP32 form (ONNX Runtime's <c>qdq_loss_debug</c>, PyTorch's numeric suite): the error it adds on its own
    /// and the error accumulated at its output. Sort by <see cref="NodeComparison.LayerSqnr"/> to find the nodes that
    /// lose accuracy themselves (to keep in FP32 with <see cref="QuantizationOptions.ExcludeNodes"/>;
    /// <see cref="StaticQuantizationOptions.KeepWorstInFp32"/> ranks by the effect on the outputs by default).
    /// </summary>
    /// <param name="floatGraph">The float graph (the same model loaded again).</param>
    /// <param name="quantizedGraph">The graph returned by <see cref="QuantizeStatic"/> or <see cref="QuantizeDynamic"/>.</param>
    /// <param name="inputs">Representative named inputs, enumerated once; memory holds one sample's node outputs.</param>
    /// <param name="cancellationToken">Checked before each sample.</param>
    /// <returns>
    /// One entry per quantized node, in graph order. Both graphs are left as they were. The comparison swaps the
    /// quantized layers for probes, so a graph that keeps activations INT8 between nodes runs here with each layer
    /// between a quantize and a dequantize and FP32 between layers: <see cref="NodeComparison.OutputSqnr"/> leaves out
    /// the requantization of the values between layers.
    /// </returns>
    /// <exception cref="ArgumentException">The quantized graph has no quantized node with a float counterpart, or <paramref name="inputs"/> is empty.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static IReadOnlyList<NodeComparison> CompareNodes(GraphModule floatGraph, GraphModule quantizedGraph,
        IEnumerable<IReadOnlyDictionary<string, Tensor>> inputs, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(floatGraph);
        ArgumentNullException.ThrowIfNull(quantizedGraph);
        ArgumentNullException.ThrowIfNull(inputs);
        var nodes = quantizedGraph.Nodes
            .Where(n => n.ModuleName is { } name && IsQuantized(quantizedGraph.GetSubmodule(name)) && floatGraph.NamedChildren().Any(c => c.Name == name && !IsQuantized(c.Module)))
            .DistinctBy(n => n.ModuleName).ToList();
        if (nodes.Count == 0)
            throw new ArgumentException("The quantized graph has no quantized nodes with float counterparts of the same name.", nameof(quantizedGraph));
        // A layer fused with its batch norm or ReLU is compared with the same fusion of the float layers.
        var fusions = GraphFusion.Find(floatGraph).ToDictionary(f => f.Layer);
        var pairs = nodes.Select(n => n.ModuleName!).Select(name => new LayerPair(name, floatGraph.GetSubmodule(name), quantizedGraph.GetSubmodule(name),
            fusions.TryGetValue(name, out var f) ? AsFused(f, quantizedGraph)?.Build(floatGraph) : null)).ToList();

        var stats = Shadow(floatGraph, pairs, quantizedGraph, inputs, CalibrationStage.Comparing, null, cancellationToken);
        if (stats.Values.All(s => s.Layer.Signal == 0 && s.Layer.Noise == 0))
            throw new ArgumentException("No input reached the quantized nodes; pass at least one sample.", nameof(inputs));
        return nodes.Select((n, i) => new NodeComparison(n.Name, n.OpType, n.ModuleName!, pairs[i].Quantized.GetType().Name,
            WeightSqnr(pairs[i]), stats[n.ModuleName!].Layer.Sqnr, stats[n.ModuleName!].Output.Sqnr)).ToList();
    }

    /// <summary>The part of <paramref name="fusion"/> the quantized graph applied (its batch norm became Identity, its constants neutral, its kernel clamps), or null.</summary>
    private static GraphFusion? AsFused(GraphFusion fusion, GraphModule quantizedGraph)
    {
        var layer = quantizedGraph.GetSubmodule(fusion.Layer);
        bool relu = fusion.Relu && (layer is QdqLayer qdq ? qdq.Layer : layer) is QuantizedConv2d { Relu: true } or QuantizedLinear { Relu: true } or DynamicQuantizedLinear { Relu: true };
        string? bn = fusion.BatchNorm is { } name && quantizedGraph.GetSubmodule(name) is Identity ? name : null;
        // Folded Mul/Add constants were neutralized (set to one and zero) in the quantized graph.
        var affine = fusion.Affine.Where(a => quantizedGraph.Constants[a.Constant].AsSpan().IndexOfAnyExcept(a.Multiply ? 1f : 0f) < 0).ToList();
        return bn is null && affine.Count == 0 && !relu ? null : fusion with { BatchNorm = bn, Affine = affine, Relu = relu };
    }

    private static bool IsQuantized(Module module) => module is QdqLayer or DynamicQuantizedLinear or QuantizedLinear or QuantizedConv2d;

    private static double? WeightSqnr(LayerPair pair)
    {
        Tensor? w = (pair.Reference ?? pair.Float) switch
        {
            Linear l => l.Weight.Value,
            Conv2d c => c.Weight.Value,
            LinearReLU f => f.Linear.Weight.Value,
            ConvReLU2d f => f.Conv.Weight.Value,
            _ => null,
        };
        QuantizedTensor? q = (pair.Quantized is QdqLayer qdq ? qdq.Layer : pair.Quantized) switch
        {
            QuantizedLinear l => l.Weight,
            QuantizedConv2d c => c.Weight,
            DynamicQuantizedLinear d => d.Weight,
            _ => null,
        };
        if (w is null || q is null)
            return null;
        var sqnr = new SqnrAccumulator();
        sqnr.Add(w, q.Dequantize());
        return sqnr.Sqnr;
    }

    /// <summary>
    /// Runs every sample through <paramref name="host"/> with each pair's float layer replaced by a shadow that runs
    /// both forms on the float input (the layer's own error) and passes the float output on; with
    /// <paramref name="quantizedGraph"/>, then runs the sample through it too and compares each quantized layer's
    /// output with the float one the shadow kept (the accumulated error). Both graphs are restored.
    /// </summary>
    private static Dictionary<string, (SqnrAccumulator Layer, SqnrAccumulator Output)> Shadow(GraphModule host, List<LayerPair> pairs, GraphModule? quantizedGraph,
        IEnumerable<IReadOnlyDictionary<string, Tensor>> data, CalibrationStage stage, IProgress<CalibrationProgress>? progress, CancellationToken cancellationToken)
    {
        var stats = pairs.ToDictionary(p => p.Name, _ => (Layer: new SqnrAccumulator(), Output: new SqnrAccumulator()));
        // A layer a graph runs several times (inside a branch) pairs its outputs in order.
        var floatOutputs = pairs.ToDictionary(p => p.Name, _ => new Queue<Tensor>());
        var hostLayers = pairs.ToDictionary(p => p.Name, p => host.GetSubmodule(p.Name));
        var quantizedLayers = pairs.ToDictionary(p => p.Name, p => quantizedGraph?.GetSubmodule(p.Name));
        try
        {
            foreach (var pair in pairs)
            {
                host.SetSubmodule(pair.Name, new ShadowModule(pair.Float, pair.Reference, pair.Quantized, stats[pair.Name].Layer, quantizedGraph is null ? null : floatOutputs[pair.Name]));
                quantizedGraph?.SetSubmodule(pair.Name, new CheckModule(pair.Quantized, stats[pair.Name].Output, floatOutputs[pair.Name]));
            }

            RunAll(host, data, stage, progress, cancellationToken, afterEach: quantizedGraph is null ? null : (sample, _) => quantizedGraph.Run(sample));
        }
        finally
        {
            foreach (var (name, module) in hostLayers)
                host.SetSubmodule(name, module);
            foreach (var (name, module) in quantizedLayers)
            {
                if (module is not null)
                    quantizedGraph!.SetSubmodule(name, module);
            }
        }

        return stats;
    }

    /// <summary>
    /// For each pair, the SQNR of the graph's outputs with that layer alone quantized and every other pair's layer
    /// FP32, against the all-FP32 outputs, over every sample (each sample runs once plus once per pair). A layer's own
    /// error says little about the outputs: networks amplify the noise of some layers (often early ones) far more
    /// than that of others. The graph's quantized layers are restored.
    /// </summary>
    private static Dictionary<string, double> SoloOutputSqnr(GraphModule graph, List<LayerPair> pairs,
        IEnumerable<IReadOnlyDictionary<string, Tensor>> data, IProgress<CalibrationProgress>? progress, CancellationToken cancellationToken)
    {
        var stats = pairs.ToDictionary(p => p.Name, _ => new SqnrAccumulator());
        try
        {
            foreach (var pair in pairs)
                graph.SetSubmodule(pair.Name, pair.Float);
            RunAll(graph, data, CalibrationStage.Comparing, progress, cancellationToken, afterEach: (sample, reference) =>
            {
                foreach (var pair in pairs)
                {
                    graph.SetSubmodule(pair.Name, pair.Quantized);
                    var outputs = graph.Run(sample);
                    graph.SetSubmodule(pair.Name, pair.Float);
                    foreach (var (name, value) in reference)
                        stats[pair.Name].Add(value, outputs[name]);
                }
            });
        }
        finally
        {
            foreach (var pair in pairs)
                graph.SetSubmodule(pair.Name, pair.Quantized);
        }

        return stats.ToDictionary(s => s.Key, s => s.Value.Sqnr);
    }

    /// <summary>A layer's float form (which the float graph runs), its quantized form, and the float form to compare with when it differs (a folded batch norm).</summary>
    private sealed record LayerPair(string Name, Module Float, Module Quantized, Module? Reference = null);

    /// <summary>Streaming sums of r² and (r − x)².</summary>
    private sealed class SqnrAccumulator
    {
        public double Signal { get; private set; }

        public double Noise { get; private set; }

        /// <summary>10 · log10(signal / noise); +∞ when nothing differed.</summary>
        public double Sqnr => Noise == 0 ? double.PositiveInfinity : 10 * Math.Log10(Signal / Noise);

        public void Add(Tensor reference, Tensor actual)
        {
            var r = reference.AsSpan();
            var x = actual.AsSpan();
            if (r.Length != x.Length)
                throw new InvalidOperationException($"A quantized node's output has {x.Length} values where its float form has {r.Length}.");
            for (int i = 0; i < r.Length; i++)
            {
                double d = (double)r[i] - x[i];
                Signal += (double)r[i] * r[i];
                Noise += d * d;
            }
        }
    }

    /// <summary>
    /// Runs the float layer and, on the same input, the quantized one (and the reference form, if any, that the
    /// quantized one computes); returns the float output.
    /// </summary>
    private sealed class ShadowModule(Module floatLayer, Module? reference, Module quantizedLayer, SqnrAccumulator layer, Queue<Tensor>? keep) : Module
    {
        public override Variable Forward(Variable input)
        {
            var output = floatLayer.Forward(input);
            var expected = reference?.Forward(input).Value ?? output.Value;
            layer.Add(expected, quantizedLayer.Forward(input).Value);
            // A copy: the graph may overwrite or recycle the float output once its readers are done.
            keep?.Enqueue(expected.Clone());
            return output;
        }
    }

    /// <summary>Runs the quantized layer and compares its output with the float output the shadow kept.</summary>
    private sealed class CheckModule(Module quantizedLayer, SqnrAccumulator output, Queue<Tensor> floatOutputs) : Module
    {
        public override Variable Forward(Variable input)
        {
            var result = quantizedLayer.Forward(input);
            if (floatOutputs.TryDequeue(out var reference))
                output.Add(reference, result.Value);
            return result;
        }
    }
}
