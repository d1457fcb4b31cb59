using System.Buffers.Binary;
using System.Globalization;
using Quantization.Onnx.Proto;

namespace Quantization.Onnx.Import;

/// <summary>
/// Turns a <see cref="TensorProto"/> into an <see cref="OnnxTensor"/>. Every size is checked against the data that is
/// actually there (raw_data, the typed field, or the external file's length) before anything is allocated, so a
/// forged header cannot make us allocate gigabytes.
/// </summary>
internal static class TensorReader
{
    public static OnnxTensor Read(TensorProto proto, string what, string? baseDirectory)
    {
        if (proto.Segment is not null)
            throw new OnnxFormatException($"The {what} is a segment of a larger tensor; segmented tensors are not supported.");
        OnnxElementType type = ElementType(proto.DataType, what);
        long[] dims = [.. proto.Dims];
        long count = ElementCount(dims, what);
        string name = proto.Name;

        bool external = proto.DataLocation == TensorProto.Types.DataLocation.External;
        int typedFields = (proto.FloatData.Count > 0 ? 1 : 0) + (proto.Int32Data.Count > 0 ? 1 : 0) + (proto.Int64Data.Count > 0 ? 1 : 0)
            + (proto.DoubleData.Count > 0 ? 1 : 0) + (proto.Uint64Data.Count > 0 ? 1 : 0) + (proto.StringData.Count > 0 ? 1 : 0);
        int sources = typedFields + (proto.HasRawData ? 1 : 0) + (external ? 1 : 0);
        if (sources > 1)
            throw new OnnxFormatException($"The {what} has its data in {sources} places (raw_data, typed fields, external data); exactly one is allowed.");

        if (type == OnnxElementType.String)
        {
            if (proto.HasRawData || external)
                throw new OnnxFormatException($"The {what} is a string tensor but its data is not in string_data.");
            if (proto.StringData.Count != count)
                throw new OnnxFormatException($"The {what} has dims [{string.Join(", ", dims)}] ({count} strings) but string_data holds {proto.StringData.Count}.");
            string[] strings = proto.StringData.Select(s => s.ToStringUtf8()).ToArray();
            return new OnnxTensor(name, type, dims, count, [], strings);
        }

        long byteLength = OnnxTensor.ByteLength(type, count);
        if (byteLength > Array.MaxLength)
            throw new OnnxFormatException($"The {what} would need {byteLength} bytes; at most {Array.MaxLength} are supported.");

        byte[] data;
        if (external)
            data = ReadExternal(proto, what, baseDirectory, byteLength);
        else if (proto.HasRawData)
            data = proto.RawData.Length == byteLength
                ? proto.RawData.ToByteArray()
                : throw new OnnxFormatException($"The {what} has dims [{string.Join(", ", dims)}] ({count} {type} elements, {byteLength} bytes) but raw_data holds {proto.RawData.Length} bytes.");
        else
            data = ReadTyped(proto, type, count, byteLength, what, dims);
        return new OnnxTensor(name, type, dims, count, data, null);
    }

    /// <summary>A tensor built from values in the model (a <c>Constant</c> node's value_float(s)/value_int(s)).</summary>
    public static OnnxTensor FromFloats(string name, long[] dims, IReadOnlyList<float> values)
    {
        var data = new byte[values.Count * 4];
        for (int i = 0; i < values.Count; i++)
            BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(i * 4), values[i]);
        return new OnnxTensor(name, OnnxElementType.Float, dims, values.Count, data, null);
    }

    /// <inheritdoc cref="FromFloats"/>
    public static OnnxTensor FromInt64s(string name, long[] dims, IReadOnlyList<long> values)
    {
        var data = new byte[values.Count * 8];
        for (int i = 0; i < values.Count; i++)
            BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(i * 8), values[i]);
        return new OnnxTensor(name, OnnxElementType.Int64, dims, values.Count, data, null);
    }

    /// <inheritdoc cref="FromFloats"/>
    public static OnnxTensor FromStrings(string name, long[] dims, IReadOnlyList<string> values) =>
        new(name, OnnxElementType.String, dims, values.Count, [], [.. values]);

    /// <summary>The same tensor under another name (a Constant node's value takes the node's output name).</summary>
    public static OnnxTensor Renamed(OnnxTensor tensor, string name) =>
        tensor.ElementType == OnnxElementType.String
            ? FromStrings(name, [.. tensor.Dims], tensor.ToStrings())
            : new OnnxTensor(name, tensor.ElementType, [.. tensor.Dims], tensor.ElementCount, tensor.ToRawBytes(), null);

    public static OnnxElementType ElementType(int code, string what) =>
        code > 0 && Enum.IsDefined((OnnxElementType)code)
            ? (OnnxElementType)code
            : throw new OnnxFormatException($"The {what} has element type {code}, which is not an ONNX data type.");

    /// <summary>The product of the dims, rejecting negative dims and products beyond what an array can hold.</summary>
    public static long ElementCount(IReadOnlyList<long> dims, string what)
    {
        long count = 1;
        for (int i = 0; i < dims.Count; i++)
        {
            if (dims[i] < 0)
                throw new OnnxFormatException($"The {what} has a negative dimension {dims[i]} at axis {i}.");
            if (dims[i] > int.MaxValue || (dims[i] != 0 && count > Array.MaxLength / dims[i]))
                throw new OnnxFormatException($"The {what} has dims [{string.Join(", ", dims)}], more elements than an array can hold ({Array.MaxLength}).");
            count *= dims[i];
        }

        return count;
    }

    private static byte[] ReadTyped(TensorProto proto, OnnxElementType type, long count, long byteLength, string what, long[] dims)
    {
        var data = new byte[byteLength];
        if (count == 0 && proto.FloatData.Count + proto.Int32Data.Count + proto.Int64Data.Count + proto.DoubleData.Count + proto.Uint64Data.Count == 0)
            return data;
        switch (type)
        {
            case OnnxElementType.Float or OnnxElementType.Complex64:
                Check(proto.FloatData.Count, "float_data");
                for (int i = 0; i < proto.FloatData.Count; i++)
                    BinaryPrimitives.WriteSingleLittleEndian(data.AsSpan(i * 4), proto.FloatData[i]);
                break;
            case OnnxElementType.Double or OnnxElementType.Complex128:
                Check(proto.DoubleData.Count, "double_data");
                for (int i = 0; i < proto.DoubleData.Count; i++)
                    BinaryPrimitives.WriteDoubleLittleEndian(data.AsSpan(i * 8), proto.DoubleData[i]);
                break;
            case OnnxElementType.Int64:
                Check(proto.Int64Data.Count, "int64_data");
                for (int i = 0; i < proto.Int64Data.Count; i++)
                    BinaryPrimitives.WriteInt64LittleEndian(data.AsSpan(i * 8), proto.Int64Data[i]);
                break;
            case OnnxElementType.UInt32:
                Check(proto.Uint64Data.Count, "uint64_data");
                for (int i = 0; i < proto.Uint64Data.Count; i++)
                    BinaryPrimitives.WriteUInt32LittleEndian(data.AsSpan(i * 4), (uint)proto.Uint64Data[i]);
                break;
            case OnnxElementType.UInt64:
                Check(proto.Uint64Data.Count, "uint64_data");
                for (int i = 0; i < proto.Uint64Data.Count; i++)
                    BinaryPrimitives.WriteUInt64LittleEndian(data.AsSpan(i * 8), proto.Uint64Data[i]);
                break;
            case OnnxElementType.Int32:
                Check(proto.Int32Data.Count, "int32_data");
                for (int i = 0; i < proto.Int32Data.Count; i++)
                    BinaryPrimitives.WriteInt32LittleEndian(data.AsSpan(i * 4), proto.Int32Data[i]);
                break;
            case OnnxElementType.Int16 or OnnxElementType.UInt16 or OnnxElementType.Float16 or OnnxElementType.BFloat16:
                // 16-bit types keep their bit pattern in the low half of each int32_data entry.
                Check(proto.Int32Data.Count, "int32_data");
                for (int i = 0; i < proto.Int32Data.Count; i++)
                    BinaryPrimitives.WriteUInt16LittleEndian(data.AsSpan(i * 2), (ushort)proto.Int32Data[i]);
                break;
            default:
                // 8-bit and 4-bit types: one stored byte per int32_data entry (4-bit types hold two elements in it).
                Check(proto.Int32Data.Count, "int32_data");
                for (int i = 0; i < proto.Int32Data.Count; i++)
                    data[i] = (byte)proto.Int32Data[i];
                break;
        }

        return data;

        void Check(int stored, string field)
        {
            long expected = type switch
            {
                OnnxElementType.Complex64 or OnnxElementType.Complex128 => count * 2,
                OnnxElementType.UInt4 or OnnxElementType.Int4 or OnnxElementType.Float4E2M1 => byteLength,
                _ => count,
            };
            if (stored != expected)
                throw new OnnxFormatException($"The {what} has dims [{string.Join(", ", dims)}] ({count} {type} elements) but {field} holds {stored} values{(stored == 0 ? " (is its data in another field?)" : "")}.");
        }
    }

    private static byte[] ReadExternal(TensorProto proto, string what, string? baseDirectory, long byteLength)
    {
        string? location = null;
        long offset = 0, length = -1;
        foreach (var entry in proto.ExternalData)
        {
            switch (entry.Key)
            {
                case "location":
                    location = entry.Value;
                    break;
                case "offset":
                    offset = ParseLength(entry.Value, "offset");
                    break;
                case "length":
                    length = ParseLength(entry.Value, "length");
                    break;
                default:
                    break; // "checksum" and future keys do not change where the bytes are
            }
        }

        if (string.IsNullOrEmpty(location))
            throw new OnnxFormatException($"The {what} is stored externally but names no file (external_data has no 'location').");
        if (baseDirectory is null)
            throw new OnnxFormatException($"The {what} is stored in the external file '{location}'; load the model from a path (or pass its folder) so the file can be found.");
        string root = Path.TrimEndingDirectorySeparator(baseDirectory) + Path.DirectorySeparatorChar;
        string full;
        try
        {
            full = Path.GetFullPath(Path.Combine(root, location));
        }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        {
            throw new OnnxFormatException($"The {what} names an invalid external data path '{location}'.", e);
        }

        if (Path.IsPathRooted(location) || !full.StartsWith(root, StringComparison.Ordinal))
            throw new OnnxFormatException($"The {what} names the external data file '{location}', which is outside the model's folder.");
        var file = new FileInfo(full);
        if (!file.Exists)
            throw new OnnxFormatException($"The external data file '{location}' of the {what} does not exist.");
        if (length < 0)
            length = byteLength;
        if (offset > file.Length || length > file.Length - offset)
            throw new OnnxFormatException($"The {what} reads bytes {offset}..{offset + length} of '{location}', beyond its end ({file.Length} bytes).");
        if (length != byteLength)
            throw new OnnxFormatException($"The {what} needs {byteLength} bytes but its external data length is {length}.");

        var data = new byte[byteLength];
        using var handle = File.OpenHandle(full, FileMode.Open, FileAccess.Read);
        int done = 0;
        while (done < data.Length)
        {
            int read = RandomAccess.Read(handle, data.AsSpan(done), offset + done);
            if (read == 0)
                throw new OnnxFormatException($"The external data file '{location}' of the {what} ended early.");
            done += read;
        }

        return data;

        long ParseLength(string text, string key) =>
            long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long value)
                ? value
                : throw new OnnxFormatException($"The {what} has an external data {key} '{text}' that is not a non-negative integer.");
    }
}
