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

/// <summary>Options of <see cref="OnnxQuantizer.QuantizeDynamic"/>.</summary>
public sealed record DynamicQuantizationOptions : QuantizationOptions
{
    /// <summary>One symmetric weight scale per output channel instead of one per tensor (ONNX Runtime's <c>per_channel</c>, default off as there).</summary>
    public bool PerChannel { get; init; }
}

/// <summary>How static quantization turns the calibration data into an activation range (ONNX Runtime's <c>CalibrationMethod</c>).</summary>
public enum CalibrationMethod
{
    /// <summary>The smallest and largest value seen (<see cref="Observers.MinMaxObserver"/>).</summary>
    MinMax,

    /// <summary>The clipping threshold of least KL divergence (<see cref="Observers.EntropyObserver"/>).</summary>
    Entropy,

    /// <summary>A percentile of |x| (<see cref="Observers.PercentileObserver"/>, <see cref="StaticQuantizationOptions.Percentile"/>).</summary>
    Percentile,

    /// <summary>The range of least L2 quantization error over a histogram, PyTorch's default (<see cref="Observers.HistogramObserver"/>).</summary>
    Histogram,
}

/// <summary>Options of <see cref="OnnxQuantizer.QuantizeStatic"/>.</summary>
public sealed record StaticQuantizationOptions : QuantizationOptions
{
    /// <summary>
    /// How activation ranges are chosen. The default, <see cref="CalibrationMethod.Histogram"/> (PyTorch's), kept the
    /// most accuracy on the PP-OCR models; ONNX Runtime's default, <see cref="CalibrationMethod.MinMax"/>, lets rare
    /// outliers widen the ranges.
    /// </summary>
    public CalibrationMethod CalibrationMethod { get; init; } = CalibrationMethod.Histogram;

    /// <summary>The percentile of |x| that <see cref="CalibrationMethod.Percentile"/> keeps (default 99.999, ONNX Runtime's).</summary>
    public double Percentile { get; init; } = 99.999;

    /// <summary>One symmetric weight scale per output channel (default on; per-tensor when off).</summary>
    public bool PerChannel { get; init; } = true;

    /// <summary>The activation type; the INT8 kernels take <see cref="QuantDType.QUInt8"/> activations only.</summary>
    public QuantDType ActivationType { get; init; } = QuantDType.QUInt8;

    /// <summary>
    /// Symmetric activation ranges ([-a, a], zero point 128) instead of affine ones (ONNX Runtime's
    /// <c>ActivationSymmetric</c>); cannot be combined with <see cref="QuantizationOptions.ReduceRange"/>.
    /// </summary>
    public bool SymmetricActivations { get; init; }

    /// <summary>
    /// After calibration, put back in FP32 the N quantized nodes whose own quantization error is largest (lowest
    /// <see cref="NodeComparison.LayerSqnr"/> on the calibration data, which is then enumerated a second time).
    /// </summary>
    public int KeepWorstInFp32 { get; init; }
}

/// <summary>Calibration progress: which pass runs and how many samples it has processed.</summary>
/// <param name="Stage">The pass.</param>
/// <param name="SamplesProcessed">Samples run through the graph so far in this pass.</param>
public sealed record CalibrationProgress(CalibrationStage Stage, int SamplesProcessed);

/// <summary>The passes of <see cref="OnnxQuantizer.QuantizeStatic"/> over the calibration data.</summary>
public enum CalibrationStage
{
    /// <summary>Observers record activation ranges.</summary>
    Calibrating,

    /// <summary>Quantized nodes are compared with their FP32 form to find the worst (only with <see cref="StaticQuantizationOptions.KeepWorstInFp32"/>).</summary>
    Comparing,
}
