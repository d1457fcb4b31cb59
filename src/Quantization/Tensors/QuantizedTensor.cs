using Quantization.Kernels.Elementwise;

namespace Quantization;

/// <summary>
/// A dense, row-major tensor of quantized integers (QInt8, QUInt8 or QInt32) with the <see cref="QuantParams"/>
/// that map them back to real values: <c>x = scale * (q - zero_point)</c>, per tensor or per channel.
/// Immutable once created.
/// </summary>
/// <remarks>
/// Quantization rounds half to even and saturates to the full range of the dtype, as PyTorch's
/// <c>quantize_per_tensor</c> does (a reduced range is an observer's choice of scale and zero point, not a
/// clamp here). ±Infinity saturates to the ends of the range; NaN has no integer meaning and is rejected
/// with an <see cref="ArgumentException"/>.
/// </remarks>
public sealed class QuantizedTensor
{
    private readonly Array _data;
    private readonly int[] _shape;

    private QuantizedTensor(Array data, int[] shape, QuantParams qparams)
    {
        _data = data;
        _shape = shape;
        QParams = qparams;
    }

    /// <summary>The scale(s), zero point(s), scheme and dtype.</summary>
    public QuantParams QParams { get; }

    /// <summary>The integer type of the values.</summary>
    public QuantDType DType => QParams.DType;

    /// <summary>The length of every dimension.</summary>
    public ReadOnlySpan<int> Shape => _shape;

    /// <summary>The number of dimensions.</summary>
    public int Rank => _shape.Length;

    /// <summary>The number of elements.</summary>
    public int Length => _data.Length;

    /// <summary>
    /// Quantizes <paramref name="x"/> with <paramref name="qparams"/>:
    /// <c>q = clamp(zp + round_half_even(x * (1 / scale)), min, max)</c> (PyTorch), or with
    /// <see cref="RoundingConvention.Onnx"/> <c>saturate(round_half_even(x / scale) + zp)</c>.
    /// </summary>
    /// <param name="x">The values; not modified.</param>
    /// <param name="qparams">Per-tensor or per-channel parameters; a per-channel axis must exist in <paramref name="x"/> and have as many entries as there are channels.</param>
    /// <param name="convention">Whose rounding formula to follow; they differ only on exact ties.</param>
    /// <exception cref="ArgumentException">The parameters do not fit the tensor, or <paramref name="x"/> contains NaN.</exception>
    public static QuantizedTensor Quantize(Tensor x, QuantParams qparams, RoundingConvention convention = RoundingConvention.PyTorch)
    {
        ArgumentNullException.ThrowIfNull(x);
        ArgumentNullException.ThrowIfNull(qparams);
        qparams.ValidateFor(x.Shape, nameof(qparams));
        ThrowIfNaN(x.AsSpan(), nameof(x));

        QuantDType dtype = qparams.DType;
        int qmin = dtype.MinValue(), qmax = dtype.MaxValue();
        var layout = ChannelLayout.For(qparams, x.Shape, x.Length);
        Array data;
        switch (dtype)
        {
            case QuantDType.QUInt8:
                var u8 = TensorArena.RentBytes(x.Length);
                ForEachRun(layout, qparams, (start, length, scale, zp) =>
                    QuantizeKernels.QuantizeToUInt8(x.AsSpan().Slice(start, length), scale, zp, qmin, qmax, convention, u8.AsSpan(start, length)));
                data = u8;
                break;
            case QuantDType.QInt8:
                var s8 = new sbyte[x.Length];
                ForEachRun(layout, qparams, (start, length, scale, zp) =>
                    QuantizeKernels.QuantizeToInt8(x.AsSpan().Slice(start, length), scale, zp, qmin, qmax, convention, s8.AsSpan(start, length)));
                data = s8;
                break;
            default:
                var s32 = new int[x.Length];
                ForEachRun(layout, qparams, (start, length, scale, zp) =>
                    QuantizeKernels.QuantizeToInt32(x.AsSpan().Slice(start, length), scale, zp, qmin, qmax, convention, s32.AsSpan(start, length)));
                data = s32;
                break;
        }

        return new QuantizedTensor(data, x.Shape.ToArray(), qparams);
    }

    /// <summary>PyTorch's <c>torch.quantize_per_tensor(x, scale, zero_point, dtype)</c>; see <see cref="Quantize"/>.</summary>
    /// <exception cref="ArgumentException">A parameter is out of range, or <paramref name="x"/> contains NaN.</exception>
    public static QuantizedTensor QuantizePerTensor(Tensor x, float scale, int zeroPoint, QuantDType dtype, RoundingConvention convention = RoundingConvention.PyTorch) =>
        Quantize(x, QuantParams.PerTensorAffine(scale, zeroPoint, dtype), convention);

    /// <summary>PyTorch's <c>torch.quantize_per_channel(x, scales, zero_points, axis, dtype)</c>; see <see cref="Quantize"/>.</summary>
    /// <param name="x">The values; not modified.</param>
    /// <param name="scales">One scale per slice along <paramref name="axis"/>.</param>
    /// <param name="zeroPoints">One zero point per slice along <paramref name="axis"/>.</param>
    /// <param name="axis">The channel axis; negative values count from the end.</param>
    /// <param name="dtype">The integer type.</param>
    /// <param name="convention">Whose rounding formula to follow.</param>
    /// <exception cref="ArgumentException">A parameter is out of range or does not fit the tensor, or <paramref name="x"/> contains NaN.</exception>
    public static QuantizedTensor QuantizePerChannel(Tensor x, ReadOnlySpan<float> scales, ReadOnlySpan<int> zeroPoints, int axis, QuantDType dtype, RoundingConvention convention = RoundingConvention.PyTorch)
    {
        ArgumentNullException.ThrowIfNull(x);
        int normalized = Tensor.NormalizeAxis(axis, x.Rank, nameof(axis));
        return Quantize(x, QuantParams.PerChannelAffine(scales, zeroPoints, normalized, dtype), convention);
    }

    /// <summary>
    /// Builds a quantized tensor from integers already quantized with <paramref name="qparams"/>
    /// (PyTorch's <c>_make_per_tensor_quantized_tensor</c>). The values are copied.
    /// </summary>
    /// <exception cref="ArgumentException">The count does not match the shape, a value lies outside the dtype's range, or the parameters do not fit the shape.</exception>
    public static QuantizedTensor FromIntRepr(ReadOnlySpan<int> values, ReadOnlySpan<int> shape, QuantParams qparams)
    {
        ArgumentNullException.ThrowIfNull(qparams);
        int length = Tensor.CheckedLength(shape, nameof(shape));
        if (values.Length != length)
            throw new ArgumentException($"Shape {Tensor.FormatShape(shape)} holds {length} values but {values.Length} were given.", nameof(values));
        qparams.ValidateFor(shape, nameof(qparams));
        int qmin = qparams.DType.MinValue(), qmax = qparams.DType.MaxValue();
        for (int i = 0; i < values.Length; i++)
        {
            if (values[i] < qmin || values[i] > qmax)
                throw new ArgumentException($"Value {values[i]} at index {i} lies outside [{qmin}, {qmax}] of {qparams.DType}.", nameof(values));
        }

        Array data = qparams.DType switch
        {
            QuantDType.QUInt8 => ConvertAll(values, v => (byte)v),
            QuantDType.QInt8 => ConvertAll(values, v => (sbyte)v),
            _ => values.ToArray(),
        };
        return new QuantizedTensor(data, shape.ToArray(), qparams);
    }

    /// <summary>Takes ownership of integers already quantized with per-tensor <paramref name="qparams"/> (no copy, no check): the kernels' output.</summary>
    internal static QuantizedTensor Wrap(byte[] data, int[] shape, QuantParams qparams) => new(data, shape, qparams);

    /// <summary>The same integers under a new shape with as many elements (no copy); per-tensor parameters only.</summary>
    /// <exception cref="ArgumentException">The parameters are per channel (reshaping would move the channel axis).</exception>
    internal QuantizedTensor Reshape(int[] shape)
    {
        if (QParams.IsPerChannel)
            throw new ArgumentException($"A per-channel quantized tensor ({QParams}) cannot be reshaped.", "input");
        System.Diagnostics.Debug.Assert(Tensor.CheckedLength(shape, nameof(shape)) == Length);
        return new(_data, shape, QParams);
    }

    /// <summary>The real values: <c>scale * (q - zero_point)</c> per element, with each element's channel parameters.</summary>
    public Tensor Dequantize()
    {
        // Through the tensor constructor: inside a graph run it recycles a dead activation's array.
        var tensor = new Tensor(_shape);
        float[] result = tensor.Storage;
        var layout = ChannelLayout.For(QParams, _shape, Length);
        // Dispatch on DType, not the array's runtime type: the CLR lets an sbyte[] pass as a byte[].
        switch (DType)
        {
            case QuantDType.QUInt8:
                var u8 = (byte[])_data;
                ForEachRun(layout, QParams, (start, length, scale, zp) =>
                    QuantizeKernels.DequantizeUInt8(u8.AsSpan(start, length), scale, zp, result.AsSpan(start, length)));
                break;
            case QuantDType.QInt8:
                var s8 = (sbyte[])_data;
                ForEachRun(layout, QParams, (start, length, scale, zp) =>
                    QuantizeKernels.DequantizeInt8(s8.AsSpan(start, length), scale, zp, result.AsSpan(start, length)));
                break;
            default:
                var s32 = (int[])_data;
                ForEachRun(layout, QParams, (start, length, scale, zp) =>
                    QuantizeKernels.DequantizeInt32(s32.AsSpan(start, length), scale, zp, result.AsSpan(start, length)));
                break;
        }

        return tensor;
    }

    /// <summary>The array behind the values (shared by reshaped views).</summary>
    internal Array Storage => _data;

    /// <summary>The stored integers, widened to <see cref="int"/> (PyTorch's <c>int_repr</c>).</summary>
    public int[] IntRepr() => DType switch
    {
        QuantDType.QUInt8 => Array.ConvertAll((byte[])_data, v => (int)v),
        QuantDType.QInt8 => Array.ConvertAll((sbyte[])_data, v => (int)v),
        _ => (int[])((int[])_data).Clone(),
    };

    /// <summary>The stored values of a QUInt8 tensor, without copying.</summary>
    /// <exception cref="InvalidOperationException">The dtype is not QUInt8.</exception>
    public ReadOnlySpan<byte> AsUInt8Span() => DType == QuantDType.QUInt8 ? (byte[])_data : throw WrongDType(QuantDType.QUInt8);

    /// <summary>The stored values of a QInt8 tensor, without copying.</summary>
    /// <exception cref="InvalidOperationException">The dtype is not QInt8.</exception>
    public ReadOnlySpan<sbyte> AsInt8Span() => DType == QuantDType.QInt8 ? (sbyte[])_data : throw WrongDType(QuantDType.QInt8);

    /// <summary>The stored values of a QInt32 tensor, without copying.</summary>
    /// <exception cref="InvalidOperationException">The dtype is not QInt32.</exception>
    public ReadOnlySpan<int> AsInt32Span() => DType == QuantDType.QInt32 ? (int[])_data : throw WrongDType(QuantDType.QInt32);

    /// <inheritdoc/>
    public override string ToString() => $"QuantizedTensor{Tensor.FormatShape(_shape)} {QParams}";

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first NaN in <paramref name="values"/>.</summary>
    internal static void ThrowIfNaN(ReadOnlySpan<float> values, string paramName)
    {
        int nan = QuantizeKernels.IndexOfNaN(values);
        if (nan >= 0)
            throw new ArgumentException($"Element {nan} is NaN; NaN has no quantized value.", paramName);
    }

    /// <summary>Calls <paramref name="action"/> for each contiguous run that shares one scale and zero point.</summary>
    internal static void ForEachRun(ChannelLayout layout, QuantParams qparams, RunAction action)
    {
        for (int o = 0; o < layout.Outer; o++)
        {
            for (int c = 0; c < layout.Channels; c++)
            {
                var (scale, zp) = qparams.ForChannel(c);
                action(layout.Start(o, c), layout.Inner, scale, zp);
            }
        }
    }

    private static T[] ConvertAll<T>(ReadOnlySpan<int> values, Func<int, T> convert)
    {
        var result = new T[values.Length];
        for (int i = 0; i < values.Length; i++)
            result[i] = convert(values[i]);
        return result;
    }

    private InvalidOperationException WrongDType(QuantDType wanted) => new($"The tensor holds {DType}, not {wanted}.");

    /// <summary>Work on the run [<paramref name="start"/>, <paramref name="start"/> + <paramref name="length"/>) with one scale and zero point.</summary>
    internal delegate void RunAction(int start, int length, float scale, int zeroPoint);
}
