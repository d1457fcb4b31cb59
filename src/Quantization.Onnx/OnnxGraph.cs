using System.Collections.ObjectModel;

namespace Quantization.Onnx;

/// <summary>
/// A validated ONNX graph: every node input is produced by a graph input, an initializer, an earlier node or (in a
/// subgraph) an enclosing graph; names are unique; there are no cycles; every output is produced.
/// <see cref="Nodes"/> is in topological order (the file's order wherever that order is already valid).
/// </summary>
public sealed class OnnxGraph
{
    internal OnnxGraph(
        string name,
        List<OnnxValueInfo> inputs,
        List<OnnxValueInfo> outputs,
        Dictionary<string, OnnxTensor> initializers,
        List<OnnxNode> nodes,
        Dictionary<string, OnnxValueInfo> valueInfo,
        Dictionary<string, OnnxTensor> constants,
        List<string> outerScopeNames)
    {
        Name = name;
        Inputs = inputs.AsReadOnly();
        Outputs = outputs.AsReadOnly();
        Initializers = new ReadOnlyDictionary<string, OnnxTensor>(initializers);
        Nodes = nodes.AsReadOnly();
        ValueInfo = new ReadOnlyDictionary<string, OnnxValueInfo>(valueInfo);
        Constants = new ReadOnlyDictionary<string, OnnxTensor>(constants);
        OuterScopeNames = outerScopeNames.AsReadOnly();
    }

    /// <summary>The graph's name.</summary>
    public string Name { get; }

    /// <summary>
    /// The values a caller feeds, in declaration order. Inputs that are also initializers (older files list weights
    /// as inputs too) are not included: they are in <see cref="Initializers"/>.
    /// </summary>
    public IReadOnlyList<OnnxValueInfo> Inputs { get; }

    /// <summary>The values the graph returns, in declaration order.</summary>
    public IReadOnlyList<OnnxValueInfo> Outputs { get; }

    /// <summary>The constant weights by name.</summary>
    public IReadOnlyDictionary<string, OnnxTensor> Initializers { get; }

    /// <summary>The nodes in topological order.</summary>
    public IReadOnlyList<OnnxNode> Nodes { get; }

    /// <summary>Declared types and shapes of intermediate values, by name (as far as the model declares them).</summary>
    public IReadOnlyDictionary<string, OnnxValueInfo> ValueInfo { get; }

    /// <summary>The values of the graph's standard <c>Constant</c> nodes, by output name.</summary>
    public IReadOnlyDictionary<string, OnnxTensor> Constants { get; }

    /// <summary>Names this graph reads from enclosing graphs (empty for the main graph).</summary>
    public IReadOnlyList<string> OuterScopeNames { get; }

    /// <summary>An initializer or a <c>Constant</c> node's value with this name, or null.</summary>
    public OnnxTensor? FindConstant(string name) =>
        Initializers.TryGetValue(name, out var t) || Constants.TryGetValue(name, out t) ? t : null;

    /// <summary>The number of nodes of each op type (domain-qualified when not the standard domain), this graph only.</summary>
    public IReadOnlyDictionary<string, int> CountOpTypes() =>
        Nodes.GroupBy(n => n.Domain.Length == 0 ? n.OpType : $"{n.Domain}.{n.OpType}")
            .ToDictionary(g => g.Key, g => g.Count());
}
