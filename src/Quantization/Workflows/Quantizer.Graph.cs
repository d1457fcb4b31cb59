using Quantization.Graph;
using Quantization.Nn;

namespace Quantization.Workflows;

public static partial class Quantizer
{
    /// <summary>
    /// Folds each batch norm of <paramref name="graph"/> that reads a convolution's output, when nothing else reads
    /// that output, into the convolution (<see cref="FuseModules"/> on the pair: the convolution takes the folded
    /// weights and bias, the batch norm becomes <see cref="Identity"/>). What ONNX Runtime's graph optimizer does
    /// before its quantization tool calibrates; do it before <see cref="Prepare(Module, QConfigMapping, bool)"/>, so
    /// the batch norm's scaling is quantized with the weights rather than applied in FP32 after the INT8 layer.
    /// </summary>
    /// <param name="graph">An FP32 graph (for example an imported ONNX model); changed in place.</param>
    /// <returns>The graph.</returns>
    /// <exception cref="InvalidOperationException">The graph is already prepared or quantized.</exception>
    public static GraphModule FoldBatchNorms(GraphModule graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        EnsureFloat(graph, nameof(FoldBatchNorms));
        var readers = graph.Nodes.SelectMany(n => n.Inputs.Concat(n.CapturedNames)).Concat(graph.OutputNames)
            .GroupBy(name => name).ToDictionary(g => g.Key, g => g.Count());
        var convolutions = graph.Nodes.Where(n => n.ModuleName is not null && graph.GetSubmodule(n.ModuleName) is Conv2d)
            .ToDictionary(n => n.Outputs[0], n => n.ModuleName!);
        var pairs = new List<string[]>();
        foreach (GraphNode node in graph.Nodes)
        {
            if (node.ModuleName is not null && graph.GetSubmodule(node.ModuleName) is BatchNorm2d
                && convolutions.TryGetValue(node.Inputs[0], out string? conv) && readers[node.Inputs[0]] == 1)
                pairs.Add([conv, node.ModuleName]);
        }

        FuseModules(graph, pairs);
        return graph;
    }
}
