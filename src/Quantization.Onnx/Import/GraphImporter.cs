using Quantization.Graph;
using Quantization.Nn;
using Quantization.Onnx.Operators;
using Quantization.Ops;

namespace Quantization.Onnx.Import;

/// <summary>
/// Translates a validated <see cref="OnnxModel"/> into a <see cref="GraphModule"/>: convolutions, fully connected
/// layers (Gemm, and MatMul by a constant) and batch norms become child modules holding the model's weights; every
/// other node becomes a core node kind configured from its attributes; pre-quantized nodes run on the INT8 kernels
/// (GraphImporter.Quantized.cs). Anything the graph module cannot run faithfully throws
/// <see cref="OnnxFormatException"/> naming the node; unsupported operators are all named in one exception.
/// </summary>
internal sealed partial class GraphImporter
{
    private readonly long _opset;
    private readonly List<(string Name, Module Module)> _layers = [];
    private readonly HashSet<string> _layerNames = [];
    private readonly List<OnnxGraph> _enclosing = [];
    private readonly Dictionary<string, OnnxTensor> _dequantizedConstants = [];

    private GraphImporter(long opset) => _opset = opset;

    public static GraphModule Import(OnnxModel model)
    {
        var importer = new GraphImporter(model.OpsetVersion);
        GraphBody body = importer.Body(model.Graph);
        var inputs = model.Graph.Inputs.Select(i => new GraphInput(i.Name, i.Shape?.Select(d => d.Value is long v ? (int?)v : null).ToArray())).ToArray();
        return new GraphModule(inputs, body, importer._layers);
    }

    /// <summary>Translates one graph (the main graph or a branch); constants only layers consume are not kept.</summary>
    private GraphBody Body(OnnxGraph graph)
    {
        var nodes = new List<GraphNode>();
        var unsupported = new List<string>();
        _enclosing.Add(graph);
        FoldDequantizedConstants(graph);
        var groups = FindQdqGroups(graph, out HashSet<OnnxNode> replaced);
        foreach (OnnxNode node in graph.Nodes)
        {
            if (node.OpType == "Constant" && node.Domain.Length == 0 || replaced.Contains(node))
                continue;
            if (node.Domain.Length != 0 && !(node.Domain == "com.microsoft" && node.OpType == "QLinearAdd"))
            {
                unsupported.Add($"{node.Label} ({node.Domain}.{node.OpType})");
                continue;
            }

            try
            {
                GraphNode? translated = groups.TryGetValue(node, out QdqGroup? group)
                    ? QdqNode(node, group, node.Name.Length > 0 ? node.Name : node.Label)
                    : Translate(node);
                if (translated is null)
                    unsupported.Add($"{node.Label} ({node.OpType})");
                else
                    nodes.Add(translated);
            }
            catch (Exception e) when (e is InvalidOperationException or ArgumentException)
            {
                throw new OnnxFormatException($"{node.Label}: {e.Message}", e);
            }
        }

        // Every unsupported node at once, so one load tells the user all that is missing.
        if (unsupported.Count > 0)
            throw new OnnxFormatException($"{unsupported.Count} node(s) use operators that are not supported: {string.Join(", ", unsupported)}.");

        _enclosing.RemoveAt(_enclosing.Count - 1);

        // A DequantizeLinear whose values only layers took at import (as weights) would compute them for nobody.
        var needed = nodes.SelectMany(n => n.Inputs.Concat(n.CapturedNames)).Concat(graph.Outputs.Select(o => o.Name)).ToHashSet();
        nodes.RemoveAll(n => n.OpType == "DequantizeLinear" && !n.Outputs.Any(needed.Contains));

        var read = nodes.SelectMany(n => n.Inputs.Concat(n.CapturedNames)).Concat(graph.Outputs.Select(o => o.Name)).ToHashSet();
        var constants = new Dictionary<string, Tensor>();
        foreach (var (name, tensor) in graph.Initializers.Concat(graph.Constants))
        {
            if (read.Contains(name))
                constants[name] = ToTensor(tensor);
        }

        return new GraphBody(nodes, graph.Outputs.Select(o => o.Name).ToArray(), constants);
    }

    private static Tensor ToTensor(OnnxTensor t)
    {
        try
        {
            return t.ToTensor();
        }
        catch (InvalidOperationException e)
        {
            throw new OnnxFormatException($"Constant '{t.Name}' of type {t.ElementType} cannot be held as numbers: {e.Message}", e);
        }
    }

    /// <summary>The node for one ONNX node, or null when its operator is not supported.</summary>
    private GraphNode? Translate(OnnxNode node)
    {
        string name = node.Name.Length > 0 ? node.Name : node.Label;
        GraphNode Op(GraphKernel kernel, QuantizedKernel? codes = null, PointwiseOp? pointwise = null) =>
            new(name, node.OpType, node.Inputs.ToArray(), node.Outputs.ToArray(), kernel) { CodeKernel = codes, Pointwise = pointwise };

        // A map over one input, which also runs chunk by chunk in a float chain.
        GraphNode Map(NodeStep[] steps) => Op(GraphOps.Map(steps), pointwise: GraphOps.UnaryPointwise(steps));

        GraphNode ConcatNode(long axis) =>
            new(name, node.OpType, node.Inputs.ToArray(), node.Outputs.ToArray(), GraphOps.Concat(axis)) { Int8Kernel = (x, output) => Int8Steps.Concat(x, axis, output) };

        // Clip's bounds are attributes before opset 11 and optional inputs from then on.
        GraphNode Clip()
        {
            float min = _opset < 11 ? node.GetFloat("min", float.MinValue) : float.NegativeInfinity;
            float max = _opset < 11 ? node.GetFloat("max", float.MaxValue) : float.PositiveInfinity;
            return Op(GraphOps.Clip(min, max), pointwise: GraphOps.ClipPointwise(min, max));
        }

        GraphNode ReduceMean()
        {
            var reduction = new Reduction(ReduceAxes(node), node.GetInt("keepdims", 1) != 0);
            return new(name, node.OpType, node.Inputs.ToArray(), node.Outputs.ToArray(), GraphOps.ReduceMean(reduction.Axes, reduction.KeepDims)) { Reduce = reduction };
        }

        // An op whose constant inputs were consumed at import reads only the listed ones (the rest become omitted inputs).
        GraphNode OpReading(GraphKernel kernel, params int[] read) =>
            new(name, node.OpType, node.Inputs.Select((input, i) => read.Contains(i) ? input : "").ToArray(), node.Outputs.ToArray(), kernel);
        // A layer node reads only its activation: the weights now live in the module.
        GraphNode Layer(Module module, LayerInput mode)
        {
            string moduleName = AddLayer(node.Name.Length > 0 ? node.Name : node.OpType.ToLowerInvariant(), module);
            return new(name, node.OpType, [node.Inputs[0]], node.Outputs.ToArray(), GraphOps.Layer(moduleName, mode), moduleName);
        }

        return node.OpType switch
        {
            "Conv" => Conv(node, Layer),
            "ConvTranspose" => OpReading(ConvTranspose(node), 0),
            "BatchNormalization" => Layer(BatchNorm(node), LayerInput.AsIs),
            "Gemm" => Layer(Gemm(node), LayerInput.AsIs),
            "MatMul" => Layer(MatMul(node), LayerInput.Rows),
            "Relu" => Map(GraphOps.ReluSteps),
            "Sigmoid" => Op(GraphOps.Sigmoid()),
            "Tanh" => Op(GraphOps.Tanh()),
            "Sqrt" => Op(GraphOps.Sqrt()),
            "Neg" => Op(GraphOps.Neg()),
            "Log" => Op(GraphOps.Log()),
            "Identity" => Op(GraphOps.Identity()),
            "HardSigmoid" => Map(GraphOps.HardSigmoidSteps(node.GetFloat("alpha", 0.2f), node.GetFloat("beta", 0.5f))),
            "Clip" => Clip(),
            "Cast" => Op(GraphOps.Cast(CastTo(node))),
            "Add" => Op(GraphOps.Add(), pointwise: GraphOps.AddPointwise),
            "Sub" => Op(GraphOps.Sub(), pointwise: GraphOps.SubPointwise),
            "Mul" => Op(GraphOps.Mul(), pointwise: GraphOps.MulPointwise),
            "Div" => Op(GraphOps.Div(), pointwise: GraphOps.DivPointwise),
            "Pow" => Op(GraphOps.Pow()),
            "Equal" => Op(GraphOps.Equal()),
            "Softmax" => Op(GraphOps.Softmax(node.GetInt("axis", _opset < 13 ? 1 : -1), coerce2D: _opset < 13)),
            "ReduceMean" => ReduceMean(),
            "GlobalAveragePool" => Op(GraphOps.GlobalAveragePool()),
            "MaxPool" => Op(MaxPool(node, out var maxCodes), maxCodes),
            "Shape" => Op(GraphOps.Shape(node.GetInt("start", 0), node.TryGetAttribute("end", out var end) ? end.Int : null)),
            "Reshape" => Op(GraphOps.Reshape(node.GetInt("allowzero", 0) != 0)),
            "Flatten" => Op(GraphOps.Flatten(node.GetInt("axis", 1))),
            "Concat" => ConcatNode(node.GetAttribute("axis").Int),
            "Slice" => Op(_opset < 10
                ? GraphOps.Slice(node.GetInts("starts").ToArray(), node.GetInts("ends").ToArray(), node.TryGetAttribute("axes", out var axes) ? axes.Ints.ToArray() : null)
                : GraphOps.Slice(null, null, null)),
            "Squeeze" => Op(GraphOps.Squeeze(_opset < 13 && node.TryGetAttribute("axes", out var sq) ? sq.Ints.ToArray() : null)),
            "Unsqueeze" => Op(GraphOps.Unsqueeze(_opset < 13 ? node.GetAttribute("axes").Ints.ToArray() : null)),
            "Transpose" => Op(GraphOps.Transpose(node.TryGetAttribute("perm", out var perm) ? perm.Ints.ToArray() : null)),
            "Gather" => Op(GraphOps.Gather(node.GetInt("axis", 0))),
            "Expand" => Op(GraphOps.Expand()),
            "ConstantOfShape" => Op(GraphOps.ConstantOfShape(ConstantOfShapeValue(node))),
            "Pad" => Op(Pad(node)),
            "Resize" => Op(Resize(node, out var resizeCodes), resizeCodes),
            "If" => If(node, name),
            "LSTM" => OpReading(Lstm(node), 0, 4, 5, 6),
            "QuantizeLinear" => OpReading(QuantizeLinear(node), 0),
            "DequantizeLinear" => OpReading(DequantizeLinear(node), 0),
            "DynamicQuantizeLinear" => Op(QuantizedKernels.DynamicQuantizeLinear()),
            "QLinearConv" => OpReading(QLinearConv(node), 0),
            "QLinearMatMul" => OpReading(QLinearMatMul(node), 0),
            "MatMulInteger" => OpReading(MatMulInteger(node), 0, 2),
            "ConvInteger" => OpReading(ConvInteger(node), 0, 2),
            "QLinearAdd" when node.Domain == "com.microsoft" => OpReading(QLinearAdd(node), 0, 3),
            _ => null,
        };
    }

    /// <summary>Registers a layer under a module-safe, unique version of the node's name (or op type).</summary>
    private string AddLayer(string nodeName, Module module)
    {
        string baseName = new(nodeName.Select(c => char.IsLetterOrDigit(c) || c == '_' ? c : '_').ToArray());
        baseName = baseName.Trim('_');
        if (baseName.Length == 0)
            baseName = "layer";
        string name = baseName;
        for (int i = 1; !_layerNames.Add(name); i++)
            name = $"{baseName}_{i}";
        _layers.Add((name, module));
        return name;
    }

    /// <summary>A constant input the operator needs at import time (weights).</summary>
    private OnnxTensor ConstantInput(OnnxNode node, int index, string what)
    {
        if (index >= node.Inputs.Count || node.Inputs[index].Length == 0)
            throw new OnnxFormatException($"{node.Label} has no {what} (input {index}).");
        return FindConstant(node.Inputs[index])
            ?? throw new OnnxFormatException($"{node.Label}: the {what} '{node.Inputs[index]}' is not a constant; only constant weights are supported.");
    }

    private OnnxTensor? OptionalConstant(OnnxNode node, int index, string what) =>
        index < node.Inputs.Count && node.Inputs[index].Length > 0 ? ConstantInput(node, index, what) : null;

    /// <summary>A constant of the graph being translated or, for a subgraph, of an enclosing one (names are unique across scopes).</summary>
    private OnnxTensor? FindConstant(string name)
    {
        for (int i = _enclosing.Count - 1; i >= 0; i--)
        {
            if (_enclosing[i].FindConstant(name) is OnnxTensor t)
                return t;
        }

        return _dequantizedConstants.GetValueOrDefault(name);
    }

    private static CastTarget CastTo(OnnxNode node) => (OnnxElementType)node.GetAttribute("to").Int switch
    {
        OnnxElementType.Float or OnnxElementType.Double => CastTarget.Float,
        OnnxElementType.Float16 => CastTarget.Half,
        OnnxElementType.Bool => CastTarget.Bool,
        OnnxElementType.Int8 or OnnxElementType.UInt8 or OnnxElementType.Int16 or OnnxElementType.UInt16 or OnnxElementType.Int32
            or OnnxElementType.UInt32 or OnnxElementType.Int64 or OnnxElementType.UInt64 => CastTarget.Integer,
        var t => throw new OnnxFormatException($"{node.Label} casts to {t}, which is not supported."),
    };

    private long[]? ReduceAxes(OnnxNode node)
    {
        if (node.TryGetAttribute("axes", out var axes))
            return axes.Ints.ToArray();
        if (_opset >= 18 && node.Inputs.Count > 1 && node.Inputs[1].Length > 0)
            return ConstantInput(node, 1, "axes").ToInt64s();
        if (node.GetInt("noop_with_empty_axes", 0) != 0)
            throw new OnnxFormatException($"{node.Label}: noop_with_empty_axes is not supported.");
        return null;
    }

    private static float ConstantOfShapeValue(OnnxNode node)
    {
        if (!node.TryGetAttribute("value", out var value))
            return 0f;
        float[] v = value.Tensor.ToFloats();
        return v.Length == 1 ? v[0] : throw new OnnxFormatException($"{node.Label}: value must hold one element, not {v.Length}.");
    }

    private GraphKernel Pad(OnnxNode node)
    {
        PadMode mode = node.GetString("mode", "constant") switch
        {
            "constant" => PadMode.Constant,
            "reflect" => PadMode.Reflect,
            "edge" => PadMode.Edge,
            var m => throw new OnnxFormatException($"{node.Label}: pad mode '{m}' is not supported."),
        };
        if (_opset >= 18 && node.Inputs.Count > 3 && node.Inputs[3].Length > 0)
            throw new OnnxFormatException($"{node.Label}: the axes input of Pad is not supported.");
        return _opset < 11
            ? GraphOps.Pad(mode, node.GetInts("pads").ToArray(), node.GetFloat("value", 0f))
            : GraphOps.Pad(mode, null, 0f);
    }

    /// <summary>Nearest-neighbour <c>Resize</c>, and the same on codes.</summary>
    private GraphKernel Resize(OnnxNode node, out QuantizedKernel codes)
    {
        string mode = node.GetString("mode", "nearest");
        if (mode != "nearest")
            throw new OnnxFormatException($"{node.Label}: Resize mode '{mode}' is not supported (only nearest).");
        ResizeCoordinates coordinates = _opset < 11 ? ResizeCoordinates.Asymmetric : node.GetString("coordinate_transformation_mode", "half_pixel") switch
        {
            "half_pixel" => ResizeCoordinates.HalfPixel,
            "pytorch_half_pixel" => ResizeCoordinates.PyTorchHalfPixel,
            "align_corners" => ResizeCoordinates.AlignCorners,
            "asymmetric" => ResizeCoordinates.Asymmetric,
            "tf_half_pixel_for_nn" => ResizeCoordinates.TfHalfPixelForNearest,
            var m => throw new OnnxFormatException($"{node.Label}: coordinate_transformation_mode '{m}' is not supported."),
        };
        NearestRounding rounding = _opset < 11 ? NearestRounding.Floor : node.GetString("nearest_mode", "round_prefer_floor") switch
        {
            "round_prefer_floor" => NearestRounding.RoundPreferFloor,
            "round_prefer_ceil" => NearestRounding.RoundPreferCeil,
            "floor" => NearestRounding.Floor,
            "ceil" => NearestRounding.Ceil,
            var m => throw new OnnxFormatException($"{node.Label}: nearest_mode '{m}' is not supported."),
        };
        if (node.GetString("keep_aspect_ratio_policy", "stretch") != "stretch" || node.TryGetAttribute("axes", out _))
            throw new OnnxFormatException($"{node.Label}: Resize axes and keep_aspect_ratio_policy are not supported.");
        (int scales, int sizes) = _opset < 11 ? (1, -1) : (2, 3);
        codes = GraphOps.ResizeNearestCodes(coordinates, rounding, scales, sizes);
        return GraphOps.ResizeNearest(coordinates, rounding, scales, sizes);
    }

    /// <summary><c>MaxPool</c>, and the same on codes.</summary>
    private static GraphKernel MaxPool(OnnxNode node, out QuantizedKernel codes)
    {
        if (node.Outputs.Count > 1 && node.Outputs[1].Length > 0)
            throw new OnnxFormatException($"{node.Label}: the Indices output of MaxPool is not supported.");
        int[] kernel = Ints(node, "kernel_shape", 2, null), strides = Ints(node, "strides", 2, 1), dilations = Ints(node, "dilations", 2, 1);
        int[] pads = Pads(node, kernel, strides, dilations);
        bool ceilMode = node.GetInt("ceil_mode", 0) != 0;
        codes = GraphOps.MaxPoolCodes(kernel, strides, pads, dilations, ceilMode);
        return GraphOps.MaxPool(kernel, strides, pads, dilations, ceilMode);
    }

    /// <summary>An INTS attribute with <paramref name="count"/> entries, or <paramref name="fill"/> repeated when absent.</summary>
    private static int[] Ints(OnnxNode node, string name, int count, int? fill)
    {
        IReadOnlyList<long> values = node.GetInts(name);
        if (values.Count == 0)
            return fill is int f ? Enumerable.Repeat(f, count).ToArray() : throw new OnnxFormatException($"{node.Label} has no attribute '{name}'.");
        if (values.Count != count || values.Any(v => v < 0 || v > int.MaxValue))
            throw new OnnxFormatException($"{node.Label}: {name} must hold {count} non-negative values, not [{string.Join(", ", values)}].");
        return values.Select(v => (int)v).ToArray();
    }

    /// <summary>
    /// Explicit pads [top, left, bottom, right], from <c>pads</c> or from <c>auto_pad</c>: SAME_UPPER/SAME_LOWER
    /// keep the length at stride 1 (the odd padding after, or before, the input); VALID pads nothing.
    /// </summary>
    private static int[] Pads(OnnxNode node, int[] kernel, int[] strides, int[] dilations)
    {
        string autoPad = node.GetString("auto_pad", "NOTSET");
        switch (autoPad)
        {
            case "NOTSET":
                return Ints(node, "pads", 2 * kernel.Length, 0);
            case "VALID":
                return new int[2 * kernel.Length];
            case "SAME_UPPER" or "SAME_LOWER":
                if (strides.Any(s => s != 1))
                    throw new OnnxFormatException($"{node.Label}: auto_pad {autoPad} with a stride above 1 depends on the input size and is not supported.");
                var pads = new int[2 * kernel.Length];
                for (int i = 0; i < kernel.Length; i++)
                {
                    int total = dilations[i] * (kernel[i] - 1);
                    int small = total / 2;
                    pads[i] = autoPad == "SAME_UPPER" ? small : total - small;
                    pads[i + kernel.Length] = total - pads[i];
                }

                return pads;
            default:
                throw new OnnxFormatException($"{node.Label}: auto_pad '{autoPad}' is not valid.");
        }
    }
}
