using Quantization.Onnx.Proto;
using DataType = Quantization.Onnx.Proto.TensorProto.Types.DataType;

namespace Quantization.Onnx.Export;

/// <summary>
/// Raises a model's standard opset to <see cref="Target"/> (13: the first with per-channel
/// <c>QuantizeLinear</c>/<c>DequantizeLinear</c>), rewriting the operators whose meaning changed on the way.
/// </summary>
/// <remarks>
/// Only the operators the graph importer accepts can reach here (export needs an imported graph); among those, these
/// changed between opsets 9 and 13: Clip (11: min/max became inputs), Slice (10: starts/ends/axes became inputs),
/// Pad (11: pads/value became inputs), Squeeze/Unsqueeze (13: axes became an input), Resize (11: roi input and
/// coordinate modes; opset 10's behaviour is asymmetric coordinates with floor rounding) and Softmax (13: one axis
/// instead of flattening to 2-D at the axis). The others (Conv, Gemm, BatchNormalization, pooling, elementwise, shape
/// operators, LSTM, If...) mean the same at 13. ONNX Runtime's tool moves opsets below 10 to 11 by changing only the
/// version number (<c>check_opset_version</c> in onnx_quantizer.py), which leaves such operators invalid or changes
/// what they compute; this rewrites them instead.
/// </remarks>
internal static class OpsetUpgrade
{
    public const long Target = 13;

    // Opset 13 needs IR version 7.
    private const long MinIrVersion = 7;

    public static void Apply(ModelProto model, ProtoBuilder names)
    {
        var standard = model.OpsetImport.First(o => o.Domain is "" or "ai.onnx");
        if (standard.Version >= Target)
            return;
        long from = standard.Version;
        standard.Version = Target;
        model.IrVersion = Math.Max(model.IrVersion, MinIrVersion);
        Upgrade(model.Graph, from, names);
    }

    private static void Upgrade(GraphProto graph, long from, ProtoBuilder names)
    {
        var nodes = new List<NodeProto>(graph.Node.Count);
        foreach (var node in graph.Node)
        {
            foreach (var sub in ProtoBuilder.Subgraphs(node))
                Upgrade(sub, from, names);
            if (node.Domain is "" or "ai.onnx")
                nodes.AddRange(Rewrite(node, from, graph, names));
            else
                nodes.Add(node);
        }

        graph.Node.Clear();
        graph.Node.Add(nodes);
    }

    private static IEnumerable<NodeProto> Rewrite(NodeProto node, long from, GraphProto graph, ProtoBuilder names)
    {
        switch (node.OpType)
        {
            case "Clip" when from < 11:
                // Opset 6 clamps to the float extremes when min or max is absent; an omitted input means the same now.
                node.Input.Add(FloatInput(graph, names, node, "min"));
                node.Input.Add(FloatInput(graph, names, node, "max"));
                TrimOmitted(node);
                break;
            case "Slice" when from < 10:
                foreach (string attribute in new[] { "starts", "ends", "axes" })
                    node.Input.Add(Take(node, attribute) is { } a ? Int64s(graph, names, node, attribute, a.Ints.ToArray()) : "");
                TrimOmitted(node);
                break;
            case "Pad" when from < 11:
                node.Input.Add(Int64s(graph, names, node, "pads", Take(node, "pads")!.Ints.ToArray()));
                node.Input.Add(FloatInput(graph, names, node, "value"));
                TrimOmitted(node);
                break;
            case "Squeeze" or "Unsqueeze":
                if (Take(node, "axes") is { } axes)
                    node.Input.Add(Int64s(graph, names, node, "axes", axes.Ints.ToArray()));
                break;
            case "Resize" when from < 11:
                // Opset 10: (X, scales), asymmetric coordinates, nearest rounds down; opset 11 reads (X, roi, scales).
                node.Input.Insert(1, "");
                node.Attribute.Add(ProtoBuilder.String("coordinate_transformation_mode", "asymmetric"));
                node.Attribute.Add(ProtoBuilder.String("nearest_mode", "floor"));
                break;
            case "Softmax":
                return Softmax(node, names);
        }

        return [node];
    }

    /// <summary>
    /// Softmax before 13 flattens the input to 2-D at <c>axis</c> (default 1) and normalizes the second dimension;
    /// axis -1 means the same at 13, any other axis becomes Flatten → Softmax(-1) → Reshape to the input's shape.
    /// </summary>
    private static IEnumerable<NodeProto> Softmax(NodeProto node, ProtoBuilder names)
    {
        long axis = Take(node, "axis")?.I ?? 1;
        node.Attribute.Add(ProtoBuilder.Int("axis", -1));
        if (axis == -1)
            return [node];
        string x = node.Input[0], y = node.Output[0];
        string shape = names.Unique($"{x}_shape"), flat = names.Unique($"{x}_2d"), normalized = names.Unique($"{y}_2d");
        node.Input[0] = flat;
        node.Output[0] = normalized;
        return
        [
            ProtoBuilder.Node("Shape", names.Unique($"{node.Name}_shape"), [x], [shape]),
            ProtoBuilder.Node("Flatten", names.Unique($"{node.Name}_flatten"), [x], [flat], ProtoBuilder.Int("axis", axis)),
            node,
            ProtoBuilder.Node("Reshape", names.Unique($"{node.Name}_reshape"), [normalized, shape], [y]),
        ];
    }

    /// <summary>Removes and returns the attribute, or null if the node does not have it.</summary>
    private static AttributeProto? Take(NodeProto node, string name)
    {
        var attribute = node.Attribute.FirstOrDefault(a => a.Name == name);
        if (attribute is not null)
            node.Attribute.Remove(attribute);
        return attribute;
    }

    /// <summary>A float attribute moved to a scalar initializer input, or an omitted input if the node does not have it.</summary>
    private static string FloatInput(GraphProto graph, ProtoBuilder names, NodeProto node, string attribute) =>
        Take(node, attribute) is { } a ? Initializer(graph, ProtoBuilder.Vector(names.Unique($"{node.Output[0]}_{attribute}"), DataType.Float, [a.F], scalar: true)) : "";

    private static string Int64s(GraphProto graph, ProtoBuilder names, NodeProto node, string what, long[] values) =>
        Initializer(graph, ProtoBuilder.Vector(names.Unique($"{node.Output[0]}_{what}"), DataType.Int64, values));

    private static string Initializer(GraphProto graph, TensorProto tensor)
    {
        graph.Initializer.Add(tensor);
        return tensor.Name;
    }

    /// <summary>Drops trailing omitted inputs, which ONNX allows to be left out.</summary>
    private static void TrimOmitted(NodeProto node)
    {
        while (node.Input.Count > 0 && node.Input[^1].Length == 0)
            node.Input.RemoveAt(node.Input.Count - 1);
    }
}
