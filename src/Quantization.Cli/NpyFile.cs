using System.Buffers.Binary;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;

namespace Quantization.Cli;

/// <summary>
/// Reads NumPy's <c>.npy</c> arrays (format versions 1 to 3, C order, little-endian float32/float64/int8/uint8/
/// int32/int64, converted to FP32) and <c>.npz</c> archives of them (a zip whose entries are named <c>NAME.npy</c>).
/// </summary>
internal static partial class NpyFile
{
    private static readonly byte[] s_magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>The arrays of an <c>.npz</c> archive by name (the entry name without <c>.npy</c>).</summary>
    /// <exception cref="InvalidDataException">The file is not a zip of valid <c>.npy</c> entries.</exception>
    public static Dictionary<string, Tensor> ReadArchive(string path)
    {
        try
        {
            using var zip = ZipFile.OpenRead(path);
            var arrays = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var entry in zip.Entries)
            {
                if (!entry.FullName.EndsWith(".npy", StringComparison.Ordinal))
                    throw new InvalidDataException($"{path}: entry '{entry.FullName}' is not an .npy array.");
                using var stream = entry.Open();
                using var copy = new MemoryStream();
                stream.CopyTo(copy);
                arrays.Add(entry.FullName[..^4], Read(copy.ToArray(), $"{path}:{entry.FullName}"));
            }

            return arrays;
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path}: not a valid .npz archive ({e.Message})", e);
        }
    }

    /// <summary>Reads one <c>.npy</c> file.</summary>
    /// <exception cref="InvalidDataException">The file is not a supported .npy array.</exception>
    public static Tensor Read(string path) => Read(File.ReadAllBytes(path), path);

    /// <summary>Parses the bytes of one <c>.npy</c> array; <paramref name="source"/> names it in errors.</summary>
    /// <exception cref="InvalidDataException">The data is not a supported .npy array.</exception>
    public static Tensor Read(ReadOnlySpan<byte> data, string source)
    {
        if (data.Length < 10 || !data[..6].SequenceEqual(s_magic))
            throw new InvalidDataException($"{source}: not an .npy file (the \\x93NUMPY header is missing).");
        int major = data[6];
        int headerLength, start;
        switch (major)
        {
            case 1:
                headerLength = BinaryPrimitives.ReadUInt16LittleEndian(data[8..]);
                start = 10;
                break;
            case 2 or 3:
                if (data.Length < 12)
                    throw new InvalidDataException($"{source}: the .npy header is truncated.");
                uint length = BinaryPrimitives.ReadUInt32LittleEndian(data[8..]);
                headerLength = length > int.MaxValue ? int.MaxValue : (int)length;
                start = 12;
                break;
            default:
                throw new InvalidDataException($"{source}: .npy format version {major} is not supported (1 to 3 are).");
        }

        if (headerLength > data.Length - start)
            throw new InvalidDataException($"{source}: the .npy header is truncated.");
        string header = Encoding.Latin1.GetString(data.Slice(start, headerLength));
        var descr = Descr().Match(header);
        var shapeMatch = ShapeField().Match(header);
        if (!descr.Success || !shapeMatch.Success)
            throw new InvalidDataException($"{source}: the .npy header has no 'descr' or 'shape': {header.Trim()}");
        if (FortranOrder().IsMatch(header))
            throw new InvalidDataException($"{source}: Fortran-ordered arrays are not supported; save with numpy.ascontiguousarray.");

        int[] shape = shapeMatch.Groups[1].Value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(d => int.TryParse(d, out int v) && v >= 0 ? v : throw new InvalidDataException($"{source}: bad dimension '{d}' in the .npy shape.")).ToArray();
        long count = shape.Aggregate(1L, (a, d) => a * d);
        string type = descr.Groups[1].Value;
        int width = type switch
        {
            "<f4" or "<i4" => 4,
            "<f8" or "<i8" => 8,
            "|u1" or "|i1" or "|b1" => 1,
            _ => throw new InvalidDataException($"{source}: dtype '{type}' is not supported (little-endian float32/float64, int8/uint8, int32/int64 are)."),
        };
        var body = data[(start + headerLength)..];
        if (count > int.MaxValue || count * width != body.Length)
            throw new InvalidDataException($"{source}: the shape ({string.Join(", ", shape)}) of {type} needs {count * width} bytes, the file holds {body.Length}.");

        var values = new float[count];
        for (int i = 0; i < values.Length; i++)
        {
            var at = body[(i * width)..];
            values[i] = type switch
            {
                "<f4" => BinaryPrimitives.ReadSingleLittleEndian(at),
                "<f8" => (float)BinaryPrimitives.ReadDoubleLittleEndian(at),
                "<i4" => BinaryPrimitives.ReadInt32LittleEndian(at),
                "<i8" => BinaryPrimitives.ReadInt64LittleEndian(at),
                "|i1" => (sbyte)at[0],
                _ => at[0],
            };
        }

        return new Tensor(values, shape);
    }

    [GeneratedRegex(@"'descr'\s*:\s*'([^']*)'")]
    private static partial Regex Descr();

    [GeneratedRegex(@"'shape'\s*:\s*\(([^)]*)\)")]
    private static partial Regex ShapeField();

    [GeneratedRegex(@"'fortran_order'\s*:\s*True")]
    private static partial Regex FortranOrder();
}
