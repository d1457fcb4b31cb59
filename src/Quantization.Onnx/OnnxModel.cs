using System.Collections.ObjectModel;
using Quantization.Graph;
using Quantization.Onnx.Import;
using Quantization.Onnx.Proto;

namespace Quantization.Onnx;

/// <summary>
/// An ONNX model read from its protobuf form and validated: the main graph (inputs with element types and shapes,
/// symbolic dimensions kept as names; initializers and constants with checked data; nodes in topological order with
/// typed attributes; subgraphs of <c>If</c>/<c>Loop</c>), the opset imports and the producer. Immutable.
/// </summary>
/// <remarks>
/// Standard-domain opsets <see cref="MinOpsetVersion"/>..<see cref="MaxOpsetVersion"/> are supported. Anything that
/// is not a well-formed model throws <see cref="OnnxFormatException"/>, with sizes checked against the data before
/// anything is allocated.
/// </remarks>
public sealed class OnnxModel
{
    /// <summary>The oldest standard opset supported.</summary>
    public const int MinOpsetVersion = 9;

    /// <summary>The newest standard opset supported.</summary>
    public const int MaxOpsetVersion = 21;

    // Protobuf messages cannot exceed 2 GiB; larger weights must use external data.
    private const long MaxModelBytes = int.MaxValue;

    internal OnnxModel(ModelProto proto, Dictionary<string, long> opsets, Dictionary<string, string> metadata, OnnxGraph graph)
    {
        Proto = proto;
        IrVersion = proto.IrVersion;
        ProducerName = proto.ProducerName;
        ProducerVersion = proto.ProducerVersion;
        OpsetImports = new ReadOnlyDictionary<string, long>(opsets);
        Metadata = new ReadOnlyDictionary<string, string>(metadata);
        Graph = graph;
    }

    /// <summary>The ONNX IR version the file declares.</summary>
    public long IrVersion { get; }

    /// <summary>The tool that wrote the file (may be empty).</summary>
    public string ProducerName { get; }

    /// <summary>The version of that tool (may be empty).</summary>
    public string ProducerVersion { get; }

    /// <summary>The operator set version of every imported domain; the standard domain is the empty string.</summary>
    public IReadOnlyDictionary<string, long> OpsetImports { get; }

    /// <summary>The standard-domain opset version.</summary>
    public long OpsetVersion => OpsetImports[""];

    /// <summary>The model's free-form metadata.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>The main graph.</summary>
    public OnnxGraph Graph { get; }

    /// <summary>The parsed file, kept so that export rewrites the model as it was written (node order, names, metadata); never modified.</summary>
    internal ModelProto Proto { get; }

    /// <summary>
    /// Translates the model into a runnable <see cref="GraphModule"/> (FP32): convolutions, fully connected layers and
    /// batch norms become child modules holding the weights; the other operators become graph nodes.
    /// </summary>
    /// <exception cref="OnnxFormatException">The model uses an operator or attribute the graph module does not support; the message names the node.</exception>
    public GraphModule ToGraphModule() => GraphImporter.Import(this);

    /// <summary>Reads a model file; external data files are resolved relative to its folder.</summary>
    /// <exception cref="OnnxFormatException">The file is not a valid, supported ONNX model.</exception>
    /// <exception cref="IOException">The file cannot be read.</exception>
    public static OnnxModel Load(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        string fullPath = Path.GetFullPath(path);
        using var stream = new FileStream(fullPath, FileMode.Open, FileAccess.Read, FileShare.Read);
        return Load(stream, Path.GetDirectoryName(fullPath));
    }

    /// <summary>Reads a model from a stream (read to its end).</summary>
    /// <param name="stream">The serialized model.</param>
    /// <param name="externalDataDirectory">The folder external data paths are relative to; null rejects external data.</param>
    /// <exception cref="OnnxFormatException">The data is not a valid, supported ONNX model.</exception>
    public static OnnxModel Load(Stream stream, string? externalDataDirectory = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (stream.CanSeek && stream.Length - stream.Position > MaxModelBytes)
            throw new OnnxFormatException($"The model is {stream.Length - stream.Position} bytes; a protobuf model is at most {MaxModelBytes} bytes (larger weights belong in external data files).");
        using var buffer = new MemoryStream(stream.CanSeek ? (int)(stream.Length - stream.Position) : 0);
        var chunk = new byte[81920];
        int read;
        while ((read = stream.Read(chunk)) > 0)
        {
            if (buffer.Length + read > MaxModelBytes)
                throw new OnnxFormatException($"The model stream exceeds {MaxModelBytes} bytes, the protobuf limit.");
            buffer.Write(chunk, 0, read);
        }

        return Load(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), externalDataDirectory);
    }

    /// <summary>Reads a model from its serialized bytes.</summary>
    /// <param name="data">The serialized model.</param>
    /// <param name="externalDataDirectory">The folder external data paths are relative to; null rejects external data.</param>
    /// <exception cref="OnnxFormatException">The data is not a valid, supported ONNX model.</exception>
    public static OnnxModel Load(ReadOnlySpan<byte> data, string? externalDataDirectory = null) =>
        ModelReader.Read(data, externalDataDirectory is null ? null : Path.GetFullPath(externalDataDirectory));
}
