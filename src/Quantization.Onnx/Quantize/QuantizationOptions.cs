using Quantization.Graph;

namespace Quantization.Onnx.Quantize;

/// <summary>
/// Which nodes of a <see cref="GraphModule"/> quantization considers (ONNX Runtime's <c>nodes_to_quantize</c>,
/// <c>nodes_to_exclude</c> and <c>op_types_to_quantize</c>). A node is quantized when it is a layer node the mode
/// supports, is listed by <see cref="IncludeNodes"/> (or that list is empty), its op type is listed by
/// <see cref="IncludeOpTypes"/> (or that list is empty), and neither exclusion list names it.
/// </summary>
public abstract record QuantizationOptions
{
    /// <summary>Node names to quantize; empty means every supported node. Names the graph lacks are an error.</summary>
    public IReadOnlyCollection<string> IncludeNodes { get; init; } = [];

    /// <summary>Node names to keep in FP32. Names the graph lacks are an error.</summary>
    public IReadOnlyCollection<string> ExcludeNodes { get; init; } = [];

    /// <summary>ONNX op types to quantize (e.g. <c>Conv</c>, <c>Gemm</c>, <c>MatMul</c>); empty means all supported ones.</summary>
    public IReadOnlyCollection<string> IncludeOpTypes { get; init; } = [];

    /// <summary>ONNX op types to keep in FP32.</summary>
    public IReadOnlyCollection<string> ExcludeOpTypes { get; init; } = [];

    /// <summary>
    /// Use 7-bit integers (activations [0, 127], weights [-64, 63]) so that x86 kernels without VNNI cannot saturate
    /// (ONNX Runtime's <c>reduce_range</c>); off by default, as there.
    /// </summary>
    public bool ReduceRange { get; init; }

    /// <summary>The weight type; the INT8 kernels take <see cref="QuantDType.QInt8"/> weights only.</summary>
    public QuantDType WeightType { get; init; } = QuantDType.QInt8;
}
