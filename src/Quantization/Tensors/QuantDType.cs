namespace Quantization;

/// <summary>The integer type that holds quantized values (PyTorch's <c>torch.qint8</c>, <c>torch.quint8</c>, <c>torch.qint32</c>).</summary>
public enum QuantDType
{
    /// <summary>Signed 8-bit, range [-128, 127].</summary>
    QInt8,

    /// <summary>Unsigned 8-bit, range [0, 255].</summary>
    QUInt8,

    /// <summary>Signed 32-bit, full range; used for biases and accumulators.</summary>
    QInt32,
}

/// <summary>Ranges of <see cref="QuantDType"/>.</summary>
public static class QuantDTypeExtensions
{
    /// <summary>The smallest value the type holds.</summary>
    public static int MinValue(this QuantDType dtype) => dtype switch
    {
        QuantDType.QInt8 => sbyte.MinValue,
        QuantDType.QUInt8 => byte.MinValue,
        QuantDType.QInt32 => int.MinValue,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown quantized dtype."),
    };

    /// <summary>The largest value the type holds.</summary>
    public static int MaxValue(this QuantDType dtype) => dtype switch
    {
        QuantDType.QInt8 => sbyte.MaxValue,
        QuantDType.QUInt8 => byte.MaxValue,
        QuantDType.QInt32 => int.MaxValue,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown quantized dtype."),
    };

    /// <summary>
    /// The range an observer targets: the full range, or with <paramref name="reduceRange"/> one bit less
    /// (QUInt8 [0, 127], QInt8 [-64, 63]), which x86 kernels built on <c>vpmaddubsw</c> need to avoid
    /// int16 saturation. QInt32 ignores <paramref name="reduceRange"/>.
    /// </summary>
    public static (int QuantMin, int QuantMax) Range(this QuantDType dtype, bool reduceRange = false) => (dtype, reduceRange) switch
    {
        (QuantDType.QInt8, true) => (-64, 63),
        (QuantDType.QUInt8, true) => (0, 127),
        _ => (dtype.MinValue(), dtype.MaxValue()),
    };
}
