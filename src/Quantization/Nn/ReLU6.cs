namespace Quantization.Nn;

/// <summary>
/// <c>min(max(x, 0), 6)</c> elementwise, as PyTorch's <c>nn.ReLU6</c>. Quantized input stays quantized with the same
/// parameters, clamped to [zero_point, quantize(6)] as PyTorch's quantized relu6.
/// </summary>
public sealed class ReLU6 : Module
{
    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Quantized is not { } q)
            return Functional.Relu6(input);
        var six = QuantizedTensor.Quantize(Tensor.Full(6f, 1), q.QParams).IntRepr()[0];
        return ReLU.QuantizedClamp(q, q.QParams.ZeroPoint, six);
    }
}
