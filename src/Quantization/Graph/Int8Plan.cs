using Quantization.Kernels.Elementwise;
using Quantization.Kernels.Threading;
using Quantization.Nn;
using Quantization.Nn.Quantized;

namespace Quantization.Graph;

/// <summary>
/// How a statically quantized graph keeps its activations INT8 between nodes, as ONNX Runtime runs a QDQ model once it
/// has fused the QuantizeLinear/DequantizeLinear pairs: a quantized layer's QUInt8 output goes straight into the next
/// quantized layer, and the nodes between quantized layers work on the bytes.
/// </summary>
/// <remarks>
/// Every step computes what the QDQ model computes: a node's real result from the dequantized inputs, quantized with
/// the parameters calibrated for its output. Value by value:
/// <list type="bullet">
/// <item>Elementwise nodes (ReLU, Clip, HardSigmoid, the Add/Clip/Mul/Div of a decomposed HardSwish, a scale by a
/// per-channel constant) whose inputs all derive from one quantized value are functions of its 256 codes: they are
/// folded into a table per channel, built once from the nodes' own float kernels. Nothing runs for them; the value is
/// looked up when a reader needs it, as bytes (a <see cref="StepKind.Table"/> step requantizing with the calibrated
/// parameters) when a quantized layer or a data-movement node reads it, else as floats.</item>
/// <item>Data-movement nodes (Reshape, Flatten, Squeeze, Unsqueeze, Transpose, MaxPool, nearest Resize, Identity) keep
/// the input's parameters: their outputs are input codes (MaxPool and Resize move them with their kernels on codes).</item>
/// <item>Binary elementwise nodes of two quantized values, average pooling and Concat compute from the dequantized
/// inputs and quantize their output with its calibrated parameters, unless only float nodes read it or the graph returns
/// it: then it stays FP32.</item>
/// <item>Every other node runs FP32 on dequantized inputs; chains of elementwise float nodes with scalar constants are
/// computed in one pass when read (<see cref="FloatChain"/>).</item>
/// </list>
/// The plan holds for the layer modules it was built with; when a layer has been swapped since, the graph runs each
/// layer between quantize and dequantize again.
/// </remarks>
internal sealed class Int8Plan
{
    /// <summary>What runs for a node.</summary>
    internal enum StepKind
    {
        /// <summary>The node's FP32 kernel on float (dequantized when needed) inputs.</summary>
        Float,

        /// <summary>Nothing: the output is a table function of a quantized value (<see cref="Int8Plan.Lazy"/>).</summary>
        Lazy,

        /// <summary>The quantized layer on the quantized input, giving QUInt8.</summary>
        Layer,

        /// <summary>A byte table per channel applied to the source's codes.</summary>
        Table,

        /// <summary>The FP32 kernel on dequantized inputs, its output quantized with <see cref="Step.Output"/>.</summary>
        Compute,

        /// <summary>The input's quantized tensor under the output's name.</summary>
        Alias,

        /// <summary>Nothing: the output is a float elementwise function of another value (<see cref="Int8Plan.Chains"/>), computed when read.</summary>
        Chain,
    }

    /// <summary>A node's step: the parameters of a quantized output; for a table, the function and its 256 output codes per channel.</summary>
    internal sealed record Step(StepKind Kind, QuantParams? Output = null, LazyValue? Function = null, byte[]? Codes = null);

    /// <summary>A value that is <c>Table[c · 256 + q]</c> for the code q of <paramref name="Source"/> in channel c (the axis third from the end when there are several).</summary>
    internal sealed record LazyValue(string Source, float[] Table, int Channels, int MinRank);

    private static readonly HashSet<string> ElementwiseOps = ["Identity", "Relu", "Clip", "HardSigmoid", "Sigmoid", "Tanh", "Add", "Sub", "Mul", "Div"];
    private static readonly HashSet<string> BinaryOps = ["Add", "Sub", "Mul", "Div"];
    private static readonly HashSet<string> MovementOps = ["Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "MaxPool", "Resize"];
    private static readonly HashSet<string> CalibratedOps = ["GlobalAveragePool", "AveragePool", "Concat"];

    private readonly Dictionary<string, Module> _layers;

    private Int8Plan(Step[] steps, Dictionary<string, QuantParams> quantized, Dictionary<string, LazyValue> lazy, Dictionary<string, FloatChain> chains,
        Dictionary<string, QuantParams> requantized, string[][] releaseAfter, Dictionary<string, Module> layers)
    {
        Steps = steps;
        Quantized = quantized;
        Lazy = lazy;
        Chains = chains;
        Requantized = requantized;
        ReleaseAfter = releaseAfter;
        _layers = layers;
    }

    /// <summary>One step per node of the main graph.</summary>
    public Step[] Steps { get; }

    /// <summary>The values held as QUInt8, with their parameters.</summary>
    public IReadOnlyDictionary<string, QuantParams> Quantized { get; }

    /// <summary>The values computed by table from a quantized value when read.</summary>
    public IReadOnlyDictionary<string, LazyValue> Lazy { get; }

    /// <summary>The float values computed from another value by a <see cref="FloatChain"/> when read.</summary>
    public IReadOnlyDictionary<string, FloatChain> Chains { get; }

    /// <summary>
    /// The quantized values whose codes are new (layer outputs, tables, computed nodes), as opposed to those that move
    /// codes of another: the values a QDQ export quantizes and dequantizes after their producer.
    /// </summary>
    public IReadOnlyDictionary<string, QuantParams> Requantized { get; }

    /// <summary>The values to drop after each node: after their last reader, where a table value's reader reads its source.</summary>
    public string[][] ReleaseAfter { get; }

    /// <summary>The values whose calibrated parameters <see cref="Build"/> may use: outputs of the nodes that can compute in INT8 other than layers.</summary>
    public static IEnumerable<string> CalibrationCandidates(GraphModule graph) =>
        graph.Nodes.Where(n => n.ModuleName is null && (ElementwiseOps.Contains(n.OpType) || CalibratedOps.Contains(n.OpType)))
            .Select(n => n.Outputs[0]).Where(o => o.Length > 0);

    /// <summary>Whether every layer still is the module the plan was built with.</summary>
    public bool Matches(GraphModule graph) => _layers.All(l => ReferenceEquals(graph.Layer(l.Key), l.Value));

    /// <summary>Plans <paramref name="graph"/>, whose quantized layers are <see cref="QdqLayer"/>s, with the calibrated parameters of other values.</summary>
    public static Int8Plan Build(GraphModule graph, IReadOnlyDictionary<string, QuantParams> calibrated)
    {
        var nodes = graph.Nodes;
        var constants = graph.Constants;
        var quantized = new Dictionary<string, QuantParams>();
        var lazy = new Dictionary<string, LazyValue>();
        var requantized = new Dictionary<string, QuantParams>();
        var layers = new Dictionary<string, Module>();
        var steps = new Step[nodes.Count];

        // Readers that need a value's codes: quantized layers, and data-movement nodes reading it as their data.
        var needsCodes = new HashSet<string>();
        foreach (GraphNode node in nodes)
        {
            if (node.ModuleName is { } module && graph.Layer(module) is QdqLayer || MovementOps.Contains(node.OpType))
                needsCodes.Add(node.Inputs[0]);
        }

        for (int i = 0; i < nodes.Count; i++)
        {
            GraphNode node = nodes[i];
            steps[i] = new Step(StepKind.Float);
            string output = node.Outputs.Count > 0 ? node.Outputs[0] : "";
            // An Identity node, or a batch norm folded into the layer before it: the output is the input, codes or table.
            bool identity = node.Outputs.Count == 1 && (node.OpType == "Identity" || node.ModuleName is { } m && graph.Layer(m) is Identity);
            if (identity && quantized.TryGetValue(node.Inputs[0], out var same))
            {
                steps[i] = new Step(StepKind.Alias);
                quantized[output] = same;
                continue;
            }

            if (identity && lazy.TryGetValue(node.Inputs[0], out var function) && !needsCodes.Contains(output))
            {
                steps[i] = new Step(StepKind.Lazy);
                lazy[output] = function;
                continue;
            }

            if (node.ModuleName is { } moduleName)
            {
                if (graph.Layer(moduleName) is QdqLayer qdq && qdq.Layer is QuantizedModule layer && node.Outputs.Count == 1)
                {
                    layers[moduleName] = qdq;
                    steps[i] = new Step(StepKind.Layer, layer.OutputQParams);
                    quantized[output] = requantized[output] = layer.OutputQParams;
                }

                continue;
            }

            if (output.Length == 0 || node.Outputs.Count != 1)
                continue;
            var data = node.Inputs.Where(n => n.Length > 0 && !constants.ContainsKey(n)).ToList();
            bool allInt8 = data.Count > 0 && data.All(n => quantized.ContainsKey(n) || lazy.ContainsKey(n));
            if (!allInt8)
                continue;

            if (MovementOps.Contains(node.OpType) && quantized.TryGetValue(node.Inputs[0], out var moved) && data.Count == 1)
            {
                steps[i] = new Step(StepKind.Compute, moved);
                quantized[output] = moved;
            }
            else if (ElementwiseOps.Contains(node.OpType) && data.Select(n => lazy.TryGetValue(n, out var l) ? l.Source : n).Distinct().Count() == 1
                && TableOf(graph, node, quantized, lazy) is { } table)
            {
                if (!needsCodes.Contains(output))
                {
                    steps[i] = new Step(StepKind.Lazy);
                    lazy[output] = table;
                }
                else if (calibrated.TryGetValue(output, out var p))
                {
                    steps[i] = new Step(StepKind.Table, p, table, Requantize(table, p));
                    quantized[output] = requantized[output] = p;
                }
            }
            else if ((BinaryOps.Contains(node.OpType) || CalibratedOps.Contains(node.OpType)) && calibrated.TryGetValue(output, out var p))
            {
                steps[i] = new Step(StepKind.Compute, p);
                quantized[output] = requantized[output] = p;
            }
        }

        // A value computed anew that only float steps read (or the graph returns) stays float: quantizing it would add
        // error and save nothing. Consumers first, so a chain of such steps (Add then Mul) goes float as a whole.
        var readers = new Dictionary<string, List<int>>();
        for (int i = 0; i < nodes.Count; i++)
        {
            foreach (string name in nodes[i].Inputs.Concat(nodes[i].CapturedNames))
                (readers.TryGetValue(name, out var list) ? list : readers[name] = []).Add(i);
        }

        for (int i = nodes.Count - 1; i >= 0; i--)
        {
            if (steps[i].Kind != StepKind.Compute || MovementOps.Contains(nodes[i].OpType))
                continue;
            string output = nodes[i].Outputs[0];
            if (readers.GetValueOrDefault(output, []).All(r => steps[r].Kind == StepKind.Float))
            {
                steps[i] = new Step(StepKind.Float);
                quantized.Remove(output);
                requantized.Remove(output);
            }
        }

        var chains = new Dictionary<string, FloatChain>();
        for (int i = 0; i < nodes.Count; i++)
        {
            if (steps[i].Kind == StepKind.Float && FloatChain.Of(nodes[i], constants, chains) is { } chain)
            {
                steps[i] = new Step(StepKind.Chain);
                chains[nodes[i].Outputs[0]] = chain;
            }
        }

        return new Int8Plan(steps, quantized, lazy, chains, requantized, ReleaseSchedule(graph, steps, lazy, chains), layers);
    }

    /// <summary>
    /// The table of <paramref name="node"/>'s output over the codes of its source, from the node's own kernel run on the
    /// inputs' tables laid out as [1, C, 1, 256]; null when a constant operand varies along another axis or a value is
    /// not finite.
    /// </summary>
    private static LazyValue? TableOf(GraphModule graph, GraphNode node, Dictionary<string, QuantParams> quantized, Dictionary<string, LazyValue> lazy)
    {
        string? source = null;
        int minRank = 0;
        var inputs = new Tensor?[node.Inputs.Count];
        for (int k = 0; k < inputs.Length; k++)
        {
            string name = node.Inputs[k];
            if (name.Length == 0)
                continue;
            if (graph.Constants.TryGetValue(name, out var constant))
            {
                inputs[k] = constant;
                minRank = Math.Max(minRank, constant.Rank);
            }
            else if (lazy.TryGetValue(name, out var l))
            {
                (source, minRank) = (l.Source, Math.Max(minRank, l.MinRank));
                inputs[k] = new Tensor(l.Table, new[] { 1, l.Channels, 1, 256 });
            }
            else
            {
                source = name;
                inputs[k] = Grid(quantized[name]);
            }
        }

        if (minRank > 4)
            return null;
        Tensor result;
        try
        {
            result = node.Kernel(inputs, new GraphScope(graph, null))[0];
        }
        catch (ArgumentException)
        {
            return null;
        }

        if (result.Rank != 4 || result.Shape[0] != 1 || result.Shape[2] != 1 || result.Shape[3] != 256
            || !AllFinite(result.AsSpan()))
            return null;
        // Copied: a kernel may hand back one of its inputs (Identity), which belongs to another value.
        return new LazyValue(source!, result.AsSpan().ToArray(), result.Shape[1], minRank);
    }

    private static bool AllFinite(ReadOnlySpan<float> values)
    {
        foreach (float v in values)
        {
            if (!float.IsFinite(v))
                return false;
        }

        return true;
    }

    /// <summary>The 256 dequantized codes of <paramref name="qparams"/> as [1, 1, 1, 256].</summary>
    private static Tensor Grid(QuantParams qparams)
    {
        var grid = new Tensor(1, 1, 1, 256);
        QuantizeKernels.DequantizeUInt8(Int8Steps.AllCodes, qparams.Scale, qparams.ZeroPoint, grid.AsSpan());
        return grid;
    }

    /// <summary>The byte table: each float entry quantized with <paramref name="output"/> (ONNX rounding).</summary>
    private static byte[] Requantize(LazyValue table, QuantParams output)
    {
        var bytes = new byte[table.Table.Length];
        QuantizeKernels.QuantizeToUInt8(table.Table, output.Scale, output.ZeroPoint, 0, 255, RoundingConvention.Onnx, bytes);
        return bytes;
    }

    /// <summary>Each value is dropped after the last step that reads it; a step reading a table or chain value reads its source too.</summary>
    private static string[][] ReleaseSchedule(GraphModule graph, Step[] steps, Dictionary<string, LazyValue> lazy, Dictionary<string, FloatChain> chains)
    {
        var nodes = graph.Nodes;
        var lastReader = new Dictionary<string, int>();
        for (int i = 0; i < nodes.Count; i++)
        {
            if (steps[i].Kind is StepKind.Lazy or StepKind.Chain)
                continue;
            foreach (string name in nodes[i].Inputs.Concat(nodes[i].CapturedNames))
            {
                lastReader[name] = i;
                if (lazy.TryGetValue(name, out var l))
                    lastReader[l.Source] = i;
                if (chains.TryGetValue(name, out var c))
                    lastReader[c.Source] = i;
            }

            if (steps[i].Function is { } function)
                lastReader[function.Source] = i;
        }

        var produced = nodes.SelectMany(n => n.Outputs).Where(n => n.Length > 0).ToHashSet();
        produced.ExceptWith(graph.OutputNames);
        foreach (string output in graph.OutputNames)
        {
            if (lazy.TryGetValue(output, out var l))
                produced.Remove(l.Source);
            if (chains.TryGetValue(output, out var c))
                produced.Remove(c.Source);
        }

        var release = nodes.Select(_ => new List<string>()).ToArray();
        foreach (var (name, index) in lastReader)
        {
            if (produced.Contains(name))
                release[index].Add(name);
        }

        return release.Select(r => r.ToArray()).ToArray();
    }

    /// <summary>
    /// Applies a per-channel table (bytes or floats) to the codes of <paramref name="source"/>, in parallel by blocks of
    /// a channel's run (each code is looked up alone, so the split changes nothing).
    /// </summary>
    public static unsafe void ApplyTable<T>(ReadOnlySpan<T> table, LazyValue function, QuantizedTensor source, Span<T> destination)
        where T : unmanaged
    {
        int channels = function.Channels;
        var (outer, inner) = ChannelRuns(source.Shape, channels, function.MinRank);
        int blocks = Math.Max(1, inner / TableBlock), blockLength = (inner + blocks - 1) / blocks;
        fixed (T* pt = table)
        fixed (byte* pc = source.AsUInt8Span())
        fixed (T* pd = destination)
        {
            nint t = (nint)pt, codes = (nint)pc, target = (nint)pd;
            KernelParallel.For(outer * blocks, (long)outer * inner, task =>
            {
                int o = task / blocks, first = task % blocks * blockLength, start = o * inner + first, length = Math.Min(blockLength, inner - first);
                var from = new ReadOnlySpan<byte>((byte*)codes + start, length);
                T* lookup = (T*)t + o % channels * 256;
                if (typeof(T) == typeof(byte))
                    ByteLookup.Apply(new ReadOnlySpan<byte>(lookup, 256), from, new Span<byte>((byte*)target + start, length));
                else
                    ByteLookup.Apply(new ReadOnlySpan<float>(lookup, 256), from, new Span<float>((float*)target + start, length));
            });
        }
    }

    /// <summary>Codes per parallel task of <see cref="ApplyTable{T}"/>.</summary>
    private const int TableBlock = 64 << 10;

    /// <summary>The length of the runs of <paramref name="shape"/> over which <paramref name="function"/> uses one channel's table.</summary>
    /// <exception cref="InvalidOperationException">The table does not fit the shape.</exception>
    public static int PlaneSize(ReadOnlySpan<int> shape, LazyValue function) => ChannelRuns(shape, function.Channels, function.MinRank).Length;

    /// <summary>The number of runs and their length: one channel's elements are contiguous along the axis third from the end.</summary>
    private static (int Runs, int Length) ChannelRuns(ReadOnlySpan<int> shape, int channels, int minRank)
    {
        if (shape.Length < minRank || (channels > 1 && (shape.Length < 3 || shape[^3] != channels)))
            throw new InvalidOperationException($"A per-channel table of {channels} channels (built for rank {minRank} or more) cannot apply to a value of shape {Tensor.FormatShape(shape)}.");
        if (channels == 1)
            return (1, Tensor.CheckedLength(shape, "shape"));
        int inner = shape[^2] * shape[^1];
        return (Tensor.CheckedLength(shape, "shape") / inner, inner);
    }
}
