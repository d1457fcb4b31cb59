namespace Quantization.Nn.Quantized;

/// <summary>
/// Runs a float layer inside a quantized model: its input is dequantized, the layer runs in FP32, and its output is
/// quantized with the calibrated scale and zero point, so the layers around it keep receiving INT8 data. This is how
/// PyTorch's quantized Hardswish computes, and what <c>Quantizer.Convert</c> does with a configured layer that has no
/// integer kernel (it reports each such layer).
/// </summary>
public sealed class QuantizedFallback : QuantizedModule
{

    /// <summary>Wraps <paramref name="module"/> with per-tensor QUInt8 output parameters <paramref name="output"/>.</summary>
    /// <exception cref="ArgumentException">The parameters are not per-tensor QUInt8.</exception>
    public QuantizedFallback(Module module, QuantParams output)
        : base(output)
    {
        ArgumentNullException.ThrowIfNull(module);
        Module = RegisterModule("module", module);
    }

    /// <summary>The float layer.</summary>
    public Module Module { get; }

    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var output = Module.Forward(new Variable(input.Value));
        return new Variable(QuantizedTensor.Quantize(output.Value, OutputQParams));
    }

    /// <inheritdoc/>
    public override string ToString() => $"QuantizedFallback({Module}, {OutputText})";
}
