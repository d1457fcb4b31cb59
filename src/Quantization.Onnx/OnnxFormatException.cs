namespace Quantization.Onnx;

/// <summary>
/// An ONNX model could not be read: the bytes are not an ONNX protobuf, or the model breaks a rule of the ONNX IR
/// (a missing or duplicate value, a cycle, a tensor whose data does not match its shape, an unsupported opset...).
/// The message names the graph, node, tensor or field at fault.
/// </summary>
public sealed class OnnxFormatException : Exception
{
    /// <summary>Creates the exception.</summary>
    public OnnxFormatException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public OnnxFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
