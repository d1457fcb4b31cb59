using System.IO.Compression;
using System.Text;

namespace Quantization.Onnx.Tests.Cli;

/// <summary>Writes .npy/.npz files byte by byte from the NumPy format description, for the reader's tests.</summary>
internal static class NpyTestFiles
{
    /// <summary>A version-1 .npy of little-endian float32 values.</summary>
    public static byte[] Float32(float[] values, params int[] shape) =>
        Array("<f4", shape, values.SelectMany(BitConverter.GetBytes).ToArray());

    /// <summary>A version-1 .npy with the given descr and raw data.</summary>
    public static byte[] Array(string descr, int[] shape, byte[] data, string extra = "'fortran_order': False")
    {
        string dims = shape.Length == 1 ? $"{shape[0]}," : string.Join(", ", shape);
        string header = $"{{'descr': '{descr}', {extra}, 'shape': ({dims}), }}";
        // NumPy pads the header with spaces and a newline so the data starts on a 64-byte boundary.
        int total = 10 + header.Length + 1;
        header += new string(' ', (64 - total % 64) % 64) + "\n";
        var bytes = new List<byte> { 0x93 };
        bytes.AddRange("NUMPY"u8.ToArray());
        bytes.AddRange([1, 0]);
        bytes.AddRange(BitConverter.GetBytes((ushort)header.Length));
        bytes.AddRange(Encoding.Latin1.GetBytes(header));
        bytes.AddRange(data);
        return [.. bytes];
    }

    /// <summary>A .npz (zip) of named arrays.</summary>
    public static void WriteArchive(string path, params (string Name, byte[] Npy)[] arrays)
    {
        using var zip = ZipFile.Open(path, ZipArchiveMode.Create);
        foreach (var (name, npy) in arrays)
        {
            using var stream = zip.CreateEntry(name + ".npy").Open();
            stream.Write(npy);
        }
    }
}
