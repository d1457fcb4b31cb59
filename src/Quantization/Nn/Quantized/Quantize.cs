namespace Quantization.Nn.Quantized;

/// <summary>
/// Quantizes FP32 input to QUInt8 with a calibrated scale and zero point (PyTorch's <c>nn.quantized.Quantize</c>,
/// what <c>Quantizer.Convert</c> makes of a <see cref="QuantStub"/>): <c>q = clamp(zp + round_half_even(x / scale), 0, 255)</c>.
/// Input that is already quantized is requantized to these parameters.
/// </summary>
public sealed class Quantize : Module
{
    private readonly Tensor _scale;
    private readonly Tensor _zeroPoint;

    /// <summary>Creates the module for per-tensor QUInt8 <paramref name="qparams"/>.</summary>
    /// <exception cref="ArgumentException">The parameters are not per-tensor QUInt8.</exception>
    public Quantize(QuantParams qparams)
    {
        ArgumentNullException.ThrowIfNull(qparams);
        if (qparams.DType != QuantDType.QUInt8 || qparams.IsPerChannel)
            throw new ArgumentException($"Activations are quantized per tensor to QUInt8, not with {qparams}.", nameof(qparams));
        _scale = RegisterBuffer("scale", Tensor.Full(qparams.Scale, 1));
        _zeroPoint = RegisterBuffer("zero_point", Tensor.Full(qparams.ZeroPoint, 1));
    }

    /// <summary>The scale and zero point of the output.</summary>
    public QuantParams QParams => QuantizedInput.Output(_scale, _zeroPoint);

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The input contains NaN.</exception>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new Variable(QuantizedTensor.Quantize(input.Value, QParams));
    }

    /// <inheritdoc/>
    public override string ToString() => $"Quantize(scale={_scale.AsSpan()[0]}, zero_point={_zeroPoint.AsSpan()[0]})";
}
