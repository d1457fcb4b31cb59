namespace Quantization.Onnx.Export;

/// <summary>How quantized layers are written to ONNX (ONNX Runtime's quantization tool names the same choice <c>QuantFormat</c>).</summary>
public enum QuantFormat
{
    /// <summary>
    /// The original operators between <c>QuantizeLinear</c>/<c>DequantizeLinear</c> nodes; ONNX Runtime fuses each
    /// group into its integer operator when it loads the model.
    /// </summary>
    Qdq,

    /// <summary>
    /// Integer operators where ONNX has one with the layer's meaning (QLinearConv, QLinearMatMul), reading and writing
    /// u8 codes; everything else as in <see cref="Qdq"/>. Smaller than QDQ.
    /// </summary>
    QOperator,
}

/// <summary>Options of <see cref="OnnxExporter.Save(OnnxModel, Quantization.Graph.GraphModule, string, OnnxExportOptions?)"/>.</summary>
public sealed record OnnxExportOptions
{
    /// <summary>The form of the quantized layers; <see cref="QuantFormat.Qdq"/> by default.</summary>
    public QuantFormat Format { get; init; } = QuantFormat.Qdq;

    /// <summary>
    /// Names every value and initializer inside the graph with a short generated name and leaves the nodes unnamed, to
    /// make small models smaller (names are a tenth of a half-megabyte classifier). The graph's inputs and outputs, and
    /// values that control-flow subgraphs read, keep their names, so callers feed and read the model as before. Off by
    /// default: the original names help when reading the model in a viewer.
    /// </summary>
    public bool CompactNames { get; init; }
}
