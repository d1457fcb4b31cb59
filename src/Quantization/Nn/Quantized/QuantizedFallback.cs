namespace Quantization.Nn.Quantized;

/// <summary>
/// Runs a float layer inside a quantized model: its input is dequantized, the layer runs in FP32, and its output is
/// quantized with the calibrated scale and zero point, so the layers around it keep receiving INT8 data. This is how
/// PyTorch's quantized Hardswish computes, and what <c>Quantizer.Convert</c> does with a configured layer that has no
/// integer kernel (it reports each such layer).
/// </summary>
public sealed class QuantizedFallback : Module
{
    private readonly Tensor _scale;
    private readonly Tensor _zeroPoint;

    /// <summary>Wraps <paramref name="module"/> with per-tensor QUInt8 output parameters <paramref name="output"/>.</summary>
    /// <exception cref="ArgumentException">The parameters are not per-tensor QUInt8.</exception>
    public QuantizedFallback(Module module, QuantParams output)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(output);
        if (output.DType != QuantDType.QUInt8 || output.IsPerChannel)
            throw new ArgumentException($"Activations are quantized per tensor to QUInt8, not with {output}.", nameof(output));
        Module = RegisterModule("module", module);
        _scale = RegisterBuffer("scale", Tensor.Full(output.Scale, 1));
        _zeroPoint = RegisterBuffer("zero_point", Tensor.Full(output.ZeroPoint, 1));
    }

    /// <summary>The float layer.</summary>
    public Module Module { get; }

    /// <summary>The output's scale and zero point.</summary>
    public QuantParams OutputQParams => QuantizedInput.Output(_scale, _zeroPoint);

    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var output = Module.Forward(new Variable(input.Value));
        return new Variable(QuantizedTensor.Quantize(output.Value, OutputQParams));
    }

    /// <inheritdoc/>
    public override string ToString() => $"QuantizedFallback({Module}, scale={_scale.AsSpan()[0]}, zero_point={_zeroPoint.AsSpan()[0]})";
}
