namespace Quantization.Onnx.Quantize;

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
    /// Keep activations INT8 between nodes (default on), as ONNX Runtime runs a QDQ model: a quantized layer's QUInt8
    /// output feeds the next quantized layer directly, and the elementwise, pooling and data-movement nodes between
    /// them work on the codes, each output quantized with its own calibrated parameters (which calibration then
    /// records for those values too). Off, every quantized layer quantizes its FP32 input and dequantizes its output,
    /// and the nodes between run FP32.
    /// </summary>
    public bool KeepActivationsInt8 { get; init; } = true;

    /// <summary>
    /// After calibration, put back in FP32 the N quantized nodes that lose the most accuracy, ranked by
    /// <see cref="KeepWorstRanking"/> on the calibration data (which is then enumerated a second time).
    /// </summary>
    public int KeepWorstInFp32 { get; init; }

    /// <summary>
    /// How <see cref="KeepWorstInFp32"/> ranks the quantized nodes (default <see cref="NodeRanking.OutputSqnr"/>, which
    /// runs the graph once per node and sample; <see cref="NodeRanking.LayerSqnr"/> runs it once per sample).
    /// </summary>
    public NodeRanking KeepWorstRanking { get; init; } = NodeRanking.OutputSqnr;
}

/// <summary>How <see cref="StaticQuantizationOptions.KeepWorstInFp32"/> finds the nodes that lose the most accuracy.</summary>
public enum NodeRanking
{
    /// <summary>
    /// By the graph outputs' SQNR with the node alone quantized (every other node FP32) against the FP32 outputs:
    /// the node's effect on what the model computes, including how much later layers amplify its noise.
    /// </summary>
    OutputSqnr,

    /// <summary>By the node's own error (<see cref="NodeComparison.LayerSqnr"/>): cheaper, but blind to how later layers amplify it.</summary>
    LayerSqnr,
}
