namespace Quantization;

/// <summary>How scales and zero points map real values to integers (PyTorch's <c>torch.qscheme</c>).</summary>
public enum QScheme
{
    /// <summary>One scale and zero point for the whole tensor.</summary>
    PerTensorAffine,

    /// <summary>One scale for the whole tensor and a zero point fixed at the type's midpoint (0 for QInt8, 128 for QUInt8).</summary>
    PerTensorSymmetric,

    /// <summary>A scale and zero point per slice along <see cref="QuantParams.Axis"/>.</summary>
    PerChannelAffine,

    /// <summary>A scale per slice along <see cref="QuantParams.Axis"/>, zero points fixed at the type's midpoint.</summary>
    PerChannelSymmetric,
}

/// <summary>Properties of <see cref="QScheme"/>.</summary>
public static class QSchemeExtensions
{
    /// <summary>True for the per-channel schemes.</summary>
    public static bool IsPerChannel(this QScheme scheme) => scheme is QScheme.PerChannelAffine or QScheme.PerChannelSymmetric;

    /// <summary>True for the symmetric schemes.</summary>
    public static bool IsSymmetric(this QScheme scheme) => scheme is QScheme.PerTensorSymmetric or QScheme.PerChannelSymmetric;
}

/// <summary>
/// Which framework's rounding formula quantization follows. The two differ only in how they divide by
/// the scale, which decides exact ties (DESIGN.md §2).
/// </summary>
public enum RoundingConvention
{
    /// <summary>
    /// PyTorch: <c>q = clamp(zp + round_half_even(x * (1 / scale)))</c>, multiplying by the float reciprocal
    /// of the scale. The default for the PyTorch-style API.
    /// </summary>
    PyTorch,

    /// <summary>ONNX <c>QuantizeLinear</c>: <c>q = saturate(round_half_even(x / scale) + zp)</c>, true division.</summary>
    Onnx,
}
