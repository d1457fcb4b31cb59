using System.Runtime.InteropServices;
using Google.Protobuf;
using Quantization.Onnx.Proto;
using DataType = Quantization.Onnx.Proto.TensorProto.Types.DataType;

namespace Quantization.Onnx.Export;

/// <summary>
/// Turns a QDQ model into QOperator form where an integer operator computes the same thing: each
/// <c>DequantizeLinear</c> (activation, weights, int32 bias) → Conv/MatMul → <c>QuantizeLinear</c> group becomes one
/// QLinearConv or QLinearMatMul reading the codes, and a <c>QuantizeLinear</c> that requantizes a dequantized value
/// with its own parameters is dropped (its readers take the codes). The float nodes in between (activation functions,
/// residual sums, pooling) stay as they are, between <c>DequantizeLinear</c> and <c>QuantizeLinear</c>.
/// </summary>
/// <remarks>
/// A group is folded only when the file says exactly what the integer operator computes: activation parameters are
/// scalar initializers, the weights an s8/u8 initializer with per-tensor or per-output-channel parameters, the bias
/// an int32 initializer at scale <c>input scale · weight scale</c>, and the float result read by nothing but the one
/// <c>QuantizeLinear</c>. Anything else keeps its QDQ form.
/// </remarks>
internal sealed class QOperatorFolding
{
    private readonly GraphProto _graph;
    private readonly Dictionary<string, TensorProto> _initializers;
    private readonly Dictionary<string, NodeProto> _producers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _reads = new(StringComparer.Ordinal);
    // Graph outputs and values the subgraphs of control-flow nodes read: these keep their names and producers.
    private readonly HashSet<string> _pinned;

    private QOperatorFolding(GraphProto graph)
    {
        _graph = graph;
        _initializers = graph.Initializer.ToDictionary(t => t.Name, StringComparer.Ordinal);
        _pinned = graph.Output.Select(o => o.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (string output in node.Output)
                _producers[output] = node;
        }

        foreach (var node in graph.Node)
        {
            foreach (string input in node.Input)
                _reads[input] = _reads.GetValueOrDefault(input) + 1;
            foreach (var sub in ProtoBuilder.Subgraphs(node))
                ProtoBuilder.AddReads(sub, _pinned);
        }
    }

    /// <summary>Folds the main graph of <paramref name="model"/> in place.</summary>
    public static void Apply(ModelProto model)
    {
        var folding = new QOperatorFolding(model.Graph);
        folding.FoldLayers();
        folding.DropIdentities();
        folding.DropRequantization();
        folding.RemoveDeadNodes();
        folding.ShareInitializers();
    }

    private void FoldLayers()
    {
        for (int i = 0; i < _graph.Node.Count; i++)
        {
            var node = _graph.Node[i];
            if (node.Domain.Length == 0 && node.OpType is "Conv" or "MatMul" && TryFold(node) is { } folded)
                _graph.Node[i] = folded;
        }
    }

    private NodeProto? TryFold(NodeProto node)
    {
        bool conv = node.OpType == "Conv";
        if (!(conv ? node.Input.Count is 2 or 3 : node.Input.Count == 2)
            || Dequantize(node.Input[0]) is not { } x || !IsScalarParams(x)
            || Dequantize(node.Input[1]) is not { } w || !IsWeight(w, conv ? 0 : 1)
            || SoleReader(node.Output[0]) is not { OpType: "QuantizeLinear" } q || !IsScalarParams(q))
            return null;
        string? bias = null;
        if (node.Input.Count == 3)
        {
            if (Dequantize(node.Input[2]) is not { } b || !IsBias(b, x, w))
                return null;
            bias = b.Input[0];
        }

        var folded = ProtoBuilder.Node(conv ? "QLinearConv" : "QLinearMatMul", node.Name,
            [x.Input[0], x.Input[1], x.Input[2], w.Input[0], w.Input[1], w.Input[2], q.Input[1], q.Input[2], .. bias is null ? [] : new[] { bias }],
            [q.Output[0]]);
        folded.Attribute.Add(node.Attribute);
        _producers[q.Output[0]] = folded;
        _graph.Node.Remove(q);
        return folded;
    }

    /// <summary>A <c>QuantizeLinear</c> of a <c>DequantizeLinear</c>'s output with the same parameters gives back its codes.</summary>
    private void DropRequantization()
    {
        var renamed = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var q in _graph.Node.Where(n => n.OpType == "QuantizeLinear" && n.Domain.Length == 0).ToList())
        {
            if (_pinned.Contains(q.Output[0])
                || Dequantize(q.Input[0]) is not { } dq || !IsScalarParams(q) || !IsScalarParams(dq)
                || !SameScalar(q.Input[1], dq.Input[1]) || !SameScalar(q.Input[2], dq.Input[2])
                || _initializers[q.Input[2]].DataType != _initializers[dq.Input[2]].DataType)
                continue;
            renamed[q.Output[0]] = dq.Input[0];
            _graph.Node.Remove(q);
        }

        Rename(renamed);
    }

    /// <summary>Readers of an <c>Identity</c> (a batch norm folded into its convolution) read its input instead.</summary>
    private void DropIdentities()
    {
        var renamed = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var node in _graph.Node.Where(n => n.OpType == "Identity" && n.Domain.Length == 0 && !_pinned.Contains(n.Output[0])).ToList())
        {
            renamed[node.Output[0]] = renamed.GetValueOrDefault(node.Input[0]) ?? node.Input[0];
            _graph.Node.Remove(node);
        }

        Rename(renamed);
    }

    /// <summary>
    /// Initializers with the same type, shape and contents (the zero weight zero points of layers with as many
    /// channels, activation zero points, scales of values that keep their input's parameters) are written once.
    /// </summary>
    private void ShareInitializers()
    {
        var first = new Dictionary<(int, string, ByteString), string>();
        var renamed = new Dictionary<string, string>(StringComparer.Ordinal);
        var read = new HashSet<string>(_pinned, StringComparer.Ordinal);
        ProtoBuilder.AddReads(_graph, read);
        foreach (var t in _graph.Initializer.ToList())
        {
            if (!read.Contains(t.Name) || _pinned.Contains(t.Name))
            {
                if (!read.Contains(t.Name))
                    _graph.Initializer.Remove(t);
                continue;
            }

            if (t.RawData.Length == 0)
                continue;
            if (first.TryAdd((t.DataType, string.Join(',', t.Dims), t.RawData), t.Name))
                continue;
            renamed[t.Name] = first[(t.DataType, string.Join(',', t.Dims), t.RawData)];
            _graph.Initializer.Remove(t);
        }

        Rename(renamed);
    }

    private void Rename(Dictionary<string, string> renamed)
    {
        foreach (var node in _graph.Node)
        {
            for (int i = 0; i < node.Input.Count; i++)
            {
                if (renamed.TryGetValue(node.Input[i], out string? name))
                    node.Input[i] = name;
            }
        }
    }

    /// <summary>Removes the quantization nodes nothing reads any more.</summary>
    private void RemoveDeadNodes()
    {
        bool removed;
        do
        {
            var read = new HashSet<string>(_pinned, StringComparer.Ordinal);
            ProtoBuilder.AddReads(_graph, read);
            var dead = _graph.Node.Where(n => n.OpType is "QuantizeLinear" or "DequantizeLinear" && n.Domain.Length == 0 && !n.Output.Any(read.Contains)).ToList();
            foreach (var node in dead)
                _graph.Node.Remove(node);
            removed = dead.Count > 0;
        }
        while (removed);
    }

    /// <summary>The <c>DequantizeLinear</c> (with an explicit zero point, or an int32 bias without) that writes <paramref name="value"/>.</summary>
    private NodeProto? Dequantize(string value) =>
        _producers.GetValueOrDefault(value) is { OpType: "DequantizeLinear", Domain.Length: 0 } dq
        && dq.Input.Count is 2 or 3 && dq.Input.Skip(1).All(_initializers.ContainsKey)
            ? dq
            : null;

    private NodeProto? SoleReader(string value)
    {
        if (_pinned.Contains(value) || _reads.GetValueOrDefault(value) != 1)
            return null;
        return _graph.Node.FirstOrDefault(n => n.Input.Contains(value));
    }

    /// <summary>Scalar float scale and 8-bit zero point initializers.</summary>
    private bool IsScalarParams(NodeProto node) =>
        node.Input.Count == 3 && node.Input.Skip(1).All(_initializers.ContainsKey)
        && _initializers[node.Input[1]] is { Dims.Count: 0, DataType: (int)DataType.Float }
        && _initializers[node.Input[2]] is { Dims.Count: 0, DataType: (int)DataType.Uint8 or (int)DataType.Int8 };

    /// <summary>8-bit weights in an initializer, with per-tensor parameters or per-channel ones along <paramref name="channelAxis"/>.</summary>
    private bool IsWeight(NodeProto dq, int channelAxis)
    {
        if (dq.Input.Count != 3 || !_initializers.TryGetValue(dq.Input[0], out var weights)
            || weights.DataType is not ((int)DataType.Int8 or (int)DataType.Uint8) || weights.Dims.Count < 2)
            return false;
        var (scale, zeroPoint) = (_initializers[dq.Input[1]], _initializers[dq.Input[2]]);
        if (scale.DataType != (int)DataType.Float || zeroPoint.DataType != weights.DataType)
            return false;
        if (scale.Dims.Count == 0 && zeroPoint.Dims.Count == 0)
            return true;
        long channels = weights.Dims[channelAxis];
        long axis = dq.Attribute.FirstOrDefault(a => a.Name == "axis")?.I ?? 1;
        return axis == channelAxis && scale.Dims is [var s] && s == channels && zeroPoint.Dims is [var z] && z == channels;
    }

    /// <summary>An int32 bias whose scale is the input scale times the weight scale, channel by channel, as QLinearConv takes it.</summary>
    private bool IsBias(NodeProto dq, NodeProto x, NodeProto w)
    {
        if (dq.Input.Count != 2 || !_initializers.TryGetValue(dq.Input[0], out var bias) || bias.DataType != (int)DataType.Int32)
            return false;
        float inputScale = Floats(_initializers[x.Input[1]])[0];
        float[] weightScales = Floats(_initializers[w.Input[1]]), biasScales = Floats(_initializers[dq.Input[1]]);
        if (biasScales.Length != weightScales.Length)
            return false;
        for (int j = 0; j < biasScales.Length; j++)
        {
            if (biasScales[j] != inputScale * weightScales[j])
                return false;
        }

        return true;
    }

    private bool SameScalar(string a, string b) =>
        a == b || _initializers[a].RawData.Length > 0 && _initializers[a].RawData.Equals(_initializers[b].RawData);

    private static float[] Floats(TensorProto t) =>
        t.RawData.Length > 0 ? MemoryMarshal.Cast<byte, float>(t.RawData.Span).ToArray() : t.FloatData.ToArray();
}
