using Quantization.Kernels.Quantized;

namespace Quantization.Nn.Quantized;

/// <summary>
/// A statically quantized <see cref="Hardswish"/> (PyTorch's <c>nn.quantized.Hardswish</c>): QUInt8 in, QUInt8 out with
/// the calibrated output scale and zero point, through a 256-entry table of PyTorch's dequantize → hardswish → quantize.
/// </summary>
public sealed class QuantizedHardswish : QuantizedModule
{

    /// <summary>Creates the layer with per-tensor QUInt8 output parameters.</summary>
    /// <exception cref="ArgumentException">The parameters are not per-tensor QUInt8.</exception>
    public QuantizedHardswish(QuantParams output)
        : base(output)
    {
    }

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
    public override string ToString() => $"QuantizedHardswish({OutputText})";
}
