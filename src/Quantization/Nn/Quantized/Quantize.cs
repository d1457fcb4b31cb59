namespace Quantization.Nn.Quantized;

/// <summary>
/// Quantizes FP32 input to QUInt8 with a calibrated scale and zero point (PyTorch's <c>nn.quantized.Quantize</c>,
/// what <c>Quantizer.Convert</c> makes of a <see cref="QuantStub"/>): <c>q = clamp(zp + round_half_even(x / scale), 0, 255)</c>.
/// Input that is already quantized is requantized to these parameters.
/// </summary>
public sealed class Quantize : QuantizedModule
{
    /// <summary>Creates the module for per-tensor QUInt8 <paramref name="qparams"/>.</summary>
    /// <exception cref="ArgumentException">The parameters are not per-tensor QUInt8.</exception>
    public Quantize(QuantParams qparams)
        : base(qparams)
    {
    }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The input contains NaN.</exception>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new Variable(QuantizedTensor.Quantize(input.Value, OutputQParams));
    }

    /// <inheritdoc/>
    public override string ToString() => $"Quantize({OutputText})";
}
