using System.Numerics.Tensors;
using Quantization.Graph;
using Quantization.Nn;
using Quantization.Nn.Intrinsic;
using Quantization.Workflows;

namespace Quantization.Onnx.Quantize;

/// <summary>
/// A layer node with what follows it and can be computed by the layer itself: a <c>BatchNormalization</c> node that
/// alone reads a convolution's output and <c>Mul</c>/<c>Add</c> nodes by per-channel constants (folded into the
/// weights and bias, as ONNX Runtime's Conv+BN/Mul/Add fusions do), then a <c>Relu</c> node (the kernel clamps at
/// zero). Each step must be the only reader of the value before it. Quantizing the fused layer puts the output range
/// where the next node reads it: a range taken before a per-channel scale would be stretched again channel by
/// channel, and one taken before the ReLU spends half its levels on values the ReLU discards.
/// </summary>
/// <param name="Layer">The layer's module name.</param>
/// <param name="BatchNorm">The module name of the batch norm folded in, or null.</param>
/// <param name="Affine">The constants of the <c>Mul</c> (true) and <c>Add</c> (false) nodes folded in, in order.</param>
/// <param name="Relu">Whether a ReLU follows.</param>
internal sealed record GraphFusion(string Layer, string? BatchNorm, IReadOnlyList<(string Constant, bool Multiply)> Affine, bool Relu)
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
            var affine = new List<(string, bool)>();
            if (graph.GetSubmodule(name) is Conv2d conv)
            {
                if (SoleReader(value) is { ModuleName: { } b } norm && norm.Inputs[0] == value && graph.GetSubmodule(b) is BatchNorm2d)
                    (bn, value) = (b, norm.Outputs[0]);
                while (SoleReader(value) is { OpType: "Mul" or "Add" } op && op.Inputs.Count == 2 && op.Inputs.Contains(value)
                    && op.Inputs.FirstOrDefault(i => i != value) is { } constant && IsChannelConstant(constant, conv.OutChannels))
                {
                    affine.Add((constant, op.OpType == "Mul"));
                    value = op.Outputs[0];
                }
            }

            bool relu = SoleReader(value) is { OpType: "Relu" };
            if (bn is not null || affine.Count > 0 || relu)
                fusions.Add(new GraphFusion(name, bn, affine, relu));
        }

        return fusions;

        GraphNode? SoleReader(string value) =>
            !graph.OutputNames.Contains(value) && readers[value].ToList() is [var reader] ? reader : null;

        // A scalar or a [C, 1, 1] / [1, C, 1, 1] constant that no other node reads.
        bool IsChannelConstant(string name, int channels) =>
            graph.Constants.TryGetValue(name, out var c) && readers[name].Count() == 1
            && (c.Length == 1 || c.Length == channels && c.Rank is 3 or 4 && c.Shape[^3] == channels);
    }

    /// <summary>The fused float layer, built from the graph's current modules (which are not changed).</summary>
    public Module Build(GraphModule graph)
    {
        Module layer = graph.GetSubmodule(Layer);
        if (BatchNorm is not null)
            layer = BatchNormFolding.Fold((Conv2d)layer, (BatchNorm2d)graph.GetSubmodule(BatchNorm));
        if (Affine.Count > 0)
            layer = FoldAffine((Conv2d)layer, graph);
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
        // The Mul and Add nodes stay too; multiplying by one and adding zero leaves the folded values as they are.
        foreach (var (constant, multiply) in Affine)
            graph.Constants[constant].AsSpan().Fill(multiply ? 1f : 0f);
    }

    /// <summary>A new Conv2d computing <c>conv(x)</c> followed by the Mul/Add constants: per output channel c, <c>w' = w · s[c]</c>, <c>b' = b · s[c] + t[c]</c>.</summary>
    private Conv2d FoldAffine(Conv2d conv, GraphModule graph)
    {
        var g = conv.Geometry;
        var folded = new Conv2d(g.InChannels, g.OutChannels, (g.KernelH, g.KernelW), (g.StrideH, g.StrideW),
            (g.PadTop, g.PadLeft, g.PadBottom, g.PadRight), (g.DilationH, g.DilationW), g.Groups, bias: true);
        var weight = folded.Weight.Value.AsSpan();
        var bias = folded.Bias!.Value.AsSpan();
        conv.Weight.Value.AsSpan().CopyTo(weight);
        conv.Bias?.Value.AsSpan().CopyTo(bias);
        int perChannel = weight.Length / g.OutChannels;
        foreach (var (name, multiply) in Affine)
        {
            var constant = graph.Constants[name].AsSpan();
            for (int c = 0; c < g.OutChannels; c++)
            {
                float v = constant[constant.Length == 1 ? 0 : c];
                if (multiply)
                {
                    TensorPrimitives.Multiply(weight.Slice(c * perChannel, perChannel), v, weight.Slice(c * perChannel, perChannel));
                    bias[c] *= v;
                }
                else
                {
                    bias[c] += v;
                }
            }
        }

        return folded;
    }
}
