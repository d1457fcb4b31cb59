using Quantization.Graph;
using Quantization.Nn;
using Quantization.Nn.Intrinsic;
using Quantization.Workflows;

namespace Quantization.Onnx.Quantize;

/// <summary>
/// A layer node with what follows it and can be computed by the layer itself: a <c>BatchNormalization</c> node that
/// alone reads a convolution's output (folded into the weights), then a <c>Relu</c> node that alone reads the result
/// (the kernel clamps at zero). Quantizing the fused layer puts the output range where the next node reads it: a
/// range taken before the batch norm would be stretched again channel by channel, and one taken before the ReLU
/// spends half its levels on values the ReLU discards.
/// </summary>
/// <param name="Layer">The layer's module name.</param>
/// <param name="BatchNorm">The module name of the batch norm folded in, or null.</param>
/// <param name="Relu">Whether a ReLU follows.</param>
internal sealed record GraphFusion(string Layer, string? BatchNorm, bool Relu)
{
    /// <summary>The fusions the graph's structure allows for its Conv2d and Linear layers (graph outputs are never fused away).</summary>
    public static List<GraphFusion> Find(GraphModule graph)
    {
        var readers = graph.Nodes.SelectMany(n => n.Inputs.Concat(n.CapturedNames).Select(value => (value, n))).ToLookup(r => r.value, r => r.n);
        var fusions = new List<GraphFusion>();
        foreach (var node in graph.Nodes)
        {
            if (node.ModuleName is not { } name || graph.GetSubmodule(name) is not (Conv2d or Linear) || node.Outputs.Count != 1)
                continue;
            string value = node.Outputs[0];
            string? bn = null;
            if (graph.GetSubmodule(name) is Conv2d && SoleReader(value) is { ModuleName: { } b } norm && norm.Inputs[0] == value && graph.GetSubmodule(b) is BatchNorm2d)
                (bn, value) = (b, norm.Outputs[0]);
            bool relu = SoleReader(value) is { OpType: "Relu" };
            if (bn is not null || relu)
                fusions.Add(new GraphFusion(name, bn, relu));
        }

        return fusions;

        GraphNode? SoleReader(string value) =>
            !graph.OutputNames.Contains(value) && readers[value].ToList() is [var reader] ? reader : null;
    }

    /// <summary>The fused float layer, built from the graph's current modules (which are not changed).</summary>
    public Module Build(GraphModule graph)
    {
        Module layer = graph.GetSubmodule(Layer);
        if (BatchNorm is not null)
            layer = BatchNormFolding.Fold((Conv2d)layer, (BatchNorm2d)graph.GetSubmodule(BatchNorm));
        if (!Relu)
            return layer;
        return layer is Conv2d conv ? new ConvReLU2d(conv, new ReLU()) : new LinearReLU((Linear)layer, new ReLU());
    }

    /// <summary>
    /// Replaces the layer by its fused form and the batch norm by <see cref="Identity"/>. The ReLU node stays and
    /// passes the already clamped values through, so the graph computes what it did (up to the folding's rounding).
    /// </summary>
    public void Apply(GraphModule graph)
    {
        var fused = Build(graph);
        graph.SetSubmodule(Layer, fused);
        if (BatchNorm is not null)
            graph.SetSubmodule(BatchNorm, new Identity());
    }
}
