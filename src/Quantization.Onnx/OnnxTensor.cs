using System.Collections.ObjectModel;
using System.Runtime.InteropServices;

namespace Quantization.Onnx;

/// <summary>
/// A constant tensor of an ONNX model (an initializer, a <c>Constant</c> node's value or a tensor attribute), read
/// and checked when the model was loaded: its data holds exactly the product of its dimensions in elements.
/// Immutable; every accessor returns a fresh array.
/// </summary>
public sealed class OnnxTensor
{
    // Fixed-size types: little-endian element bytes, as ONNX raw_data stores them. Strings live in _strings.
    private readonly byte[] _data;
    private readonly string[]? _strings;

    internal OnnxTensor(string name, OnnxElementType elementType, long[] dims, long elementCount, byte[] data, string[]? strings)
    {
        Name = name;
        ElementType = elementType;
        Dims = new ReadOnlyCollection<long>(dims);
        ElementCount = elementCount;
        _data = data;
        _strings = strings;
    }

    /// <summary>The tensor's name (empty for unnamed attribute tensors).</summary>
    public string Name { get; }

    /// <summary>The element type.</summary>
    public OnnxElementType ElementType { get; }

    /// <summary>The dimensions; empty for a scalar.</summary>
    public IReadOnlyList<long> Dims { get; }

    /// <summary>The number of elements: the product of <see cref="Dims"/> (1 for a scalar).</summary>
    public long ElementCount { get; }

    /// <summary>The dimensions as <see cref="int"/>s (they were checked to fit when the model was loaded).</summary>
    public int[] Shape() => Dims.Select(d => (int)d).ToArray();

    /// <summary>
    /// The values as FP32: floats as they are, doubles rounded to the nearest float, float16 and bfloat16 widened,
    /// integers and booleans converted (large 64-bit integers lose precision).
    /// </summary>
    /// <exception cref="InvalidOperationException">The element type has no float value (strings, complex, 8- and 4-bit floats, 4-bit integers).</exception>
    public float[] ToFloats()
    {
        int n = (int)ElementCount;
        var result = new float[n];
        switch (ElementType)
        {
            case OnnxElementType.Float:
                Read<float>().CopyTo(result);
                break;
            case OnnxElementType.Double:
                ReadOnlySpan<double> doubles = Read<double>();
                for (int i = 0; i < n; i++)
                    result[i] = (float)doubles[i];
                break;
            case OnnxElementType.Float16:
                ReadOnlySpan<Half> halves = Read<Half>();
                for (int i = 0; i < n; i++)
                    result[i] = (float)halves[i];
                break;
            case OnnxElementType.BFloat16:
                ReadOnlySpan<ushort> bf = Read<ushort>();
                for (int i = 0; i < n; i++)
                    result[i] = BitConverter.Int32BitsToSingle(bf[i] << 16);
                break;
            default:
                long[] integers = ToInt64s();
                for (int i = 0; i < n; i++)
                    result[i] = integers[i];
                break;
        }

        return result;
    }

    /// <summary>The values as our FP32 <see cref="Tensor"/> with the same shape (see <see cref="ToFloats"/>).</summary>
    /// <exception cref="InvalidOperationException">The element type has no float value.</exception>
    public Tensor ToTensor() => new(ToFloats(), Shape());

    /// <summary>The values of an integer or boolean tensor, widened to 64 bits.</summary>
    /// <exception cref="InvalidOperationException">The tensor does not hold integers (or holds unsigned 64-bit values above <see cref="long.MaxValue"/>).</exception>
    public long[] ToInt64s()
    {
        int n = (int)ElementCount;
        var result = new long[n];
        switch (ElementType)
        {
            case OnnxElementType.Int64:
                Read<long>().CopyTo(result);
                break;
            case OnnxElementType.Int32:
                Widen(Read<int>(), result, v => v);
                break;
            case OnnxElementType.Int16:
                Widen(Read<short>(), result, v => v);
                break;
            case OnnxElementType.Int8:
                Widen(Read<sbyte>(), result, v => v);
                break;
            case OnnxElementType.UInt8 or OnnxElementType.Bool:
                Widen(Read<byte>(), result, v => v);
                break;
            case OnnxElementType.UInt16:
                Widen(Read<ushort>(), result, v => v);
                break;
            case OnnxElementType.UInt32:
                Widen(Read<uint>(), result, v => v);
                break;
            case OnnxElementType.UInt64:
                ReadOnlySpan<ulong> u = Read<ulong>();
                for (int i = 0; i < n; i++)
                    result[i] = u[i] <= long.MaxValue ? (long)u[i] : throw new InvalidOperationException($"Tensor '{Name}' holds {u[i]}, which does not fit in an Int64.");
                break;
            default:
                throw NotConvertible("integers");
        }

        return result;
    }

    /// <summary>The values of an Int32 tensor, or of a narrower integer tensor widened.</summary>
    /// <exception cref="InvalidOperationException">The tensor holds no integers, or a value does not fit in an <see cref="int"/>.</exception>
    public int[] ToInt32s()
    {
        if (ElementType == OnnxElementType.Int32)
            return Read<int>().ToArray();
        long[] wide = ToInt64s();
        var result = new int[wide.Length];
        for (int i = 0; i < wide.Length; i++)
            result[i] = wide[i] is >= int.MinValue and <= int.MaxValue ? (int)wide[i] : throw new InvalidOperationException($"Tensor '{Name}' holds {wide[i]}, which does not fit in an Int32.");
        return result;
    }

    /// <summary>The values of an Int8 tensor.</summary>
    /// <exception cref="InvalidOperationException">The tensor is not Int8.</exception>
    public sbyte[] ToInt8s() => Exact<sbyte>(OnnxElementType.Int8);

    /// <summary>The values of a UInt8 tensor.</summary>
    /// <exception cref="InvalidOperationException">The tensor is not UInt8.</exception>
    public byte[] ToUInt8s() => Exact<byte>(OnnxElementType.UInt8);

    /// <summary>The values of a Bool tensor (any non-zero byte is true).</summary>
    /// <exception cref="InvalidOperationException">The tensor is not Bool.</exception>
    public bool[] ToBools() => Exact<byte>(OnnxElementType.Bool).Select(b => b != 0).ToArray();

    /// <summary>The values of a Double tensor at full precision.</summary>
    /// <exception cref="InvalidOperationException">The tensor is not Double.</exception>
    public double[] ToDoubles() => Exact<double>(OnnxElementType.Double);

    /// <summary>The values of a String tensor (UTF-8 decoded).</summary>
    /// <exception cref="InvalidOperationException">The tensor is not String.</exception>
    public string[] ToStrings() => ElementType == OnnxElementType.String ? (string[])_strings!.Clone() : throw NotConvertible("strings");

    /// <summary>The stored bytes, little-endian as in ONNX <c>raw_data</c> (4-bit types: two elements per byte, low nibble first).</summary>
    /// <exception cref="InvalidOperationException">The tensor holds strings.</exception>
    public byte[] ToRawBytes() => ElementType == OnnxElementType.String ? throw NotConvertible("raw bytes") : (byte[])_data.Clone();

    /// <inheritdoc/>
    public override string ToString() => $"{Name}: {ElementType} [{string.Join(", ", Dims)}]";

    private T[] Exact<T>(OnnxElementType expected)
        where T : unmanaged =>
        ElementType == expected ? Read<T>().ToArray() : throw NotConvertible(expected.ToString());

    private static void Widen<T>(ReadOnlySpan<T> source, long[] destination, Func<T, long> widen)
    {
        for (int i = 0; i < source.Length; i++)
            destination[i] = widen(source[i]);
    }

    // The stored bytes are little-endian; on a big-endian machine swap a copy.
    private ReadOnlySpan<T> Read<T>()
        where T : unmanaged
    {
        if (BitConverter.IsLittleEndian || Marshal.SizeOf<T>() == 1)
            return MemoryMarshal.Cast<byte, T>(_data);
        byte[] copy = (byte[])_data.Clone();
        int size = Marshal.SizeOf<T>();
        for (int i = 0; i < copy.Length; i += size)
            copy.AsSpan(i, size).Reverse();
        return MemoryMarshal.Cast<byte, T>(copy);
    }

    private InvalidOperationException NotConvertible(string what) =>
        new($"Tensor '{Name}' holds {ElementType} elements, which cannot be read as {what}.");

    /// <summary>Bytes per element, or 0 for strings and for the 4-bit types (two per byte).</summary>
    internal static int ElementSize(OnnxElementType type) => type switch
    {
        OnnxElementType.Float or OnnxElementType.Int32 or OnnxElementType.UInt32 => 4,
        OnnxElementType.UInt8 or OnnxElementType.Int8 or OnnxElementType.Bool => 1,
        OnnxElementType.Float8E4M3FN or OnnxElementType.Float8E4M3FNUZ or OnnxElementType.Float8E5M2 or OnnxElementType.Float8E5M2FNUZ => 1,
        OnnxElementType.UInt16 or OnnxElementType.Int16 or OnnxElementType.Float16 or OnnxElementType.BFloat16 => 2,
        OnnxElementType.Int64 or OnnxElementType.UInt64 or OnnxElementType.Double or OnnxElementType.Complex64 => 8,
        OnnxElementType.Complex128 => 16,
        _ => 0,
    };

    /// <summary>The number of bytes <paramref name="count"/> elements occupy in raw_data.</summary>
    internal static long ByteLength(OnnxElementType type, long count) =>
        type is OnnxElementType.UInt4 or OnnxElementType.Int4 or OnnxElementType.Float4E2M1 ? (count + 1) / 2 : count * ElementSize(type);
}
