using Quantization.Kernels.Gemm;
using Quantization.Kernels.Quantized;

namespace Quantization.Nn.Quantized;

/// <summary>
/// A dynamically quantized <see cref="Linear"/> (PyTorch's <c>nn.quantized.dynamic.Linear</c>): FP32 in and out, s8
/// weights packed once, and on every call the input is quantized to QUInt8 with parameters chosen from its own
/// range (PyTorch's <c>ChooseQuantizationParams</c>, with reduce_range on x86), multiplied in int32, and scaled
/// back to FP32 with the bias added in the GEMM's epilogue. Created by <c>Quantizer.QuantizeDynamic</c>.
/// </summary>
public sealed class DynamicQuantizedLinear : Module
{
    private QuantizedOutputStage _stage;
    private Int8PackedWeights _packed;

    internal DynamicQuantizedLinear(QuantizedOutputStage stage, bool reduceRange)
    {
        _stage = stage;
        ReduceRange = reduceRange;
        OutFeatures = stage.Weight.Shape[0];
        InFeatures = stage.Weight.Shape[1];
        _packed = Pack(stage);
        RegisterQuantized("weight", () => _stage.Weight, w => _stage = new QuantizedOutputStage(w, _stage.Bias, _stage.Relu));
        if (stage.Bias is not null)
            RegisterBuffer("bias", stage.Bias);
    }

    /// <summary>The input width.</summary>
    public int InFeatures { get; }

    /// <summary>The output width.</summary>
    public int OutFeatures { get; }

    /// <summary>Whether activations use [0, 127] (x86, as PyTorch's FBGEMM backend) rather than [0, 255].</summary>
    public bool ReduceRange { get; }

    /// <summary>Whether a ReLU follows (PyTorch's dynamic <c>LinearReLU</c>).</summary>
    public bool Relu => _stage.Relu;

    /// <summary>The s8 weights [out, in] with their parameters.</summary>
    public QuantizedTensor Weight => _stage.Weight;

    /// <summary>The float bias [out], or null.</summary>
    public Tensor? Bias => _stage.Bias;

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The input is not [N, in_features] or contains NaN.</exception>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        InputCheck.Shape(input, nameof(DynamicQuantizedLinear), 2, -1, $"(N, {InFeatures})");
        if (input.Shape[1] != InFeatures)
            throw new ArgumentException($"{nameof(DynamicQuantizedLinear)} expects input (N, {InFeatures}) but got {Tensor.FormatShape(input.Shape)}.", nameof(input));
        var x = input.Value;
        int n = x.Shape[0];
        var y = new Tensor(n, OutFeatures);
        if (n == 0)
            return new Variable(y);
        QuantizedTensor.ThrowIfNaN(x.AsSpan(), nameof(input));
        var (scale, zeroPoint) = DynamicQuantization.ChooseQParams(x.Min(), x.Max(), 0, byte.MaxValue, reduceRange: ReduceRange);
        var q = QuantizedTensor.Quantize(x, QuantParams.PerTensorAffine(scale, zeroPoint, QuantDType.QUInt8));
        Int8Gemm.Multiply(q.AsUInt8Span(), n, InFeatures, zeroPoint, _packed, _stage.FloatEpilogue(scale), y.AsSpan(), OutFeatures);
        if (Relu)
            System.Numerics.Tensors.TensorPrimitives.Max(y.AsSpan(), 0f, y.AsSpan());
        return new Variable(y);
    }

    private protected override void OnStateLoaded()
    {
        _stage = new QuantizedOutputStage(_stage.Weight, _stage.Bias, _stage.Relu);
        _packed = Pack(_stage);
    }

    private Int8PackedWeights Pack(QuantizedOutputStage stage) =>
        Int8Gemm.Pack(stage.Weight.AsInt8Span(), InFeatures, OutFeatures, transposed: true, stage.WeightZeroPoints);

    /// <inheritdoc/>
    public override string ToString() => $"DynamicQuantizedLinear(in_features={InFeatures}, out_features={OutFeatures}, relu={Relu}, reduce_range={ReduceRange})";
}
