using System.Buffers.Binary;
using System.Text;

namespace Quantization.Nn;

/// <summary>
/// Saves and loads a state dict (tensors by name) as one binary file, the float model format.
/// </summary>
/// <remarks>
/// Format version 1, all integers and floats little-endian:
/// <code>
/// "QNNSTATE" (8 ASCII bytes) | version: int32 = 1 | entry count: int32
/// per entry: name length: int32 (1..1024) | name: UTF-8 | rank: int32 (0..8) | dims: int32 × rank | values: float32 × Π dims
/// trailer: FNV-1a 64-bit hash (uint64) of every preceding byte
/// </code>
/// The hash catches corruption and truncation; every length is checked against the bytes left before it is used,
/// so a damaged file gives an <see cref="InvalidDataException"/> that says what is wrong.
/// </remarks>
public static class StateDictFile
{
    /// <summary>The current format version.</summary>
    public const int FormatVersion = 1;

    private const int MaxNameBytes = 1024;
    private const int MaxRank = 8;
    private static readonly byte[] s_magic = "QNNSTATE"u8.ToArray();

    /// <summary>Writes <paramref name="state"/> to <paramref name="path"/> (replacing the file).</summary>
    public static void Save(IReadOnlyDictionary<string, Tensor> state, string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = File.Create(path);
        Save(state, stream);
    }

    /// <summary>Writes <paramref name="state"/> to <paramref name="stream"/>.</summary>
    /// <exception cref="ArgumentException">A name is empty or longer than 1024 UTF-8 bytes, or a tensor has rank above 8.</exception>
    public static void Save(IReadOnlyDictionary<string, Tensor> state, Stream stream)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(stream);
        using var buffer = new MemoryStream();
        buffer.Write(s_magic);
        WriteInt(buffer, FormatVersion);
        WriteInt(buffer, state.Count);
        foreach (var (name, tensor) in state)
        {
            byte[] nameBytes = Encoding.UTF8.GetBytes(name);
            if (nameBytes.Length is 0 or > MaxNameBytes)
                throw new ArgumentException($"The name '{name}' must have 1 to {MaxNameBytes} UTF-8 bytes.", nameof(state));
            if (tensor.Rank > MaxRank)
                throw new ArgumentException($"'{name}' has rank {tensor.Rank}; at most {MaxRank} is supported.", nameof(state));
            WriteInt(buffer, nameBytes.Length);
            buffer.Write(nameBytes);
            WriteInt(buffer, tensor.Rank);
            foreach (int d in tensor.Shape)
                WriteInt(buffer, d);
            var bytes = new byte[tensor.Length * sizeof(float)];
            for (int i = 0; i < tensor.Length; i++)
                BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), tensor.AsSpan()[i]);
            buffer.Write(bytes);
        }

        Span<byte> hash = stackalloc byte[sizeof(ulong)];
        BinaryPrimitives.WriteUInt64LittleEndian(hash, Fnv1a(buffer.GetBuffer().AsSpan(0, (int)buffer.Length)));
        buffer.Write(hash);
        buffer.Position = 0;
        buffer.CopyTo(stream);
    }

    /// <summary>Reads a state dict from <paramref name="path"/>.</summary>
    /// <exception cref="InvalidDataException">The file is not a state dict, has an unknown version, or is truncated or corrupt.</exception>
    public static Dictionary<string, Tensor> Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var stream = File.OpenRead(path);
        return Load(stream);
    }

    /// <summary>Reads a state dict from <paramref name="stream"/> (to its end).</summary>
    /// <exception cref="InvalidDataException">The data is not a state dict, has an unknown version, or is truncated or corrupt.</exception>
    public static Dictionary<string, Tensor> Load(Stream stream)
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
        if (version != FormatVersion)
            throw new InvalidDataException($"State-dict format version {version} is not supported (this library reads version {FormatVersion}).");
        var body = data[..^sizeof(ulong)];
        if (BinaryPrimitives.ReadUInt64LittleEndian(data[^sizeof(ulong)..]) != Fnv1a(body))
            throw new InvalidDataException("The state-dict file is corrupt or truncated: its checksum does not match.");

        int position = s_magic.Length + 4;
        int count = ReadInt(body, ref position, "the entry count");
        if (count < 0)
            throw new InvalidDataException($"The state-dict file has a negative entry count ({count}).");
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        for (int e = 0; e < count; e++)
        {
            int nameLength = ReadInt(body, ref position, $"the name length of entry {e}");
            if (nameLength is <= 0 or > MaxNameBytes || nameLength > body.Length - position)
                throw new InvalidDataException($"Entry {e} has an invalid name length {nameLength}.");
            string name = Encoding.UTF8.GetString(body.Slice(position, nameLength));
            position += nameLength;
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
                if (length * sizeof(float) > body.Length)
                    throw new InvalidDataException($"'{name}' claims more values than the file holds.");
            }

            int bytes = (int)length * sizeof(float);
            if (bytes > body.Length - position)
                throw new InvalidDataException($"The values of '{name}' are truncated: {bytes} bytes needed, {body.Length - position} left.");
            var values = new float[length];
            for (int i = 0; i < values.Length; i++)
                values[i] = BinaryPrimitives.ReadSingleLittleEndian(body.Slice(position + i * sizeof(float)));
            position += bytes;
            if (!state.TryAdd(name, new Tensor(values, shape)))
                throw new InvalidDataException($"The state-dict file holds '{name}' twice.");
        }

        if (position != body.Length)
            throw new InvalidDataException($"The state-dict file has {body.Length - position} unexpected bytes after its last entry.");
        return state;
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
