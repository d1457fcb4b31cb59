using Google.Protobuf;
using Quantization.Graph;
using Quantization.Nn;
using Quantization.Nn.Quantized;
using Quantization.Onnx.Proto;
using Quantization.Workflows;
using DataType = Quantization.Onnx.Proto.TensorProto.Types.DataType;

namespace Quantization.Onnx.Export;

/// <summary>
/// Rewrites the model a <see cref="GraphModule"/> was imported from into ONNX's QDQ form, as ONNX Runtime's
/// quantization tool writes it. For each layer node whose module is a <see cref="QdqLayer"/>:
/// <c>x → QuantizeLinear → DequantizeLinear</c> (u8, the layer's calibrated input parameters) feeds the node; the
/// weights become an s8 initializer behind a <c>DequantizeLinear</c> (per channel along the output channels, or per
/// tensor); the bias becomes int32 at scale <c>input scale · weight scale</c> behind a <c>DequantizeLinear</c> (the
/// values our INT8 kernel adds); and the output passes through <c>QuantizeLinear → DequantizeLinear</c> with the
/// calibrated output parameters. ONNX Runtime fuses each such group into QLinearConv/QGemm, so it runs the same
/// integer computation. A <see cref="DynamicQuantizedLinear"/> exports weight-only: s8 weights behind a
/// <c>DequantizeLinear</c> and a float bias, with FP32 activations (ONNX Runtime then multiplies in FP32; our kernel
/// also quantizes the activations per call). Float layers get the weights their modules hold, batch norms folded by
/// <c>Quantizer.FoldBatchNorms</c> become <c>Identity</c>, and every other node is written as in the original file.
/// </summary>
internal sealed class QdqRewriter
{
    private readonly OnnxModel _original;
    private readonly GraphModule _quantized;
    private readonly GraphProto _graph;
    private readonly ProtoBuilder _names;
    private readonly Dictionary<NodeProto, List<NodeProto>> _before = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<NodeProto, List<NodeProto>> _after = new(ReferenceEqualityComparer.Instance);
    // One QuantizeLinear → DequantizeLinear per activation and parameters, shared by the layers that read it.
    private readonly Dictionary<(string Value, float Scale, int ZeroPoint), string> _dequantized = [];

    private QdqRewriter(OnnxModel original, GraphModule quantized, ModelProto model)
    {
        _original = original;
        _quantized = quantized;
        _graph = model.Graph;
        _names = new ProtoBuilder(_graph);
    }

    public static ModelProto Rewrite(OnnxModel original, GraphModule quantized)
    {
        var model = original.Proto.Clone();
        new QdqRewriter(original, quantized, model).Run(model);
        return model;
    }

    private void Run(ModelProto model)
    {
        var layers = MatchLayers();
        // Match first: the upgrade renames values (Softmax). Upgrade before adding the quantization nodes, which are opset 13 already.
        OpsetUpgrade.Apply(model, _names);
        RequantizeValues(layers);
        foreach (var (node, proto) in layers)
            Export(node, proto, _quantized.GetSubmodule(node.ModuleName!));

        var nodes = new List<NodeProto>();
        foreach (var node in _graph.Node)
        {
            nodes.AddRange(_before.GetValueOrDefault(node) ?? []);
            nodes.Add(node);
            nodes.AddRange(_after.GetValueOrDefault(node) ?? []);
        }

        _graph.Node.Clear();
        _graph.Node.Add(nodes);
        RemoveUnusedConstants();
        InlineExternalData();
        WriteChangedConstants();
    }

    /// <summary>
    /// Float constants the graph module changed (fusions fold a per-channel Mul/Add into a convolution and leave the
    /// node multiplying by one or adding zero) are written with the module's values, so the file computes what it does.
    /// </summary>
    private void WriteChangedConstants()
    {
        foreach (var (name, value) in _quantized.Constants)
        {
            if (_original.Graph.FindConstant(name) is not { ElementType: OnnxElementType.Float } original
                || original.ToTensor().AsSpan().SequenceEqual(value.AsSpan()))
                continue;
            var tensor = ProtoBuilder.Tensor(name, DataType.Float, value.AsSpan(), value.Shape.ToArray().Select(d => (long)d));
            int index = _graph.Initializer.ToList().FindIndex(t => t.Name == name);
            if (index >= 0)
            {
                _graph.Initializer[index] = tensor;
                continue;
            }

            foreach (var node in _graph.Node.Where(n => n.OpType == "Constant" && n.Domain.Length == 0 && n.Output[0] == name))
            {
                node.Attribute.Clear();
                node.Attribute.Add(new AttributeProto { Name = "value", Type = AttributeProto.Types.AttributeType.Tensor, T = tensor });
            }
        }
    }

    /// <summary>
    /// With activations kept INT8 between nodes (<see cref="Int8Plan"/>), every value the graph quantizes anew outside
    /// a layer (an elementwise function of a quantized value, a residual sum, a pooled mean) passes through
    /// QuantizeLinear → DequantizeLinear with its parameters after the node that writes it, so ONNX Runtime reads the
    /// same codes; layers reading it then need no pair of their own.
    /// </summary>
    private void RequantizeValues(List<(GraphNode Node, NodeProto Proto)> layers)
    {
        if (_quantized.Plan is not { } plan || !plan.Matches(_quantized))
            return;
        var layerOutputs = layers.Select(l => l.Node.Outputs[0]).ToHashSet(StringComparer.Ordinal);
        foreach (var (value, qparams) in plan.Requantized)
        {
            if (layerOutputs.Contains(value))
                continue;
            var producer = _graph.Node.First(n => n.Output.Contains(value));
            string raw = _names.Unique($"{value}_f"), q = _names.Unique($"{value}_q");
            producer.Output[producer.Output.IndexOf(value)] = raw;
            string[] parameters = ActivationParams(value, qparams);
            var after = After(producer);
            after.Add(ProtoBuilder.Node("QuantizeLinear", q, [raw, .. parameters], [q]));
            after.Add(ProtoBuilder.Node("DequantizeLinear", value, [q, .. parameters], [value]));
            _dequantized[(value, qparams.Scale, qparams.ZeroPoint)] = value;
        }
    }

    /// <summary>The parameters a quantized layer's input has when it runs: those of a value kept INT8, else the layer's calibrated ones.</summary>
    private QuantParams InputParams(GraphNode node, QdqLayer layer) =>
        _quantized.Plan is { } plan && plan.Matches(_quantized) && plan.Quantized.TryGetValue(node.Inputs[0], out var kept)
            ? kept
            : layer.Quantize.OutputQParams;

    /// <summary>Pairs the graph module's layer nodes with the file's nodes, checking that every node corresponds.</summary>
    private List<(GraphNode Node, NodeProto Proto)> MatchLayers()
    {
        var layers = new List<(GraphNode, NodeProto)>();
        var byOutputs = _graph.Node.Where(n => n.OpType != "Constant" || n.Domain.Length > 0)
            .ToDictionary(n => string.Join('\n', n.Output), StringComparer.Ordinal);
        var mainLayers = new HashSet<string>(StringComparer.Ordinal);
        foreach (GraphNode node in _quantized.Nodes)
        {
            if (!byOutputs.Remove(string.Join('\n', node.Outputs), out var proto) || proto.OpType != node.OpType)
                throw Mismatch($"no node {node.OpType} writes ({string.Join(", ", node.Outputs)})");
            if (node.ModuleName is null)
                continue;
            mainLayers.Add(node.ModuleName);
            layers.Add((node, proto));
        }

        if (byOutputs.Count > 0)
            throw Mismatch($"the graph module has no node for {byOutputs.Values.First().OpType} '{byOutputs.Values.First().Name}'");
        foreach (var (name, module) in _quantized.NamedChildren())
        {
            if (!mainLayers.Contains(name) && module is not (Conv2d or Linear or BatchNorm2d))
                throw new NotSupportedException($"Layer '{name}' ({module.GetType().Name}) is inside a control-flow subgraph; only layers of the main graph can be exported quantized.");
        }

        return layers;
    }

    private ArgumentException Mismatch(string detail) =>
        new($"The graph module was not imported from this model ({detail}); export needs the OnnxModel that ToGraphModule was called on.", "quantized");

    private void Export(GraphNode node, NodeProto proto, Module layer)
    {
        switch (layer)
        {
            case BatchNorm2d:
                return;
            case Conv2d conv when node.OpType == "Conv":
                FloatLayer(proto, conv.Weight.Value, conv.Bias?.Value, WeightLayout.AsIs);
                return;
            case Linear linear when node.OpType is "Gemm" or "MatMul":
                FloatLayer(proto, linear.Weight.Value, linear.Bias?.Value, LinearLayout(proto));
                return;
            case Identity:
                // A batch norm folded into its convolution: the node passes its input on.
                proto.OpType = "Identity";
                proto.Attribute.Clear();
                while (proto.Input.Count > 1)
                    proto.Input.RemoveAt(proto.Input.Count - 1);
                return;
            case QdqLayer { Layer: QuantizedConv2d conv } qdq when node.OpType == "Conv" && ReluExportable(node, conv.Relu, conv.OutputQParams):
                StaticLayer(proto, InputParams(node, qdq), conv.Weight, conv.Bias, conv.OutputQParams, WeightLayout.AsIs);
                return;
            case QdqLayer { Layer: QuantizedLinear linear } qdq when node.OpType is "Gemm" or "MatMul" && ReluExportable(node, linear.Relu, linear.OutputQParams):
                StaticLayer(proto, InputParams(node, qdq), linear.Weight, linear.Bias, linear.OutputQParams, LinearLayout(proto));
                return;
            case DynamicQuantizedLinear { Relu: false } linear when node.OpType is "Gemm" or "MatMul":
                DynamicLayer(proto, linear);
                return;
            case ObservedModule:
                throw new ArgumentException($"Layer '{node.ModuleName}' is still being observed: call Quantizer.Convert before exporting.", "quantized");
            default:
                throw new NotSupportedException($"Layer '{node.ModuleName}' of node {node.OpType} '{node.Name}' is a {layer}, which cannot be exported; exported are QdqLayer (Quantizer.Prepare with perLayer: true, then Convert) around QuantizedConv2d or QuantizedLinear, DynamicQuantizedLinear (without fused ReLUs), and float layers.");
        }
    }

    /// <summary>
    /// A fused ReLU needs nothing of its own in the file when the output's zero point is 0 (QuantizeLinear saturates
    /// negative values to it, as the kernel's clamp does) or when the graph's own Relu node still reads the output
    /// (fusions of imported graphs keep it, applying it to values already clamped).
    /// </summary>
    private bool ReluExportable(GraphNode node, bool relu, QuantParams output) =>
        !relu || output.ZeroPoint == 0 || _quantized.Nodes.Any(n => n.OpType == "Relu" && n.Inputs.Count == 1 && n.Inputs[0] == node.Outputs[0]);

    /// <summary>How the s8 weights [out, in] are laid out for the node: Conv as they are (with the file's rank), Gemm as [N, K] with transB, MatMul transposed to [K, N].</summary>
    private enum WeightLayout
    {
        AsIs,
        Rows,
        Transposed,
    }

    private static WeightLayout LinearLayout(NodeProto node) => node.OpType == "MatMul" ? WeightLayout.Transposed : WeightLayout.Rows;

    private void StaticLayer(NodeProto node, QuantParams input, QuantizedTensor weight, Tensor? bias, QuantParams output, WeightLayout layout)
    {
        var before = Before(node);
        node.Input[0] = Dequantized(node.Input[0], input, before);
        node.Input[1] = Weight(node, weight, layout, before);
        SetBias(node, bias is null ? null : Int32Bias(node, bias, input.Scale, weight, before));

        string y = node.Output[0], raw = _names.Unique($"{y}_f");
        node.Output[0] = raw;
        var after = After(node);
        string q = _names.Unique($"{y}_q");
        string[] parameters = ActivationParams(y, output);
        after.Add(ProtoBuilder.Node("QuantizeLinear", q, [raw, .. parameters], [q]));
        after.Add(ProtoBuilder.Node("DequantizeLinear", y, [q, .. parameters], [y]));
        // y is dequantized already: a layer reading it with the same parameters would requantize to the same codes.
        _dequantized[(y, output.Scale, output.ZeroPoint)] = y;
    }

    private void DynamicLayer(NodeProto node, DynamicQuantizedLinear linear)
    {
        var layout = LinearLayout(node);
        node.Input[1] = Weight(node, linear.Weight, layout, Before(node));
        SetBias(node, linear.Bias is null ? null : Add(ProtoBuilder.Vector(_names.Unique($"{node.Output[0]}_bias"), DataType.Float, linear.Bias.AsSpan().ToArray())));
    }

    /// <summary>The activation <paramref name="x"/> through QuantizeLinear → DequantizeLinear with u8 <paramref name="qparams"/>.</summary>
    private string Dequantized(string x, QuantParams qparams, List<NodeProto> before)
    {
        if (_dequantized.TryGetValue((x, qparams.Scale, qparams.ZeroPoint), out string? done))
            return done;
        string[] parameters = ActivationParams(x, qparams);
        string q = _names.Unique($"{x}_q"), dq = _names.Unique($"{x}_dq");
        before.Add(ProtoBuilder.Node("QuantizeLinear", q, [x, .. parameters], [q]));
        before.Add(ProtoBuilder.Node("DequantizeLinear", dq, [q, .. parameters], [dq]));
        _dequantized[(x, qparams.Scale, qparams.ZeroPoint)] = dq;
        return dq;
    }

    /// <summary>Scalar scale (float) and zero point (u8) initializers for an activation.</summary>
    private string[] ActivationParams(string value, QuantParams qparams) =>
    [
        Add(ProtoBuilder.Vector(_names.Unique($"{value}_s"), DataType.Float, [qparams.Scale], scalar: true)),
        Add(ProtoBuilder.Vector(_names.Unique($"{value}_zp"), DataType.Uint8, [(byte)qparams.ZeroPoint], scalar: true)),
    ];

    /// <summary>The s8 weights as an initializer behind a DequantizeLinear; returns the dequantized value's name.</summary>
    private string Weight(NodeProto node, QuantizedTensor weight, WeightLayout layout, List<NodeProto> before)
    {
        string stem = node.Input[1];
        var (data, dims) = Arrange(node, weight.AsInt8Span(), weight.Shape[0], layout);
        string q = Add(ProtoBuilder.Tensor<sbyte>(_names.Unique($"{stem}_q"), DataType.Int8, data, dims));
        var qp = weight.QParams;
        float[] scales = qp.IsPerChannel ? qp.Scales.ToArray() : [qp.Scale];
        sbyte[] zeroPoints = (qp.IsPerChannel ? qp.ZeroPoints.ToArray() : [qp.ZeroPoint]).Select(z => (sbyte)z).ToArray();
        // The zero points are written even when 0: ONNX Runtime fuses Gemm into QGemm only with them present.
        string[] inputs =
        [
            q,
            Add(ProtoBuilder.Vector(_names.Unique($"{stem}_s"), DataType.Float, scales, scalar: !qp.IsPerChannel)),
            Add(ProtoBuilder.Vector(_names.Unique($"{stem}_zp"), DataType.Int8, zeroPoints, scalar: !qp.IsPerChannel)),
        ];
        AttributeProto[] attributes = qp.IsPerChannel ? [ProtoBuilder.Int("axis", layout == WeightLayout.Transposed ? 1 : 0)] : [];
        string dq = _names.Unique($"{stem}_dq");
        before.Add(ProtoBuilder.Node("DequantizeLinear", dq, inputs, [dq], attributes));
        return dq;
    }

    /// <summary>
    /// A float layer with the weights and bias its module holds (they differ from the file's after
    /// <c>Quantizer.FoldBatchNorms</c>, and Gemm's alpha and beta were folded in at import).
    /// </summary>
    private void FloatLayer(NodeProto node, Tensor weight, Tensor? bias, WeightLayout layout)
    {
        var (data, dims) = Arrange(node, weight.AsSpan(), weight.Shape[0], layout);
        node.Input[1] = Add(ProtoBuilder.Tensor<float>(_names.Unique($"{node.Input[1]}_weights"), DataType.Float, data, dims));
        SetBias(node, bias is null ? null : Add(ProtoBuilder.Vector(_names.Unique($"{node.Output[0]}_bias"), DataType.Float, bias.AsSpan().ToArray())));
    }

    /// <summary>Weights [out, in...] in the node's layout, with their dims; sets Gemm's attributes to match.</summary>
    private (T[] Data, IEnumerable<long> Dims) Arrange<T>(NodeProto node, ReadOnlySpan<T> weights, int rows, WeightLayout layout)
    {
        int cols = weights.Length / rows;
        switch (layout)
        {
            case WeightLayout.AsIs:
                // A 1-D convolution ran as a 1 x k kernel; the file's rank is kept.
                return (weights.ToArray(), _original.Graph.FindConstant(node.Input[1])!.Dims);
            case WeightLayout.Rows:
                SetGemmAttributes(node);
                return (weights.ToArray(), [rows, cols]);
            default:
                var data = new T[weights.Length];
                for (int r = 0; r < rows; r++)
                {
                    for (int c = 0; c < cols; c++)
                        data[c * rows + r] = weights[r * cols + c];
                }

                return (data, [cols, rows]);
        }
    }

    /// <summary>Gemm reads the weights as [N, K] (transB), with alpha and beta folded into the weights and bias at import.</summary>
    private static void SetGemmAttributes(NodeProto node)
    {
        foreach (var a in node.Attribute.Where(a => a.Name is "alpha" or "beta" or "transB").ToList())
            node.Attribute.Remove(a);
        node.Attribute.Add(ProtoBuilder.Int("transB", 1));
    }

    /// <summary>
    /// The bias as int32 at scale <c>sa · sw[n]</c> (rounded half to even and saturated, as our output stage and ONNX
    /// Runtime's quantizer compute it) behind a DequantizeLinear, per channel when the weights are.
    /// </summary>
    private string Int32Bias(NodeProto node, Tensor bias, float inputScale, QuantizedTensor weight, List<NodeProto> before)
    {
        var qp = weight.QParams;
        float[] scales = qp.IsPerChannel ? qp.Scales.ToArray().Select(s => inputScale * s).ToArray() : [inputScale * qp.Scale];
        ReadOnlySpan<float> b = bias.AsSpan();
        var codes = new int[b.Length];
        for (int j = 0; j < codes.Length; j++)
            codes[j] = (int)Math.Clamp(Math.Round(b[j] / (double)scales[qp.IsPerChannel ? j : 0], MidpointRounding.ToEven), int.MinValue, int.MaxValue);

        string stem = _names.Unique($"{node.Output[0]}_bias");
        string q = Add(ProtoBuilder.Vector(_names.Unique($"{stem}_q"), DataType.Int32, codes));
        string scale = Add(ProtoBuilder.Vector(_names.Unique($"{stem}_s"), DataType.Float, scales, scalar: !qp.IsPerChannel));
        string dq = _names.Unique($"{stem}_dq");
        AttributeProto[] attributes = qp.IsPerChannel ? [ProtoBuilder.Int("axis", 0)] : [];
        before.Add(ProtoBuilder.Node("DequantizeLinear", dq, [q, scale], [dq], attributes));
        return dq;
    }

    /// <summary>Sets (or removes) the node's third input, the bias of Conv and Gemm.</summary>
    private static void SetBias(NodeProto node, string? bias)
    {
        while (node.Input.Count > 2)
            node.Input.RemoveAt(node.Input.Count - 1);
        if (bias is not null)
            node.Input.Add(bias);
    }

    private string Add(TensorProto tensor)
    {
        _graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    private List<NodeProto> Before(NodeProto node) => _before.TryGetValue(node, out var list) ? list : _before[node] = [];

    private List<NodeProto> After(NodeProto node) => _after.TryGetValue(node, out var list) ? list : _after[node] = [];

    /// <summary>Drops the float weights nothing reads any more (initializers, and <c>Constant</c> nodes of the main graph).</summary>
    private void RemoveUnusedConstants()
    {
        var read = new HashSet<string>(_graph.Output.Select(o => o.Name), StringComparer.Ordinal);
        ProtoBuilder.AddReads(_graph, read);
        foreach (var t in _graph.Initializer.Where(t => !read.Contains(t.Name)).ToList())
        {
            _graph.Initializer.Remove(t);
            // Before IR 4 initializers were also listed as graph inputs.
            if (_graph.Input.FirstOrDefault(i => i.Name == t.Name) is { } input)
                _graph.Input.Remove(input);
        }

        foreach (var node in _graph.Node.Where(n => n.OpType == "Constant" && n.Domain.Length == 0 && !read.Contains(n.Output[0])).ToList())
            _graph.Node.Remove(node);
    }

    /// <summary>Writes the data of external initializers into the model: their paths are relative to the original file's folder.</summary>
    private void InlineExternalData()
    {
        foreach (var t in _graph.Initializer.Where(t => t.DataLocation == TensorProto.Types.DataLocation.External))
        {
            t.RawData = ByteString.CopyFrom(_original.Graph.Initializers[t.Name].ToRawBytes());
            t.ExternalData.Clear();
            t.ClearDataLocation();
        }
    }
}
