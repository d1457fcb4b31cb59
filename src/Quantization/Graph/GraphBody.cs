namespace Quantization.Graph;

/// <summary>
/// A node list with its constants and outputs: the main graph of a <see cref="GraphModule"/> or a branch of an
/// <c>If</c>. Running it writes each node's outputs into the scope and drops every intermediate value after its last
/// reader, so a deep network holds only the live activations.
/// </summary>
internal sealed class GraphBody
{
    private readonly string[][] _releaseAfter;

    /// <param name="nodes">The nodes in topological order.</param>
    /// <param name="outputs">The names the body returns.</param>
    /// <param name="constants">Constant values by name (weights, shapes, scalars).</param>
    public GraphBody(IReadOnlyList<GraphNode> nodes, IReadOnlyList<string> outputs, IReadOnlyDictionary<string, Tensor> constants)
    {
        Nodes = nodes;
        Outputs = outputs;
        Constants = constants;

        // A value produced here may be dropped after the last node that reads it, unless the body returns it.
        var lastReader = new Dictionary<string, int>();
        for (int i = 0; i < nodes.Count; i++)
        {
            foreach (string name in nodes[i].Inputs.Concat(nodes[i].CapturedNames))
                lastReader[name] = i;
        }

        var produced = nodes.SelectMany(n => n.Outputs).Where(n => n.Length > 0).ToHashSet();
        produced.ExceptWith(outputs);
        var release = new List<string>[nodes.Count];
        for (int i = 0; i < nodes.Count; i++)
            release[i] = [];
        foreach (var (name, index) in lastReader)
        {
            if (produced.Contains(name))
                release[index].Add(name);
        }

        _releaseAfter = release.Select(r => r.ToArray()).ToArray();
    }

    public IReadOnlyList<GraphNode> Nodes { get; }

    public IReadOnlyList<string> Outputs { get; }

    public IReadOnlyDictionary<string, Tensor> Constants { get; }

    /// <summary>Names the body reads but neither defines nor produces: the values it takes from enclosing scopes.</summary>
    public IEnumerable<string> FreeNames()
    {
        var local = Nodes.SelectMany(n => n.Outputs).Concat(Constants.Keys).ToHashSet();
        return Nodes.SelectMany(n => n.Inputs.Concat(n.CapturedNames)).Concat(Outputs)
            .Where(name => name.Length > 0 && !local.Contains(name)).Distinct();
    }

    /// <summary>Runs the nodes in <paramref name="scope"/> (which already holds the inputs) and returns the outputs in order.</summary>
    /// <exception cref="ArgumentException">A node rejects its inputs; the message names the node.</exception>
    public Tensor[] Run(GraphScope scope)
    {
        foreach (var (name, value) in Constants)
            scope.Set(name, value);
        for (int i = 0; i < Nodes.Count; i++)
        {
            GraphNode node = Nodes[i];
            var inputs = new Tensor?[node.Inputs.Count];
            for (int k = 0; k < inputs.Length; k++)
            {
                string name = node.Inputs[k];
                if (name.Length > 0)
                    inputs[k] = scope.TryGet(name, out var v) ? v : throw new InvalidOperationException($"Node {node.Name} reads '{name}', which has no value.");
            }

            Tensor[] outputs;
            try
            {
                outputs = node.Kernel(inputs, scope);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"Node {node.Name} ({node.OpType}): {e.Message}", e);
            }

            for (int k = 0; k < node.Outputs.Count && k < outputs.Length; k++)
            {
                if (node.Outputs[k].Length > 0)
                    scope.Set(node.Outputs[k], outputs[k]);
            }

            foreach (string name in _releaseAfter[i])
                scope.Remove(name);
        }

        var result = new Tensor[Outputs.Count];
        for (int k = 0; k < result.Length; k++)
            result[k] = scope.TryGet(Outputs[k], out var v) ? v : throw new InvalidOperationException($"Output '{Outputs[k]}' has no value.");
        return result;
    }
}
