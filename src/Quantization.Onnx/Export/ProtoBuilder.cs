using System.Runtime.InteropServices;
using Google.Protobuf;
using Quantization.Onnx.Proto;

namespace Quantization.Onnx.Export;

/// <summary>
/// Adds nodes and constant tensors to a graph being rewritten, under names no other value of the model uses
/// (ONNX names are global across a model's subgraphs, so the taken names are collected from all of them).
/// </summary>
internal sealed class ProtoBuilder
{
    private readonly HashSet<string> _taken;

    public ProtoBuilder(GraphProto main) => _taken = AllNames(main).ToHashSet(StringComparer.Ordinal);

    /// <summary>Whether a value, initializer or node of the model already has <paramref name="name"/>.</summary>
    public bool IsTaken(string name) => _taken.Contains(name);

    /// <summary><paramref name="stem"/>, or <paramref name="stem"/>_1, _2... if that is taken; the name is then reserved.</summary>
    public string Unique(string stem)
    {
        string name = stem;
        for (int i = 1; !_taken.Add(name); i++)
            name = $"{stem}_{i}";
        return name;
    }

    /// <summary>A node; inserted nodes are named after their (unique) output, which keeps files small and readable.</summary>
    public static NodeProto Node(string opType, string name, IEnumerable<string> inputs, IEnumerable<string> outputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = opType, Name = name };
        node.Input.Add(inputs);
        node.Output.Add(outputs);
        node.Attribute.Add(attributes);
        return node;
    }

    public static AttributeProto Int(string name, long value) => new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto String(string name, string value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.String, S = ByteString.CopyFromUtf8(value) };

    /// <summary>A tensor of fixed-size elements stored as little-endian raw data; null dims make a scalar.</summary>
    public static TensorProto Tensor<T>(string name, TensorProto.Types.DataType type, ReadOnlySpan<T> values, IEnumerable<long>? dims = null)
        where T : unmanaged
    {
        var t = new TensorProto { Name = name, DataType = (int)type, RawData = ByteString.CopyFrom(MemoryMarshal.AsBytes(values)) };
        if (dims is not null)
            t.Dims.Add(dims);
        return t;
    }

    /// <summary>A 1-D tensor of <paramref name="values"/>, or a scalar when <paramref name="scalar"/>.</summary>
    public static TensorProto Vector<T>(string name, TensorProto.Types.DataType type, T[] values, bool scalar = false)
        where T : unmanaged =>
        Tensor<T>(name, type, values, scalar ? null : [values.Length]);

    private static IEnumerable<string> AllNames(GraphProto graph)
    {
        foreach (var vi in graph.Input.Concat(graph.Output).Concat(graph.ValueInfo))
            yield return vi.Name;
        foreach (var t in graph.Initializer)
            yield return t.Name;
        foreach (var node in graph.Node)
        {
            yield return node.Name;
            foreach (string value in node.Input.Concat(node.Output))
                yield return value;
            foreach (var sub in Subgraphs(node))
            {
                foreach (string name in AllNames(sub))
                    yield return name;
            }
        }
    }

    /// <summary>Adds the names <paramref name="graph"/>'s nodes read, and those its subgraphs read or return, to <paramref name="read"/>.</summary>
    public static void AddReads(GraphProto graph, HashSet<string> read)
    {
        foreach (var node in graph.Node)
        {
            read.UnionWith(node.Input);
            foreach (var sub in Subgraphs(node))
            {
                read.UnionWith(sub.Output.Select(o => o.Name));
                AddReads(sub, read);
            }
        }
    }

    /// <summary>The graphs held by a node's attributes (<c>If</c> branches, <c>Loop</c> bodies).</summary>
    public static IEnumerable<GraphProto> Subgraphs(NodeProto node) =>
        node.Attribute.SelectMany(a => a.G is null ? a.Graphs : a.Graphs.Prepend(a.G));
}
