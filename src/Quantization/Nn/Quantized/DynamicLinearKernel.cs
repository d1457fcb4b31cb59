using Quantization.Kernels.Gemm;
using Quantization.Kernels.Quantized;

namespace Quantization.Nn.Quantized;

/// <summary>
/// The computation of a dynamically quantized linear map: s8 weights packed once; per call the FP32 rows are
/// quantized to QUInt8 with parameters from their own range (PyTorch's <c>ChooseQuantizationParams</c>), multiplied in
/// int32 and scaled back to FP32 with the bias in the GEMM's epilogue.
/// </summary>
internal sealed class DynamicLinearKernel
{
    private readonly Int8PackedWeights _packed;

    public DynamicLinearKernel(QuantizedOutputStage stage, bool reduceRange)
    {
        Stage = stage;
        ReduceRange = reduceRange;
        _packed = Int8Gemm.Pack(stage.Weight.AsInt8Span(), InFeatures, OutFeatures, transposed: true, stage.WeightZeroPoints);
    }

    public QuantizedOutputStage Stage { get; }

    public bool ReduceRange { get; }

    public int InFeatures => Stage.Weight.Shape[1];

    public int OutFeatures => Stage.Weight.Shape[0];

    /// <summary>y [n, out] = dequantize(quantize(x) · Wᵀ) + b for x [n, in] (n may be 0).</summary>
    /// <exception cref="ArgumentException">x contains NaN.</exception>
    public Tensor Run(Tensor x, string paramName)
    {
        int n = x.Shape[0];
        var y = new Tensor(n, OutFeatures);
        if (n == 0)
            return y;
        QuantizedTensor.ThrowIfNaN(x.AsSpan(), paramName);
        var (scale, zeroPoint) = DynamicQuantization.ChooseQParams(x.Min(), x.Max(), 0, byte.MaxValue, reduceRange: ReduceRange);
        var q = QuantizedTensor.Quantize(x, QuantParams.PerTensorAffine(scale, zeroPoint, QuantDType.QUInt8));
        Int8Gemm.Multiply(q.AsUInt8Span(), n, InFeatures, zeroPoint, _packed, Stage.FloatEpilogue(scale), y.AsSpan(), OutFeatures);
        if (Stage.Relu)
            System.Numerics.Tensors.TensorPrimitives.Max(y.AsSpan(), 0f, y.AsSpan());
        return y;
    }
}
