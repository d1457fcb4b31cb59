using System.Globalization;
using System.Numerics.Tensors;
using System.Text;
using SystemTensor = System.Numerics.Tensors.Tensor;

namespace Quantization;

/// <summary>
/// A dense, row-major tensor of 32-bit floats with any number of dimensions (a scalar has rank 0).
/// The shape is fixed; the values are mutable through <see cref="AsSpan"/> and the indexer.
/// <see cref="Reshape"/> returns a view that shares the values. Interoperates with
/// <see cref="Tensor{T}"/> and <see cref="ReadOnlyTensorSpan{T}"/> from System.Numerics.Tensors.
/// </summary>
public sealed partial class Tensor
{
    private readonly float[] _data;
    private readonly int[] _shape;
    private readonly int[] _strides;

    /// <summary>Creates a tensor of zeros with the given shape.</summary>
    /// <exception cref="ArgumentException">A dimension is negative, or the element count overflows.</exception>
    public Tensor(params ReadOnlySpan<int> shape)
    {
        _shape = shape.ToArray();
        int length = CheckedLength(_shape, nameof(shape));
        _data = TensorArena.Current?.TryTake(length) ?? new float[length];
        _strides = RowMajorStrides(_shape);
    }

    /// <summary>Creates a tensor with the given shape and a copy of <paramref name="values"/> in row-major order.</summary>
    /// <exception cref="ArgumentException">The number of values does not match the shape.</exception>
    public Tensor(ReadOnlySpan<float> values, params ReadOnlySpan<int> shape)
        : this(shape)
    {
        if (values.Length != _data.Length)
            throw new ArgumentException($"Shape {FormatShape(shape)} holds {_data.Length} values but {values.Length} were given.", nameof(values));
        values.CopyTo(_data);
    }

    /// <summary>Wraps <paramref name="data"/> without copying; the caller hands over the array.</summary>
    internal Tensor(float[] data, int[] shape)
    {
        _shape = shape;
        _strides = RowMajorStrides(shape);
        _data = data;
    }

    /// <summary>
    /// A tensor whose values are undefined, for a kernel that writes every one: an array recycled by the active
    /// <see cref="TensorArena"/> is not cleared first (an activation of a 640×640 detector is megabytes).
    /// </summary>
    internal static Tensor Uninitialized(params int[] shape)
    {
        int length = CheckedLength(shape, nameof(shape));
        return new Tensor(TensorArena.Current?.TryTake(length, clear: false) ?? GC.AllocateUninitializedArray<float>(length), shape);
    }

    /// <summary>The array behind the values (shared by views such as <see cref="Reshape"/>).</summary>
    internal float[] Storage => _data;

    /// <summary>The length of every dimension.</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>The number of dimensions.</summary>
    public int Rank => _shape.Length;

    /// <summary>The number of elements.</summary>
    public int Length => _data.Length;

    /// <summary>Gets or sets one element.</summary>
    /// <param name="indices">One index per dimension.</param>
    /// <exception cref="ArgumentException">The number of indices differs from <see cref="Rank"/>.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside its dimension.</exception>
    public float this[params ReadOnlySpan<int> indices]
    {
        get => _data[FlatIndex(indices)];
        set => _data[FlatIndex(indices)] = value;
    }

    /// <summary>A tensor of zeros.</summary>
    public static Tensor Zeros(params ReadOnlySpan<int> shape) => new(shape);

    /// <summary>A tensor whose every element is <paramref name="value"/>.</summary>
    public static Tensor Full(float value, params ReadOnlySpan<int> shape)
    {
        var t = new Tensor(shape);
        t._data.AsSpan().Fill(value);
        return t;
    }

    /// <summary>A copy of a System.Numerics.Tensors span (any strides) as a dense tensor.</summary>
    /// <exception cref="ArgumentException">A dimension does not fit in an <see cref="int"/>.</exception>
    public static Tensor FromTensorSpan(ReadOnlyTensorSpan<float> source)
    {
        var shape = new int[source.Rank];
        for (int i = 0; i < shape.Length; i++)
        {
            nint length = source.Lengths[i];
            if (length > int.MaxValue)
                throw new ArgumentException($"Dimension {i} has {length} elements; at most {int.MaxValue} are supported.", nameof(source));
            shape[i] = (int)length;
        }

        var t = new Tensor(shape);
        source.FlattenTo(t._data);
        return t;
    }

    /// <summary>A copy of a System.Numerics.Tensors tensor as a dense tensor.</summary>
    public static Tensor FromTensor(Tensor<float> source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return FromTensorSpan(source.AsReadOnlyTensorSpan());
    }

    /// <summary>The elements in row-major order; writes change this tensor (and every view that shares its values).</summary>
    public Span<float> AsSpan() => _data;

    /// <summary>A System.Numerics.Tensors view of the same values (no copy).</summary>
    public TensorSpan<float> AsTensorSpan() => new(_data, LengthsAsNint(), StridesAsNint());

    /// <summary>A read-only System.Numerics.Tensors view of the same values (no copy).</summary>
    public ReadOnlyTensorSpan<float> AsReadOnlyTensorSpan() => new(_data, LengthsAsNint(), StridesAsNint());

    /// <summary>A System.Numerics.Tensors tensor holding a copy of the values.</summary>
    public Tensor<float> ToTensor() => SystemTensor.Create((float[])_data.Clone(), LengthsAsNint());

    /// <summary>The length of dimension <paramref name="dim"/>; a negative value counts from the end.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The dimension does not exist.</exception>
    public int Size(int dim) => _shape[NormalizeAxis(dim, Rank, nameof(dim))];

    /// <summary>
    /// A view with a new shape over the same values (no copy). One dimension may be -1; it is inferred.
    /// </summary>
    /// <exception cref="ArgumentException">The new shape holds a different number of elements, or has more than one -1.</exception>
    public Tensor Reshape(params ReadOnlySpan<int> shape)
    {
        int[] resolved = shape.ToArray();
        int inferred = -1;
        long known = 1;
        for (int i = 0; i < resolved.Length; i++)
        {
            if (resolved[i] == -1)
            {
                if (inferred >= 0)
                    throw new ArgumentException($"Shape {FormatShape(shape)} has more than one -1.", nameof(shape));
                inferred = i;
            }
            else if (resolved[i] < 0)
            {
                throw new ArgumentException($"Shape {FormatShape(shape)} has a negative dimension.", nameof(shape));
            }
            else
            {
                known *= resolved[i];
            }
        }

        if (inferred >= 0)
        {
            if (known == 0 || Length % known != 0)
                throw new ArgumentException($"Cannot infer the -1 in {FormatShape(shape)} for {Length} elements.", nameof(shape));
            resolved[inferred] = (int)(Length / known);
            known *= resolved[inferred];
        }

        if (known != Length)
            throw new ArgumentException($"Cannot reshape {FormatShape(_shape)} ({Length} elements) to {FormatShape(shape)} ({known} elements).", nameof(shape));
        return new Tensor(_data, resolved);
    }

    /// <summary>A deep copy.</summary>
    public Tensor Clone() => new((float[])_data.Clone(), (int[])_shape.Clone());

    /// <summary>True when <paramref name="other"/> has the same shape.</summary>
    public bool HasShape(ReadOnlySpan<int> other) => _shape.AsSpan().SequenceEqual(other);

    /// <summary>Elementwise sum of two tensors of the same shape.</summary>
    public static Tensor operator +(Tensor left, Tensor right) => Binary(left, right, TensorPrimitives.Add);

    /// <summary>Elementwise difference of two tensors of the same shape.</summary>
    public static Tensor operator -(Tensor left, Tensor right) => Binary(left, right, TensorPrimitives.Subtract);

    /// <summary>Elementwise product of two tensors of the same shape.</summary>
    public static Tensor operator *(Tensor left, Tensor right) => Binary(left, right, TensorPrimitives.Multiply);

    /// <summary>Adds a scalar to every element.</summary>
    public static Tensor operator +(Tensor left, float right)
    {
        ArgumentNullException.ThrowIfNull(left);
        var result = new Tensor(left._shape);
        TensorPrimitives.Add(left._data, right, result._data);
        return result;
    }

    /// <summary>Multiplies every element by a scalar.</summary>
    public static Tensor operator *(Tensor left, float right)
    {
        ArgumentNullException.ThrowIfNull(left);
        var result = new Tensor(left._shape);
        TensorPrimitives.Multiply(left._data, right, result._data);
        return result;
    }

    /// <summary>The smallest element (NaN if any element is NaN).</summary>
    /// <exception cref="InvalidOperationException">The tensor is empty.</exception>
    public float Min() => Length == 0 ? throw EmptyReduction() : TensorPrimitives.Min(_data);

    /// <summary>The largest element (NaN if any element is NaN).</summary>
    /// <exception cref="InvalidOperationException">The tensor is empty.</exception>
    public float Max() => Length == 0 ? throw EmptyReduction() : TensorPrimitives.Max(_data);

    /// <summary>The sum of all elements (0 for an empty tensor).</summary>
    public float Sum() => TensorPrimitives.Sum(_data);

    /// <summary>The mean of all elements.</summary>
    /// <exception cref="InvalidOperationException">The tensor is empty.</exception>
    public float Mean() => Length == 0 ? throw EmptyReduction() : TensorPrimitives.Sum(_data) / Length;

    /// <inheritdoc/>
    public override string ToString()
    {
        var sb = new StringBuilder("Tensor").Append(FormatShape(_shape)).Append(" [");
        int shown = Math.Min(Length, 8);
        for (int i = 0; i < shown; i++)
            sb.Append(i == 0 ? "" : ", ").Append(_data[i].ToString("G6", CultureInfo.InvariantCulture));
        return sb.Append(Length > shown ? ", ...]" : "]").ToString();
    }

    /// <summary>Formats a shape as <c>(2, 3, 4)</c>.</summary>
    internal static string FormatShape(ReadOnlySpan<int> shape)
    {
        var sb = new StringBuilder("(");
        for (int i = 0; i < shape.Length; i++)
            sb.Append(i == 0 ? "" : ", ").Append(shape[i]);
        return sb.Append(shape.Length == 1 ? ",)" : ")").ToString();
    }

    /// <summary>Maps a possibly negative axis into [0, rank).</summary>
    internal static int NormalizeAxis(int axis, int rank, string paramName)
    {
        int normalized = axis < 0 ? axis + rank : axis;
        if ((uint)normalized >= (uint)rank)
            throw new ArgumentOutOfRangeException(paramName, axis, $"Axis {axis} is out of range for a tensor of rank {rank}.");
        return normalized;
    }

    /// <summary>The element count of <paramref name="shape"/>, validated.</summary>
    internal static int CheckedLength(ReadOnlySpan<int> shape, string paramName)
    {
        long length = 1;
        foreach (int d in shape)
        {
            if (d < 0)
                throw new ArgumentException($"Shape {FormatShape(shape)} has a negative dimension.", paramName);
            length *= d;
            if (length > Array.MaxLength)
                throw new ArgumentException($"Shape {FormatShape(shape)} has more elements than an array can hold.", paramName);
        }

        return (int)length;
    }

    private static int[] RowMajorStrides(int[] shape)
    {
        var strides = new int[shape.Length];
        int stride = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = stride;
            stride *= shape[i];
        }

        return strides;
    }

    private int FlatIndex(ReadOnlySpan<int> indices)
    {
        if (indices.Length != _shape.Length)
            throw new ArgumentException($"Expected {_shape.Length} indices for shape {FormatShape(_shape)} but got {indices.Length}.", nameof(indices));
        int flat = 0;
        for (int i = 0; i < indices.Length; i++)
        {
            if ((uint)indices[i] >= (uint)_shape[i])
                throw new ArgumentOutOfRangeException(nameof(indices), indices[i], $"Index {indices[i]} is out of range for dimension {i} of length {_shape[i]}.");
            flat += indices[i] * _strides[i];
        }

        return flat;
    }

    private nint[] LengthsAsNint() => Array.ConvertAll(_shape, d => (nint)d);

    private nint[] StridesAsNint() => Array.ConvertAll(_strides, s => (nint)s);

    private static Tensor Binary(Tensor left, Tensor right, TensorPrimitivesBinary op)
    {
        ArgumentNullException.ThrowIfNull(left);
        ArgumentNullException.ThrowIfNull(right);
        if (!left.HasShape(right._shape))
            throw new ArgumentException($"Shapes {FormatShape(left._shape)} and {FormatShape(right._shape)} differ.", nameof(right));
        var result = new Tensor(left._shape);
        op(left._data, right._data, result._data);
        return result;
    }

    private static InvalidOperationException EmptyReduction() => new("The tensor is empty.");

    private delegate void TensorPrimitivesBinary(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> destination);
}
