using System.Collections.ObjectModel;

namespace Quantization.Onnx;

/// <summary>The type of a node attribute; the values are the ONNX <c>AttributeProto.AttributeType</c> codes.</summary>
public enum OnnxAttributeType
{
    /// <summary>Not set.</summary>
    Undefined = 0,

    /// <summary>One float.</summary>
    Float = 1,

    /// <summary>One 64-bit integer.</summary>
    Int = 2,

    /// <summary>One string.</summary>
    String = 3,

    /// <summary>One tensor.</summary>
    Tensor = 4,

    /// <summary>One graph (e.g. a branch of <c>If</c>, the body of <c>Loop</c>).</summary>
    Graph = 5,

    /// <summary>A list of floats.</summary>
    Floats = 6,

    /// <summary>A list of 64-bit integers.</summary>
    Ints = 7,

    /// <summary>A list of strings.</summary>
    Strings = 8,

    /// <summary>A list of tensors.</summary>
    Tensors = 9,

    /// <summary>A list of graphs.</summary>
    Graphs = 10,

    /// <summary>One sparse tensor (kept as a type only; its value is not read).</summary>
    SparseTensor = 11,

    /// <summary>A list of sparse tensors (kept as a type only).</summary>
    SparseTensors = 12,

    /// <summary>One type description (kept as a type only).</summary>
    TypeProto = 13,

    /// <summary>A list of type descriptions (kept as a type only).</summary>
    TypeProtos = 14,
}

/// <summary>
/// A named constant parameter of a node. Read the value through the accessor that matches <see cref="Type"/>; the
/// others throw <see cref="OnnxFormatException"/> naming the node and the attribute, since asking for the wrong
/// type means the model does not carry what its operator needs.
/// </summary>
public sealed class OnnxAttribute
{
    private readonly object? _value;

    internal OnnxAttribute(string owner, string name, OnnxAttributeType type, object? value)
    {
        Owner = owner;
        Name = name;
        Type = type;
        _value = value;
    }

    /// <summary>The attribute's name.</summary>
    public string Name { get; }

    /// <summary>Which kind of value it holds.</summary>
    public OnnxAttributeType Type { get; }

    /// <summary>The value of an <see cref="OnnxAttributeType.Int"/> attribute.</summary>
    public long Int => As<long>(OnnxAttributeType.Int);

    /// <summary>The value of a <see cref="OnnxAttributeType.Float"/> attribute.</summary>
    public float Float => As<float>(OnnxAttributeType.Float);

    /// <summary>The value of a <see cref="OnnxAttributeType.String"/> attribute (UTF-8 decoded).</summary>
    public string String => As<string>(OnnxAttributeType.String);

    /// <summary>The value of a <see cref="OnnxAttributeType.Tensor"/> attribute.</summary>
    public OnnxTensor Tensor => As<OnnxTensor>(OnnxAttributeType.Tensor);

    /// <summary>The value of a <see cref="OnnxAttributeType.Graph"/> attribute.</summary>
    public OnnxGraph Graph => As<OnnxGraph>(OnnxAttributeType.Graph);

    /// <summary>The value of an <see cref="OnnxAttributeType.Ints"/> attribute.</summary>
    public IReadOnlyList<long> Ints => As<ReadOnlyCollection<long>>(OnnxAttributeType.Ints);

    /// <summary>The value of a <see cref="OnnxAttributeType.Floats"/> attribute.</summary>
    public IReadOnlyList<float> Floats => As<ReadOnlyCollection<float>>(OnnxAttributeType.Floats);

    /// <summary>The value of a <see cref="OnnxAttributeType.Strings"/> attribute.</summary>
    public IReadOnlyList<string> Strings => As<ReadOnlyCollection<string>>(OnnxAttributeType.Strings);

    /// <summary>The value of a <see cref="OnnxAttributeType.Tensors"/> attribute.</summary>
    public IReadOnlyList<OnnxTensor> Tensors => As<ReadOnlyCollection<OnnxTensor>>(OnnxAttributeType.Tensors);

    /// <summary>The value of a <see cref="OnnxAttributeType.Graphs"/> attribute.</summary>
    public IReadOnlyList<OnnxGraph> Graphs => As<ReadOnlyCollection<OnnxGraph>>(OnnxAttributeType.Graphs);

    /// <summary>The node this attribute belongs to, for messages.</summary>
    internal string Owner { get; }

    /// <inheritdoc/>
    public override string ToString() => $"{Name}: {Type}";

    private T As<T>(OnnxAttributeType expected) =>
        Type == expected ? (T)_value! : throw new OnnxFormatException($"Attribute '{Name}' of {Owner} is {Type}, not {expected}.");
}
