using Quantization.Kernels.Quantized;

namespace Quantization.Nn;

/// <summary>
/// <c>1 / (1 + e^-x)</c> elementwise, as PyTorch's <c>nn.Sigmoid</c>. Quantized input gives QUInt8 output with PyTorch's
/// fixed parameters for bounded outputs (scale 1/256, zero point 0), so no observer is needed.
/// </summary>
public sealed class Sigmoid : Module
{
    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return input.Quantized is { } q ? Bounded(q, QuantizedOps.Sigmoid) : Functional.Sigmoid(input);
    }

    /// <summary>Applies a QUInt8 → QUInt8 kernel whose output has the fixed parameters (1/256, 0).</summary>
    internal static Variable Bounded(QuantizedTensor q, BoundedKernel kernel)
    {
        if (q.DType != QuantDType.QUInt8 || q.QParams.IsPerChannel)
            throw new ArgumentException($"Quantized activations must be per-tensor QUInt8, not {q.QParams}.", "input");
        var y = new byte[q.Length];
        kernel(q.AsUInt8Span(), q.QParams.Scale, q.QParams.ZeroPoint, y);
        var output = QuantParams.PerTensorAffine(QuantizedOps.BoundedOutputScale, QuantizedOps.BoundedOutputZeroPoint, QuantDType.QUInt8);
        return new Variable(QuantizedTensor.Wrap(y, q.Shape.ToArray(), output));
    }

    internal delegate void BoundedKernel(ReadOnlySpan<byte> x, float scale, int zeroPoint, Span<byte> y);
}
