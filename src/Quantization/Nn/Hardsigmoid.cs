using Quantization.Kernels.Quantized;

namespace Quantization.Nn;

/// <summary>
/// <c>relu6(x + 3) / 6</c> elementwise, as PyTorch's <c>nn.Hardsigmoid</c>. Quantized input gives QUInt8 output with
/// PyTorch's fixed parameters for bounded outputs (scale 1/256, zero point 0).
/// </summary>
public sealed class Hardsigmoid : Module
{
    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return input.Quantized is { } q ? Sigmoid.Bounded(q, QuantizedOps.Hardsigmoid) : Functional.Hardsigmoid(input);
    }
}
