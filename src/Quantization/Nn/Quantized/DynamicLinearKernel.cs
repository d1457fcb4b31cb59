using System.Buffers;
using System.Numerics.Tensors;
using Quantization.Kernels.Elementwise;
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
        var y = Tensor.Uninitialized(n, OutFeatures);
        if (n == 0)
            return y;
        var values = x.AsSpan();
        // Both are NaN when any value is: then find it for the message.
        var (min, max) = QuantizeKernels.MinMax(values);
        if (float.IsNaN(min))
            QuantizedTensor.ThrowIfNaN(values, paramName);
        var (scale, zeroPoint) = DynamicQuantization.ChooseQParams(min, max, 0, byte.MaxValue, reduceRange: ReduceRange);
        byte[] codes = ArrayPool<byte>.Shared.Rent(values.Length);
        try
        {
            QuantizeKernels.QuantizeToUInt8(values, scale, zeroPoint, 0, byte.MaxValue, RoundingConvention.PyTorch, codes);
            Int8Gemm.Multiply(codes.AsSpan(0, values.Length), n, InFeatures, zeroPoint, _packed, Stage.FloatEpilogue(scale), y.AsSpan(), OutFeatures);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(codes);
        }

        if (Stage.Relu)
            TensorPrimitives.Max(y.AsSpan(), 0f, y.AsSpan());
        return y;
    }
}
