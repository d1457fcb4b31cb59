namespace Quantization.Onnx;

/// <summary>What kind of value a graph input, output or intermediate holds.</summary>
public enum OnnxValueKind
{
    /// <summary>The model does not say.</summary>
    Unknown,

    /// <summary>A dense tensor.</summary>
    Tensor,

    /// <summary>A sequence of values (its element is described by the tensor fields).</summary>
    Sequence,

    /// <summary>A map.</summary>
    Map,

    /// <summary>An optional value (its element is described by the tensor fields).</summary>
    Optional,

    /// <summary>A sparse tensor.</summary>
    SparseTensor,
}

/// <summary>
/// One dimension of a declared shape: a number, a symbolic name (e.g. a dynamic batch <c>"N"</c>), or unknown.
/// </summary>
/// <param name="Value">The length when known.</param>
/// <param name="Param">The symbolic name when the length is not fixed and has a name.</param>
public readonly record struct OnnxDimension(long? Value, string? Param)
{
    /// <summary>True when the length is a number.</summary>
    public bool IsFixed => Value.HasValue;

    /// <inheritdoc/>
    public override string ToString() => Value?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? Param ?? "?";
}

/// <summary>A named value of a graph with its declared type and shape (as far as the model declares them).</summary>
public sealed class OnnxValueInfo
{
    internal OnnxValueInfo(string name, OnnxValueKind kind, OnnxElementType elementType, IReadOnlyList<OnnxDimension>? shape)
    {
        Name = name;
        Kind = kind;
        ElementType = elementType;
        Shape = shape;
    }

    /// <summary>The value's name.</summary>
    public string Name { get; }

    /// <summary>Tensor, sequence, optional...</summary>
    public OnnxValueKind Kind { get; }

    /// <summary>The tensor element type (of the innermost tensor for sequences and optionals); Undefined when not declared.</summary>
    public OnnxElementType ElementType { get; }

    /// <summary>The declared shape (of the innermost tensor), or null when even the rank is unknown.</summary>
    public IReadOnlyList<OnnxDimension>? Shape { get; }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Name}: {Kind} {ElementType} [{(Shape is null ? "?" : string.Join(", ", Shape))}]";
}
