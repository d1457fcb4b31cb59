using Google.Protobuf;
using Quantization.Graph;
using Quantization.Nn.Quantized;
using Quantization.Onnx.Proto;

namespace Quantization.Onnx.Export;

/// <summary>
/// Writes a quantized <see cref="GraphModule"/> back to ONNX, in the QDQ format ONNX Runtime's quantization tool
/// produces, or in QOperator format (<see cref="Save(OnnxModel, GraphModule, string, OnnxExportOptions?)"/>); ONNX
/// Runtime runs both on its INT8 kernels.
/// </summary>
public static class OnnxExporter
{
    /// <summary>
    /// Saves <paramref name="quantized"/>, imported from <paramref name="original"/> by
    /// <see cref="OnnxModel.ToGraphModule"/> and then quantized, as a QDQ model at <paramref name="path"/>.
    /// </summary>
    /// <remarks>
    /// <para>
    /// Each <see cref="QdqLayer"/> (<c>Quantizer.Prepare(graph, mapping, perLayer: true)</c>, calibration, then
    /// <c>Quantizer.Convert</c>) becomes: its input through <c>QuantizeLinear → DequantizeLinear</c> (u8, the calibrated
    /// scale and zero point), s8 weights behind a <c>DequantizeLinear</c> (per channel along the output channels, or
    /// per tensor), an int32 bias at scale <c>input scale · weight scale</c> behind a <c>DequantizeLinear</c>, the
    /// original Conv/Gemm/MatMul, and its output through <c>QuantizeLinear → DequantizeLinear</c> with the calibrated
    /// output parameters. ONNX Runtime fuses these into its integer operators (QLinearConv, QGemm...).
    /// </para>
    /// <para>
    /// A <see cref="DynamicQuantizedLinear"/> (<c>Quantizer.QuantizeDynamic</c>) is written weight-only: s8 weights
    /// behind a <c>DequantizeLinear</c>, float bias, FP32 activations. This keeps the file small and the graph plain
    /// ONNX; ONNX Runtime then multiplies in FP32, where our kernel also quantizes each call's activations.
    /// </para>
    /// <para>
    /// Float layers and all other nodes are written as in the original file (float layers with its weights), and
    /// float weights no node reads any more are dropped; weights kept in external data files are written into the
    /// model (one file, at most 2 GiB). Models below opset 13 are raised to 13, the first opset with
    /// per-channel <c>DequantizeLinear</c>, with the operators whose meaning changed rewritten (Clip, Slice, Pad,
    /// Squeeze, Unsqueeze, Resize, Softmax).
    /// </para>
    /// </remarks>
    /// <param name="original">The model the graph was imported from.</param>
    /// <param name="quantized">The quantized graph.</param>
    /// <param name="path">The file to write (replaced if it exists).</param>
    /// <exception cref="ArgumentException">The graph was not imported from <paramref name="original"/> (its nodes do not match), or a layer is still observed (Convert was not called).</exception>
    /// <exception cref="NotSupportedException">A layer has a kind that cannot be exported (the message names it) or a quantized layer is inside a control-flow subgraph.</exception>
    public static void SaveQdq(OnnxModel original, GraphModule quantized, string path)
    {
        Save(original, quantized, path);
    }

    /// <summary>Writes the QDQ model to <paramref name="stream"/>; see <see cref="SaveQdq(OnnxModel, GraphModule, string)"/>.</summary>
    /// <inheritdoc cref="SaveQdq(OnnxModel, GraphModule, string)" path="/exception"/>
    public static void SaveQdq(OnnxModel original, GraphModule quantized, Stream stream)
    {
        Save(original, quantized, stream);
    }

    /// <summary>
    /// Saves <paramref name="quantized"/> at <paramref name="path"/> in the form <paramref name="options"/> asks for:
    /// QDQ as <see cref="SaveQdq(OnnxModel, GraphModule, string)"/> writes it (the default), or QOperator.
    /// </summary>
    /// <remarks>
    /// In <see cref="QuantFormat.QOperator"/> form each statically quantized Conv and MatMul of the QDQ model is one
    /// QLinearConv or QLinearMatMul on u8 activation codes, s8 weights and an int32 bias (whose scale, input scale
    /// times weight scale, the operator implies). Activations travel between integer operators as codes; the float
    /// nodes between them (activation functions, residual sums, pooling) read them through <c>DequantizeLinear</c> and
    /// write them through <c>QuantizeLinear</c> as in the QDQ model, folded batch norms leave no <c>Identity</c>
    /// behind, and equal small constants are written once. The file computes what the QDQ model computes. Gemm layers
    /// and dynamically quantized layers keep their QDQ form: ONNX has no standard integer operator with their meaning.
    /// All operators are in the standard ONNX domain.
    /// </remarks>
    /// <param name="original">The model the graph was imported from.</param>
    /// <param name="quantized">The quantized graph.</param>
    /// <param name="path">The file to write (replaced if it exists).</param>
    /// <param name="options">The format and naming; null for QDQ with the original names.</param>
    /// <inheritdoc cref="SaveQdq(OnnxModel, GraphModule, string)" path="/exception"/>
    public static void Save(OnnxModel original, GraphModule quantized, string path, OnnxExportOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        var model = Build(original, quantized, options);
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write);
        model.WriteTo(stream);
    }

    /// <summary>Writes the model to <paramref name="stream"/>; see <see cref="Save(OnnxModel, GraphModule, string, OnnxExportOptions?)"/>.</summary>
    /// <inheritdoc cref="Save(OnnxModel, GraphModule, string, OnnxExportOptions?)" path="/param"/>
    /// <inheritdoc cref="SaveQdq(OnnxModel, GraphModule, string)" path="/exception"/>
    public static void Save(OnnxModel original, GraphModule quantized, Stream stream, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(stream);
        Build(original, quantized, options).WriteTo(stream);
    }

    private static ModelProto Build(OnnxModel original, GraphModule quantized, OnnxExportOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(original);
        ArgumentNullException.ThrowIfNull(quantized);
        options ??= new OnnxExportOptions();
        if (!Enum.IsDefined(options.Format))
            throw new ArgumentException($"Unknown format {options.Format}.", nameof(options));
        var model = QdqRewriter.Rewrite(original, quantized);
        if (options.Format == QuantFormat.QOperator)
            QOperatorFolding.Apply(model);
        if (options.CompactNames)
            NameCompaction.Apply(model);
        return model;
    }
}
