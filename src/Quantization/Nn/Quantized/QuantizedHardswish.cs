using Quantization.Kernels.Quantized;

namespace Quantization.Nn.Quantized;

/// <summary>
/// A statically quantized <see cref="Hardswish"/> (PyTorch's <c>nn.quantized.Hardswish</c>): QUInt8 in, QUInt8 out with
/// the calibrated output scale and zero point, through a 256-entry table of PyTorch's dequantize → hardswish → quantize.
/// </summary>
public sealed class QuantizedHardswish : Module
{
    private readonly Tensor _scale;
    private readonly Tensor _zeroPoint;

    /// <summary>Creates the layer with per-tensor QUInt8 output parameters.</summary>
    /// <exception cref="ArgumentException">The parameters are not per-tensor QUInt8.</exception>
    public QuantizedHardswish(QuantParams output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (output.DType != QuantDType.QUInt8 || output.IsPerChannel)
            throw new ArgumentException($"Activations are quantized per tensor to QUInt8, not with {output}.", nameof(output));
        _scale = RegisterBuffer("scale", Tensor.Full(output.Scale, 1));
        _zeroPoint = RegisterBuffer("zero_point", Tensor.Full(output.ZeroPoint, 1));
    }

    /// <summary>The output's scale and zero point.</summary>
    public QuantParams OutputQParams => QuantizedInput.Output(_scale, _zeroPoint);

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The input is not per-tensor QUInt8.</exception>
    public override Variable Forward(Variable input)
    {
        var q = QuantizedInput.Require(input, nameof(QuantizedHardswish));
        var output = OutputQParams;
        var y = new byte[q.Length];
        QuantizedOps.Hardswish(q.AsUInt8Span(), q.QParams.Scale, q.QParams.ZeroPoint, output.Scale, output.ZeroPoint, y);
        return new Variable(QuantizedTensor.Wrap(y, q.Shape.ToArray(), output));
    }

    /// <inheritdoc/>
    public override string ToString() => $"QuantizedHardswish(scale={_scale.AsSpan()[0]}, zero_point={_zeroPoint.AsSpan()[0]})";
}
