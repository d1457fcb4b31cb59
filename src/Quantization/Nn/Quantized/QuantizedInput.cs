namespace Quantization.Nn.Quantized;

/// <summary>Checks that a quantized module received the per-tensor QUInt8 data it computes on.</summary>
internal static class QuantizedInput
{
    /// <summary>The input's quantized tensor, or an exception that says how to fix the model.</summary>
    public static QuantizedTensor Require(Variable input, string layer)
    {
        ArgumentNullException.ThrowIfNull(input);
        var q = input.Quantized ?? throw new ArgumentException(
            $"{layer} expects quantized input but received FP32 data. Put a QuantStub before it (PyTorch's eager-mode rule), or keep the preceding float part out of the quantized region.", nameof(input));
        if (q.DType != QuantDType.QUInt8 || q.QParams.IsPerChannel)
            throw new ArgumentException($"{layer} expects per-tensor QUInt8 input but received {q.QParams}.", nameof(input));
        return q;
    }

    /// <summary>Per-tensor QUInt8 parameters from a module's scale and zero-point buffers.</summary>
    public static QuantParams Output(Tensor scale, Tensor zeroPoint) =>
        QuantParams.PerTensorAffine(scale.AsSpan()[0], (int)zeroPoint.AsSpan()[0], QuantDType.QUInt8);
}
