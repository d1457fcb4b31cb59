using System.Numerics.Tensors;

namespace Quantization.Nn;

/// <summary>
/// <c>max(x, 0)</c> elementwise, as PyTorch's <c>nn.ReLU</c>. Quantized input stays quantized with the same parameters:
/// <c>q = max(q, zero_point)</c>, as PyTorch's quantized relu.
/// </summary>
public sealed class ReLU : Module
{
    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return input.Quantized is { } q ? QuantizedClamp(q, q.QParams.ZeroPoint, byte.MaxValue) : Functional.Relu(input);
    }

    /// <summary>Clamps per-tensor QUInt8 codes to [<paramref name="lo"/>, <paramref name="hi"/>], keeping the parameters.</summary>
    internal static Variable QuantizedClamp(QuantizedTensor q, int lo, int hi)
    {
        if (q.DType != QuantDType.QUInt8 || q.QParams.IsPerChannel)
            throw new ArgumentException($"Quantized activations must be per-tensor QUInt8, not {q.QParams}.", "input");
        var y = new byte[q.Length];
        TensorPrimitives.Max(q.AsUInt8Span(), (byte)Math.Clamp(lo, 0, 255), y);
        TensorPrimitives.Min(y, (byte)Math.Clamp(hi, 0, 255), y);
        return new Variable(QuantizedTensor.Wrap(y, q.Shape.ToArray(), q.QParams));
    }
}
