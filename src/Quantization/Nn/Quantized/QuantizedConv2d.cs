using Quantization.Kernels.Conv;

namespace Quantization.Nn.Quantized;

/// <summary>
/// A statically quantized <see cref="Conv2d"/> (PyTorch's <c>nn.quantized.Conv2d</c>, or <c>ConvReLU2d</c> when
/// <see cref="Relu"/>): QUInt8 NCHW input, s8 weights packed once, int32 accumulation, and the bias, ReLU and
/// requantization to the calibrated output scale and zero point fused into the kernel. Created by <c>Quantizer.Convert</c>.
/// </summary>
public sealed class QuantizedConv2d : QuantizedModule
{
    private QuantizedOutputStage _stage;
    private Int8Conv2d _kernel;

    internal QuantizedConv2d(Conv2dGeometry geometry, QuantizedOutputStage stage, QuantParams output)
        : base(output)
    {
        _stage = stage;
        _kernel = new Int8Conv2d(geometry, stage.Weight.AsInt8Span(), stage.WeightZeroPoints);
        RegisterQuantized("weight", () => _stage.Weight, w => _stage = new QuantizedOutputStage(w, _stage.Bias, _stage.Relu));
        if (stage.Bias is not null)
            RegisterBuffer("bias", stage.Bias);
    }

    /// <summary>The input channel count.</summary>
    public int InChannels => _kernel.Geometry.InChannels;

    /// <summary>The output channel count.</summary>
    public int OutChannels => _kernel.Geometry.OutChannels;

    /// <summary>Whether a ReLU is fused (the output clamps at its zero point).</summary>
    public bool Relu => _stage.Relu;

    /// <summary>The s8 weights [out, in / groups, kh, kw] with their (per-tensor or per-channel) parameters.</summary>
    public QuantizedTensor Weight => _stage.Weight;

    /// <summary>The float bias [out], or null.</summary>
    public Tensor? Bias => _stage.Bias;

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The input is not quantized (QUInt8, per tensor), not [N, in_channels, H, W], or too small for the kernel.</exception>
    public override Variable Forward(Variable input)
    {
        var q = QuantizedInput.Require(input, nameof(QuantizedConv2d));
        var g = _kernel.Geometry;
        if (q.Rank != 4 || q.Shape[1] != InChannels)
            throw new ArgumentException($"{nameof(QuantizedConv2d)} expects input (N, {InChannels}, H, W) but got {Tensor.FormatShape(q.Shape)}.", nameof(input));
        int n = q.Shape[0], h = q.Shape[2], w = q.Shape[3];
        g.ValidateInput(h, w, nameof(input));
        var output = OutputQParams;
        var epilogue = _stage.Epilogue(q.QParams.Scale, output.Scale, output.ZeroPoint);
        int oh = g.OutputHeight(h), ow = g.OutputWidth(w);
        var y = TensorArena.RentBytes(n * OutChannels * oh * ow);
        _kernel.Run<byte>(q.AsUInt8Span(), n, h, w, q.QParams.ZeroPoint, epilogue, y);
        return new Variable(QuantizedTensor.Wrap(y, [n, OutChannels, oh, ow], output));
    }

    private protected override void OnStateLoaded()
    {
        _stage = new QuantizedOutputStage(_stage.Weight, _stage.Bias, _stage.Relu);
        _kernel = new Int8Conv2d(_kernel.Geometry, _stage.Weight.AsInt8Span(), _stage.WeightZeroPoints);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"QuantizedConv2d({InChannels}, {OutChannels}, kernel_size={_kernel.Geometry.KernelH}x{_kernel.Geometry.KernelW}, groups={_kernel.Geometry.Groups}, relu={Relu}, {OutputText})";
}
