using System.Globalization;

namespace Quantization;

/// <summary>
/// Quantization parameters: the integer type, the scheme, and the scale(s) and zero point(s) of the affine
/// map <c>x = scale * (q - zero_point)</c>. Per-channel parameters hold one scale and zero point per slice
/// along <see cref="Axis"/>. Immutable; every factory validates its arguments.
/// </summary>
public sealed class QuantParams : IEquatable<QuantParams>
{
    private readonly float[] _scales;
    private readonly int[] _zeroPoints;

    private QuantParams(QuantDType dtype, QScheme scheme, float[] scales, int[] zeroPoints, int axis)
    {
        DType = dtype;
        Scheme = scheme;
        _scales = scales;
        _zeroPoints = zeroPoints;
        Axis = axis;
    }

    /// <summary>The integer type of the quantized values.</summary>
    public QuantDType DType { get; }

    /// <summary>Per tensor or per channel, affine or symmetric.</summary>
    public QScheme Scheme { get; }

    /// <summary>The channel axis of a per-channel scheme; -1 for a per-tensor scheme.</summary>
    public int Axis { get; }

    /// <summary>True when there is one scale and zero point per channel.</summary>
    public bool IsPerChannel => Scheme.IsPerChannel();

    /// <summary>The scales: one for a per-tensor scheme, one per channel otherwise.</summary>
    public ReadOnlySpan<float> Scales => _scales;

    /// <summary>The zero points, parallel to <see cref="Scales"/>.</summary>
    public ReadOnlySpan<int> ZeroPoints => _zeroPoints;

    /// <summary>The number of channels (1 for a per-tensor scheme).</summary>
    public int ChannelCount => _scales.Length;

    /// <summary>The scale of a per-tensor scheme.</summary>
    /// <exception cref="InvalidOperationException">The scheme is per channel.</exception>
    public float Scale => IsPerChannel ? throw new InvalidOperationException("Per-channel parameters have one scale per channel; use Scales.") : _scales[0];

    /// <summary>The zero point of a per-tensor scheme.</summary>
    /// <exception cref="InvalidOperationException">The scheme is per channel.</exception>
    public int ZeroPoint => IsPerChannel ? throw new InvalidOperationException("Per-channel parameters have one zero point per channel; use ZeroPoints.") : _zeroPoints[0];

    /// <summary>The zero point a symmetric scheme uses for <paramref name="dtype"/>: 128 for QUInt8, 0 otherwise.</summary>
    public static int SymmetricZeroPoint(QuantDType dtype) => dtype == QuantDType.QUInt8 ? 128 : 0;

    /// <summary>Per-tensor affine parameters.</summary>
    /// <param name="scale">A finite scale greater than zero.</param>
    /// <param name="zeroPoint">The integer that represents real 0; within the range of <paramref name="dtype"/>.</param>
    /// <param name="dtype">The quantized integer type.</param>
    /// <exception cref="ArgumentOutOfRangeException">The scale is not finite and positive, or the zero point is out of range.</exception>
    public static QuantParams PerTensorAffine(float scale, int zeroPoint, QuantDType dtype)
    {
        ValidateScale(scale, nameof(scale));
        ValidateZeroPoint(zeroPoint, dtype, nameof(zeroPoint));
        return new QuantParams(dtype, QScheme.PerTensorAffine, [scale], [zeroPoint], -1);
    }

    /// <summary>Per-tensor symmetric parameters: the zero point is <see cref="SymmetricZeroPoint"/> of <paramref name="dtype"/>.</summary>
    /// <param name="scale">A finite scale greater than zero.</param>
    /// <param name="dtype">The quantized integer type.</param>
    /// <exception cref="ArgumentOutOfRangeException">The scale is not finite and positive.</exception>
    public static QuantParams PerTensorSymmetric(float scale, QuantDType dtype)
    {
        ValidateScale(scale, nameof(scale));
        ValidateDType(dtype);
        return new QuantParams(dtype, QScheme.PerTensorSymmetric, [scale], [SymmetricZeroPoint(dtype)], -1);
    }

    /// <summary>Per-channel affine parameters along <paramref name="axis"/>.</summary>
    /// <param name="scales">One finite, positive scale per channel.</param>
    /// <param name="zeroPoints">One zero point per channel, each within the range of <paramref name="dtype"/>.</param>
    /// <param name="axis">The channel axis (non-negative; checked against a tensor's rank when it is quantized).</param>
    /// <param name="dtype">The quantized integer type.</param>
    /// <exception cref="ArgumentException">The spans are empty or of different lengths, or a value is out of range.</exception>
    public static QuantParams PerChannelAffine(ReadOnlySpan<float> scales, ReadOnlySpan<int> zeroPoints, int axis, QuantDType dtype)
    {
        if (scales.IsEmpty)
            throw new ArgumentException("Per-channel parameters need at least one channel.", nameof(scales));
        if (zeroPoints.Length != scales.Length)
            throw new ArgumentException($"Expected {scales.Length} zero points (one per scale) but got {zeroPoints.Length}.", nameof(zeroPoints));
        ValidateAxis(axis);
        for (int i = 0; i < scales.Length; i++)
        {
            ValidateScale(scales[i], nameof(scales), i);
            ValidateZeroPoint(zeroPoints[i], dtype, nameof(zeroPoints), i);
        }

        return new QuantParams(dtype, QScheme.PerChannelAffine, scales.ToArray(), zeroPoints.ToArray(), axis);
    }

    /// <summary>Per-channel symmetric parameters along <paramref name="axis"/>; every zero point is <see cref="SymmetricZeroPoint"/>.</summary>
    /// <param name="scales">One finite, positive scale per channel.</param>
    /// <param name="axis">The channel axis (non-negative; checked against a tensor's rank when it is quantized).</param>
    /// <param name="dtype">The quantized integer type.</param>
    /// <exception cref="ArgumentException">The span is empty, or a scale is not finite and positive.</exception>
    public static QuantParams PerChannelSymmetric(ReadOnlySpan<float> scales, int axis, QuantDType dtype)
    {
        if (scales.IsEmpty)
            throw new ArgumentException("Per-channel parameters need at least one channel.", nameof(scales));
        ValidateAxis(axis);
        ValidateDType(dtype);
        for (int i = 0; i < scales.Length; i++)
            ValidateScale(scales[i], nameof(scales), i);

        var zeroPoints = new int[scales.Length];
        Array.Fill(zeroPoints, SymmetricZeroPoint(dtype));
        return new QuantParams(dtype, QScheme.PerChannelSymmetric, scales.ToArray(), zeroPoints, axis);
    }

    /// <summary>The scale and zero point that apply to channel <paramref name="channel"/> (channel 0 for per-tensor).</summary>
    internal (float Scale, int ZeroPoint) ForChannel(int channel) => (_scales[channel], _zeroPoints[channel]);

    /// <summary>Throws unless these parameters fit a tensor of <paramref name="shape"/>.</summary>
    internal void ValidateFor(ReadOnlySpan<int> shape, string paramName)
    {
        if (!IsPerChannel)
            return;
        if (Axis >= shape.Length)
            throw new ArgumentException($"Per-channel axis {Axis} is out of range for a tensor of rank {shape.Length}.", paramName);
        if (shape[Axis] != ChannelCount)
            throw new ArgumentException($"Per-channel parameters have {ChannelCount} channels but the tensor has {shape[Axis]} along axis {Axis}.", paramName);
    }

    /// <inheritdoc/>
    public bool Equals(QuantParams? other) =>
        other is not null && DType == other.DType && Scheme == other.Scheme && Axis == other.Axis
        && _scales.AsSpan().SequenceEqual(other._scales) && _zeroPoints.AsSpan().SequenceEqual(other._zeroPoints);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as QuantParams);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(DType);
        hash.Add(Scheme);
        hash.Add(Axis);
        foreach (float s in _scales)
            hash.Add(s);
        foreach (int z in _zeroPoints)
            hash.Add(z);
        return hash.ToHashCode();
    }

    /// <inheritdoc/>
    public override string ToString()
    {
        var culture = CultureInfo.InvariantCulture;
        return IsPerChannel
            ? string.Create(culture, $"{Scheme} {DType} axis={Axis} channels={ChannelCount} scales=[{string.Join(", ", _scales.Take(4).Select(s => s.ToString("G9", culture)))}{(ChannelCount > 4 ? ", ..." : "")}]")
            : string.Create(culture, $"{Scheme} {DType} scale={_scales[0]:G9} zero_point={_zeroPoints[0]}");
    }

    private static void ValidateScale(float scale, string paramName, int channel = -1)
    {
        if (!float.IsFinite(scale) || scale <= 0)
            throw new ArgumentOutOfRangeException(paramName, scale, channel < 0
                ? "Scale must be finite and greater than zero."
                : $"Scale of channel {channel} must be finite and greater than zero.");
    }

    private static void ValidateZeroPoint(int zeroPoint, QuantDType dtype, string paramName, int channel = -1)
    {
        ValidateDType(dtype);
        if (zeroPoint < dtype.MinValue() || zeroPoint > dtype.MaxValue())
            throw new ArgumentOutOfRangeException(paramName, zeroPoint, (channel < 0 ? "Zero point" : $"Zero point of channel {channel}")
                + $" must lie in [{dtype.MinValue()}, {dtype.MaxValue()}] for {dtype}.");
    }

    private static void ValidateAxis(int axis)
    {
        if (axis < 0)
            throw new ArgumentOutOfRangeException(nameof(axis), axis, "The channel axis must be non-negative.");
    }

    private static void ValidateDType(QuantDType dtype)
    {
        if (!Enum.IsDefined(dtype))
            throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown quantized dtype.");
    }
}
