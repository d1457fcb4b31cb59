namespace Quantization.Nn.Quantized;

/// <summary>
/// The base of the quantized layers whose output has calibrated per-tensor QUInt8 parameters, kept as the buffers
/// <c>scale</c> and <c>zero_point</c> (PyTorch's names), so they are saved and loaded with the model.
/// </summary>
public abstract class QuantizedModule : Module
{
    private readonly Tensor _scale;
    private readonly Tensor _zeroPoint;

    /// <exception cref="ArgumentException">The parameters are not per-tensor QUInt8.</exception>
    private protected QuantizedModule(QuantParams output)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (output.DType != QuantDType.QUInt8 || output.IsPerChannel)
            throw new ArgumentException($"Activations are quantized per tensor to QUInt8, not with {output}.", nameof(output));
        _scale = RegisterBuffer("scale", Tensor.Full(output.Scale, 1));
        _zeroPoint = RegisterBuffer("zero_point", Tensor.Full(output.ZeroPoint, 1));
    }

    /// <summary>The output's scale and zero point.</summary>
    public QuantParams OutputQParams => QuantizedInput.Output(_scale, _zeroPoint);

    /// <summary>"scale=…, zero_point=…" for <see cref="object.ToString"/>.</summary>
    private protected string OutputText => $"scale={_scale.AsSpan()[0]}, zero_point={_zeroPoint.AsSpan()[0]}";
}
