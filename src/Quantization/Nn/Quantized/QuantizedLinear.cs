using Quantization.Kernels.Gemm;

namespace Quantization.Nn.Quantized;

/// <summary>
/// A statically quantized <see cref="Linear"/> (PyTorch's <c>nn.quantized.Linear</c>, or <c>LinearReLU</c> when
/// <see cref="Relu"/>): QUInt8 input [N, in] times s8 weights packed once, int32 accumulation, and the bias, ReLU and
/// requantization to the calibrated output scale and zero point fused into the GEMM. Created by <c>Quantizer.Convert</c>.
/// </summary>
public sealed class QuantizedLinear : QuantizedModule
{
    private QuantizedOutputStage _stage;
    private Int8PackedWeights _packed;

    internal QuantizedLinear(QuantizedOutputStage stage, QuantParams output)
        : base(output)
    {
        _stage = stage;
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

    /// <summary>Whether a ReLU is fused (the output clamps at its zero point).</summary>
    public bool Relu => _stage.Relu;

    /// <summary>The s8 weights [out, in] with their (per-tensor or per-channel) parameters.</summary>
    public QuantizedTensor Weight => _stage.Weight;

    /// <summary>The float bias [out], or null.</summary>
    public Tensor? Bias => _stage.Bias;

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The input is not quantized (QUInt8, per tensor) or is not [N, in_features].</exception>
    public override Variable Forward(Variable input)
    {
        var q = QuantizedInput.Require(input, nameof(QuantizedLinear));
        if (q.Rank != 2 || q.Shape[1] != InFeatures)
            throw new ArgumentException($"{nameof(QuantizedLinear)} expects input (N, {InFeatures}) but got {Tensor.FormatShape(q.Shape)}.", nameof(input));
        var output = OutputQParams;
        int n = q.Shape[0];
        var epilogue = _stage.Epilogue(q.QParams.Scale, output.Scale, output.ZeroPoint);
        var y = TensorArena.RentBytes(n * OutFeatures);
        Int8Gemm.Multiply<byte>(q.AsUInt8Span(), n, InFeatures, q.QParams.ZeroPoint, _packed, epilogue, y, OutFeatures);
        return new Variable(QuantizedTensor.Wrap(y, [n, OutFeatures], output));
    }

    private protected override void OnStateLoaded()
    {
        _stage = new QuantizedOutputStage(_stage.Weight, _stage.Bias, _stage.Relu);
        _packed = Pack(_stage);
    }

    private Int8PackedWeights Pack(QuantizedOutputStage stage) =>
        Int8Gemm.Pack(stage.Weight.AsInt8Span(), InFeatures, OutFeatures, transposed: true, stage.WeightZeroPoints);

    /// <inheritdoc/>
    public override string ToString() =>
        $"QuantizedLinear(in_features={InFeatures}, out_features={OutFeatures}, relu={Relu}, {OutputText})";
}
