using System.Buffers.Binary;
using System.Text;

namespace Quantization.Nn;

/// <summary>
/// Saves and loads a state dict (tensors by name) as one binary file: the model format, for float and quantized
/// models alike (a quantized model stores its integer weights at one byte each, with their scales and zero points).
/// </summary>
/// <remarks>
/// Format version 2, all integers and floats little-endian:
/// <code>
/// "QNNSTATE" (8 ASCII bytes) | version: int32 = 2 | entry count: int32
/// per entry: name length: int32 (1..1024) | name: UTF-8 | kind: int32 (0 float, 1 quantized) | rank: int32 (0..8) | dims: int32 × rank
///   kind 0: values: float32 × Π dims
///   kind 1: dtype: int32 (QuantDType) | scheme: int32 (QScheme) | axis: int32 | channels: int32 (1..) | scales: float32 × channels
///           | zero points: int32 × channels | values: Π dims × (1 byte for QInt8/QUInt8, 4 for QInt32)
/// trailer: FNV-1a 64-bit hash (uint64) of every preceding byte
/// </code>
/// Version 1 (float entries without the kind field) is still read. The hash catches corruption and truncation;
/// every length is checked against the bytes left before it is used, so a damaged file gives an
/// <see cref="InvalidDataException"/> that says what is wrong.
/// </remarks>
public static class StateDictFile
{
    /// <summary>The current format version.</summary>
    public const int FormatVersion = 2;

    private const int MaxNameBytes = 1024;
    private const int MaxRank = 8;
    private const int KindFloat = 0;
    private const int KindQuantized = 1;
    private static readonly byte[] s_magic = "QNNSTATE"u8.ToArray();
    private static readonly Dictionary<string, QuantizedTensor> s_noQuantized = [];

    /// <summary>Writes <paramref name="state"/> to <paramref name="path"/> (replacing the file).</summary>
    public static void Save(IReadOnlyDictionary<string, Tensor> state, string path) => Save(state, s_noQuantized, path);

    /// <summary>Writes <paramref name="state"/> to <paramref name="stream"/>.</summary>
    /// <exception cref="ArgumentException">A name is empty or longer than 1024 UTF-8 bytes, or a tensor has rank above 8.</exception>
    public static void Save(IReadOnlyDictionary<string, Tensor> state, Stream stream) => Save(state, s_noQuantized, stream);

    /// <summary>Writes float and quantized tensors to <paramref name="path"/> (replacing the file).</summary>
    /// <exception cref="ArgumentException">A name is empty, too long or in both dictionaries, or a tensor has rank above 8.</exception>
    public static void Save(IReadOnlyDictionary<string, Tensor> state, IReadOnlyDictionary<string, QuantizedTensor> quantized, string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = File.Create(path);
        Save(state, quantized, stream);
    }

    /// <summary>Writes float and quantized tensors to <paramref name="stream"/>.</summary>
    /// <exception cref="ArgumentException">A name is empty, too long or in both dictionaries, or a tensor has rank above 8.</exception>
    public static void Save(IReadOnlyDictionary<string, Tensor> state, IReadOnlyDictionary<string, QuantizedTensor> quantized, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(quantized);
        ArgumentNullException.ThrowIfNull(stream);
        using var buffer = new MemoryStream();
        buffer.Write(s_magic);
        WriteInt(buffer, FormatVersion);
        WriteInt(buffer, state.Count + quantized.Count);
        foreach (var (name, tensor) in state)
        {
            WriteHeader(buffer, name, KindFloat, tensor.Shape);
            var bytes = new byte[tensor.Length * sizeof(float)];
            for (int i = 0; i < tensor.Length; i++)
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), tensor.AsSpan()[i]);
            buffer.Write(bytes);
        }

        foreach (var (name, tensor) in quantized)
        {
            if (state.ContainsKey(name))
                throw new ArgumentException($"'{name}' is both a float and a quantized entry.", nameof(quantized));
            WriteHeader(buffer, name, KindQuantized, tensor.Shape);
            var qp = tensor.QParams;
            WriteInt(buffer, (int)qp.DType);
            WriteInt(buffer, (int)qp.Scheme);
            WriteInt(buffer, qp.Axis);
            WriteInt(buffer, qp.ChannelCount);
            foreach (float scale in qp.Scales)
                WriteInt(buffer, BitConverter.SingleToInt32Bits(scale));
            foreach (int zp in qp.ZeroPoints)
                WriteInt(buffer, zp);
            switch (qp.DType)
            {
                case QuantDType.QUInt8:
                    buffer.Write(tensor.AsUInt8Span());
                    break;
                case QuantDType.QInt8:
                    buffer.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(tensor.AsInt8Span()));
                    break;
                default:
                    foreach (int v in tensor.AsInt32Span())
                        WriteInt(buffer, v);
                    break;
            }
        }

        Span<byte> hash = stackalloc byte[sizeof(ulong)];
        BinaryPrimitives.WriteUInt64LittleEndian(hash, Fnv1a(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)));
        buffer.Write(hash);
        buffer.Position = 0;
        buffer.CopyTo(stream);
    }

    /// <summary>Reads a float state dict from <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a state dict, has an unknown version, is truncated or corrupt, or holds quantized tensors (use <see cref="LoadAll(string)"/>).</exception>
    public static Dictionary<string, Tensor> Load(string path) => FloatOnly(LoadAll(path));

    /// <summary>Reads a float state dict from <paramref name="stream"/> (to its end).</summary>
    /// <exception cref="InvalidDataException">The data is not a state dict, has an unknown version, is truncated or corrupt, or holds quantized tensors (use <see cref="LoadAll(Stream)"/>).</exception>
    public static Dictionary<string, Tensor> Load(Stream stream) => FloatOnly(LoadAll(stream));

    /// <summary>Reads the float and the quantized tensors of a state dict from <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a state dict, has an unknown version, or is truncated or corrupt.</exception>
    public static (Dictionary<string, Tensor> Float, Dictionary<string, QuantizedTensor> Quantized) LoadAll(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = File.OpenRead(path);
        return LoadAll(stream);
    }

    /// <summary>Reads the float and the quantized tensors of a state dict from <paramref name="stream"/> (to its end).</summary>
    /// <exception cref="InvalidDataException">The data is not a state dict, has an unknown version, or is truncated or corrupt.</exception>
    public static (Dictionary<string, Tensor> Float, Dictionary<string, QuantizedTensor> Quantized) LoadAll(Stream stream)
    {
        ArgumentNullException.ThrowIfNull(stream);
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        ReadOnlySpan<byte> data = copy.GetBuffer().AsSpan(0, (int)copy.Length);
        if (data.Length < s_magic.Length || !data[..s_magic.Length].SequenceEqual(s_magic))
            throw new InvalidDataException("Not a state-dict file: the 'QNNSTATE' header is missing.");
        if (data.Length < s_magic.Length + 8 + sizeof(ulong))
            throw new InvalidDataException($"The state-dict file is truncated: {data.Length} bytes is shorter than the header.");
        int version = BinaryPrimitives.ReadInt32LittleEndian(data[s_magic.Length..]);
        if (version is not (1 or FormatVersion))
            throw new InvalidDataException($"State-dict format version {version} is not supported (this library reads versions 1 and {FormatVersion}).");
        var body = data[..^sizeof(ulong)];
        if (BinaryPrimitives.ReadUInt64LittleEndian(data[^sizeof(ulong)..]) != Fnv1a(body))
            throw new InvalidDataException("The state-dict file is corrupt or truncated: its checksum does not match.");

        int position = s_magic.Length + 4;
        int count = ReadInt(body, ref position, "the entry count");
        if (count < 0)
            throw new InvalidDataException($"The state-dict file has a negative entry count ({count}).");
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var quantized = new Dictionary<string, QuantizedTensor>(StringComparer.Ordinal);
        for (int e = 0; e < count; e++)
        {
            int nameLength = ReadInt(body, ref position, $"the name length of entry {e}");
            if (nameLength is <= 0 or > MaxNameBytes || nameLength > body.Length - position)
                throw new InvalidDataException($"Entry {e} has an invalid name length {nameLength}.");
            string name = Encoding.UTF8.GetString(body.Slice(position, nameLength));
            position += nameLength;
            if (state.ContainsKey(name) || quantized.ContainsKey(name))
                throw new InvalidDataException($"The state-dict file holds '{name}' twice.");
            int kind = version == 1 ? KindFloat : ReadInt(body, ref position, $"the kind of '{name}'");
            if (kind is not (KindFloat or KindQuantized))
                throw new InvalidDataException($"'{name}' has an unknown kind {kind}.");
            int rank = ReadInt(body, ref position, $"the rank of '{name}'");
            if (rank is < 0 or > MaxRank)
                throw new InvalidDataException($"'{name}' has an invalid rank {rank}.");
            var shape = new int[rank];
            long length = 1;
            for (int i = 0; i < rank; i++)
            {
                shape[i] = ReadInt(body, ref position, $"dimension {i} of '{name}'");
                if (shape[i] < 0)
                    throw new InvalidDataException($"'{name}' has a negative dimension {shape[i]}.");
                length *= shape[i];
                if (length > body.Length)
                    throw new InvalidDataException($"'{name}' claims more values than the file holds.");
            }

            if (kind == KindQuantized)
            {
                quantized.Add(name, ReadQuantized(body, ref position, name, shape, (int)length));
                continue;
            }

            int bytes = (int)length * sizeof(float);
            if (bytes > body.Length - position)
                throw new InvalidDataException($"The values of '{name}' are truncated: {bytes} bytes needed, {body.Length - position} left.");
            var values = new float[length];
            for (int i = 0; i < values.Length; i++)
                values[i] = BinaryPrimitives.ReadSingleLittleEndian(body.Slice(position + i * sizeof(float)));
            position += bytes;
            state.Add(name, new Tensor(values, shape));
        }

        if (position != body.Length)
            throw new InvalidDataException($"The state-dict file has {body.Length - position} unexpected bytes after its last entry.");
        return (state, quantized);
    }

    private static Dictionary<string, Tensor> FloatOnly((Dictionary<string, Tensor> Float, Dictionary<string, QuantizedTensor> Quantized) contents) =>
        contents.Quantized.Count == 0
            ? contents.Float
            : throw new InvalidDataException($"The state-dict file holds quantized tensors ({string.Join(", ", contents.Quantized.Keys.Take(3))}...); read it with LoadAll or Module.Load.");

    private static QuantizedTensor ReadQuantized(ReadOnlySpan<byte> body, ref int position, string name, int[] shape, int length)
    {
        var dtype = (QuantDType)ReadInt(body, ref position, $"the dtype of '{name}'");
        var scheme = (QScheme)ReadInt(body, ref position, $"the scheme of '{name}'");
        int axis = ReadInt(body, ref position, $"the axis of '{name}'");
        int channels = ReadInt(body, ref position, $"the channel count of '{name}'");
        if (!Enum.IsDefined(dtype) || !Enum.IsDefined(scheme))
            throw new InvalidDataException($"'{name}' has an unknown dtype {(int)dtype} or scheme {(int)scheme}.");
        if (channels <= 0 || channels > (body.Length - position) / 8)
            throw new InvalidDataException($"'{name}' has an invalid channel count {channels}.");
        var scales = new float[channels];
        var zeroPoints = new int[channels];
        for (int c = 0; c < channels; c++)
            scales[c] = BitConverter.Int32BitsToSingle(ReadInt(body, ref position, $"the scales of '{name}'"));
        for (int c = 0; c < channels; c++)
            zeroPoints[c] = ReadInt(body, ref position, $"the zero points of '{name}'");
        int width = dtype == QuantDType.QInt32 ? sizeof(int) : 1;
        if ((long)length * width > body.Length - position)
            throw new InvalidDataException($"The values of '{name}' are truncated.");
        var values = new int[length];
        for (int i = 0; i < length; i++)
        {
            values[i] = dtype switch
            {
                QuantDType.QUInt8 => body[position + i],
                QuantDType.QInt8 => (sbyte)body[position + i],
                _ => BinaryPrimitives.ReadInt32LittleEndian(body[(position + i * 4)..]),
            };
        }

        position += length * width;
        try
        {
            var qparams = scheme.IsPerChannel()
                ? (scheme.IsSymmetric() ? QuantParams.PerChannelSymmetric(scales, axis, dtype) : QuantParams.PerChannelAffine(scales, zeroPoints, axis, dtype))
                : (scheme.IsSymmetric() ? QuantParams.PerTensorSymmetric(scales[0], dtype) : QuantParams.PerTensorAffine(scales[0], zeroPoints[0], dtype));
            return QuantizedTensor.FromIntRepr(values, shape, qparams);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"'{name}' has invalid quantization parameters or values: {e.Message}", e);
        }
    }

    private static void WriteHeader(Stream buffer, string name, int kind, ReadOnlySpan<int> shape)
    {
        byte[] nameBytes = Encoding.UTF8.GetBytes(name);
        if (nameBytes.Length is 0 or > MaxNameBytes)
            throw new ArgumentException($"The name '{name}' must have 1 to {MaxNameBytes} UTF-8 bytes.", "state");
        if (shape.Length > MaxRank)
            throw new ArgumentException($"'{name}' has rank {shape.Length}; at most {MaxRank} is supported.", "state");
        WriteInt(buffer, nameBytes.Length);
        buffer.Write(nameBytes);
        WriteInt(buffer, kind);
        WriteInt(buffer, shape.Length);
        foreach (int d in shape)
            WriteInt(buffer, d);
    }

    private static void WriteInt(Stream stream, int value)
    {
        Span<byte> bytes = stackalloc byte[sizeof(int)];
        BinaryPrimitives.WriteInt32LittleEndian(bytes, value);
        stream.Write(bytes);
    }

    private static int ReadInt(ReadOnlySpan<byte> data, ref int position, string what)
    {
        if (data.Length - position < sizeof(int))
            throw new InvalidDataException($"The state-dict file is truncated while reading {what}.");
        int value = BinaryPrimitives.ReadInt32LittleEndian(data[position..]);
        position += sizeof(int);
        return value;
    }

    private static ulong Fnv1a(ReadOnlySpan<byte> data)
    {
        ulong hash = 14695981039346656037UL;
        foreach (byte b in data)
            hash = (hash ^ b) * 1099511628211UL;
        return hash;
    }
}
