using System.Collections.ObjectModel;

namespace Quantization.Onnx;

/// <summary>
/// One operator call of a graph: its op type and domain, the names of the values it reads and writes (an empty
/// input name marks an omitted optional input), and its attributes with typed accessors.
/// </summary>
public sealed class OnnxNode
{
    private readonly Dictionary<string, OnnxAttribute> _attributes;

    internal OnnxNode(string name, string opType, string domain, string[] inputs, string[] outputs, Dictionary<string, OnnxAttribute> attributes, string label)
    {
        Name = name;
        OpType = opType;
        Domain = domain;
        Inputs = new ReadOnlyCollection<string>(inputs);
        Outputs = new ReadOnlyCollection<string>(outputs);
        _attributes = attributes;
        Attributes = new ReadOnlyDictionary<string, OnnxAttribute>(attributes);
        Label = label;
    }

    /// <summary>The node's name (may be empty: ONNX does not require names).</summary>
    public string Name { get; }

    /// <summary>The operator, e.g. <c>Conv</c>.</summary>
    public string OpType { get; }

    /// <summary>The operator's domain; empty for the standard ONNX operators (also when the file says <c>ai.onnx</c>).</summary>
    public string Domain { get; }

    /// <summary>The names of the values read, in operator order; an empty name is an omitted optional input.</summary>
    public IReadOnlyList<string> Inputs { get; }

    /// <summary>The names of the values written; an empty name is an output the model does not use.</summary>
    public IReadOnlyList<string> Outputs { get; }

    /// <summary>The attributes by name.</summary>
    public IReadOnlyDictionary<string, OnnxAttribute> Attributes { get; }

    /// <summary>A description for messages: the name if any, else the position, and the op type.</summary>
    public string Label { get; }

    /// <summary>The graphs held in attributes (e.g. the branches of <c>If</c>), in attribute order.</summary>
    public IEnumerable<OnnxGraph> Subgraphs =>
        _attributes.Values.SelectMany(a => a.Type switch
        {
            OnnxAttributeType.Graph => [a.Graph],
            OnnxAttributeType.Graphs => a.Graphs,
            _ => Array.Empty<OnnxGraph>(),
        });

    /// <summary>Finds an attribute.</summary>
    public bool TryGetAttribute(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out OnnxAttribute? attribute) =>
        _attributes.TryGetValue(name, out attribute);

    /// <summary>A required attribute.</summary>
    /// <exception cref="OnnxFormatException">The node has no such attribute.</exception>
    public OnnxAttribute GetAttribute(string name) =>
        _attributes.TryGetValue(name, out var a) ? a : throw new OnnxFormatException($"{Label} has no attribute '{name}'.");

    /// <summary>An INT attribute, or <paramref name="defaultValue"/> when absent.</summary>
    /// <exception cref="OnnxFormatException">The attribute exists with another type.</exception>
    public long GetInt(string name, long defaultValue) => TryGetAttribute(name, out var a) ? a.Int : defaultValue;

    /// <summary>A FLOAT attribute, or <paramref name="defaultValue"/> when absent.</summary>
    /// <exception cref="OnnxFormatException">The attribute exists with another type.</exception>
    public float GetFloat(string name, float defaultValue) => TryGetAttribute(name, out var a) ? a.Float : defaultValue;

    /// <summary>A STRING attribute, or <paramref name="defaultValue"/> when absent.</summary>
    /// <exception cref="OnnxFormatException">The attribute exists with another type.</exception>
    public string GetString(string name, string defaultValue) => TryGetAttribute(name, out var a) ? a.String : defaultValue;

    /// <summary>An INTS attribute, or an empty list when absent.</summary>
    /// <exception cref="OnnxFormatException">The attribute exists with another type.</exception>
    public IReadOnlyList<long> GetInts(string name) => TryGetAttribute(name, out var a) ? a.Ints : [];

    /// <summary>A FLOATS attribute, or an empty list when absent.</summary>
    /// <exception cref="OnnxFormatException">The attribute exists with another type.</exception>
    public IReadOnlyList<float> GetFloats(string name) => TryGetAttribute(name, out var a) ? a.Floats : [];

    /// <inheritdoc/>
    public override string ToString() => $"{Label}: ({string.Join(", ", Inputs)}) -> ({string.Join(", ", Outputs)})";
}
