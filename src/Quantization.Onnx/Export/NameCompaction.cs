using Quantization.Onnx.Proto;

namespace Quantization.Onnx.Export;

/// <summary>
/// Gives the main graph's values and initializers the shortest free identifiers (a, b, ... aa, ab, ...) and clears
/// its node names (<see cref="OnnxExportOptions.CompactNames"/>). Graph inputs and outputs keep their names, and so do
/// values that subgraphs read, since a subgraph refers to outer values by name.
/// </summary>
internal static class NameCompaction
{
    private const string First = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_";
    private const string Next = First + "0123456789";

    public static void Apply(ModelProto model)
    {
        var graph = model.Graph;
        var taken = new ProtoBuilder(graph);
        var kept = graph.Input.Concat(graph.Output).Select(v => v.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var node in graph.Node)
        {
            foreach (var sub in ProtoBuilder.Subgraphs(node))
                kept.UnionWith(SubgraphNames(sub));
        }

        var renamed = new Dictionary<string, string>(StringComparer.Ordinal);
        int next = 0;
        string Short(string name)
        {
            if (name.Length == 0 || kept.Contains(name))
                return name;
            if (renamed.TryGetValue(name, out string? done))
                return done;
            string candidate;
            do
                candidate = Identifier(next++);
            while (taken.IsTaken(candidate));
            return renamed[name] = candidate;
        }

        foreach (var t in graph.Initializer)
            t.Name = Short(t.Name);
        foreach (var node in graph.Node)
        {
            node.Name = "";
            for (int i = 0; i < node.Output.Count; i++)
                node.Output[i] = Short(node.Output[i]);
        }

        foreach (var node in graph.Node)
        {
            for (int i = 0; i < node.Input.Count; i++)
                node.Input[i] = renamed.GetValueOrDefault(node.Input[i]) ?? node.Input[i];
        }

        foreach (var info in graph.ValueInfo)
            info.Name = renamed.GetValueOrDefault(info.Name) ?? info.Name;
    }

    /// <summary>The <paramref name="index"/>-th identifier: a letter or underscore, then letters, digits or underscores.</summary>
    private static string Identifier(int index)
    {
        var chars = new List<char> { First[index % First.Length] };
        for (index /= First.Length; index > 0; index = (index - 1) / Next.Length)
            chars.Add(Next[(index - 1) % Next.Length]);
        return new string([.. chars]);
    }

    private static IEnumerable<string> SubgraphNames(GraphProto graph) =>
        graph.Node.SelectMany(n => n.Input.Concat(n.Output).Concat(ProtoBuilder.Subgraphs(n).SelectMany(SubgraphNames)))
            .Concat(graph.Input.Concat(graph.Output).Concat(graph.ValueInfo).Select(v => v.Name))
            .Concat(graph.Initializer.Select(t => t.Name));
}
