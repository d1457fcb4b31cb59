namespace Quantization.Onnx.Quantize;

/// <summary>Options of <see cref="OnnxQuantizer.QuantizeDynamic"/>.</summary>
public sealed record DynamicQuantizationOptions : QuantizationOptions
{
    /// <summary>One symmetric weight scale per output channel instead of one per tensor (ONNX Runtime's <c>per_channel</c>, default off as there).</summary>
    public bool PerChannel { get; init; }
}
