using Quantization.Kernels.Elementwise;

namespace Quantization;

public sealed partial class Tensor
{
    /// <summary>
    /// Quantizes and dequantizes in one step, staying in FP32 (PyTorch's
    /// <c>torch.fake_quantize_per_tensor_affine</c>):
    /// <c>y = (clamp(zp + round_half_even(x * (1 / scale)), quantMin, quantMax) - zp) * scale</c>.
    /// Bit-exact with <see cref="QuantizedTensor.Quantize"/> followed by <see cref="QuantizedTensor.Dequantize"/>
    /// whenever [<paramref name="quantMin"/>, <paramref name="quantMax"/>] is the dtype's range.
    /// </summary>
    /// <param name="scale">A finite scale greater than zero.</param>
    /// <param name="zeroPoint">The zero point; within [<paramref name="quantMin"/>, <paramref name="quantMax"/>].</param>
    /// <param name="quantMin">The smallest integer, e.g. 0 for QUInt8 or 0 with reduce_range.</param>
    /// <param name="quantMax">The largest integer, e.g. 255 for QUInt8 or 127 with reduce_range.</param>
    /// <returns>A new tensor; this one is not modified.</returns>
    /// <exception cref="ArgumentException">A parameter is out of range, or the tensor contains NaN.</exception>
    public Tensor FakeQuantizePerTensor(float scale, int zeroPoint, int quantMin, int quantMax)
    {
        ValidateFakeQuantRange(quantMin, quantMax);
        ValidateFakeQuantChannel(scale, zeroPoint, quantMin, quantMax, -1);
        QuantizedTensor.ThrowIfNaN(_data, "this");
        var result = new Tensor(_shape);
        QuantizeKernels.FakeQuantize(_data, scale, zeroPoint, quantMin, quantMax, result._data);
        return result;
    }

    /// <summary>
    /// Per-channel fake quantization along <paramref name="axis"/> (PyTorch's
    /// <c>torch.fake_quantize_per_channel_affine</c>); see <see cref="FakeQuantizePerTensor"/> for the formula.
    /// </summary>
    /// <param name="scales">One finite, positive scale per slice along <paramref name="axis"/>.</param>
    /// <param name="zeroPoints">One zero point per slice, each within [<paramref name="quantMin"/>, <paramref name="quantMax"/>].</param>
    /// <param name="axis">The channel axis; negative values count from the end.</param>
    /// <param name="quantMin">The smallest integer.</param>
    /// <param name="quantMax">The largest integer.</param>
    /// <returns>A new tensor; this one is not modified.</returns>
    /// <exception cref="ArgumentException">A parameter is out of range or does not fit the shape, or the tensor contains NaN.</exception>
    public Tensor FakeQuantizePerChannel(ReadOnlySpan<float> scales, ReadOnlySpan<int> zeroPoints, int axis, int quantMin, int quantMax)
    {
        int normalized = NormalizeAxis(axis, Rank, nameof(axis));
        if (scales.Length != _shape[normalized])
            throw new ArgumentException($"Expected {_shape[normalized]} scales (the length of axis {normalized}) but got {scales.Length}.", nameof(scales));
        if (zeroPoints.Length != scales.Length)
            throw new ArgumentException($"Expected {scales.Length} zero points (one per scale) but got {zeroPoints.Length}.", nameof(zeroPoints));
        ValidateFakeQuantRange(quantMin, quantMax);
        for (int c = 0; c < scales.Length; c++)
            ValidateFakeQuantChannel(scales[c], zeroPoints[c], quantMin, quantMax, c);
        QuantizedTensor.ThrowIfNaN(_data, "this");

        var result = new Tensor(_shape);
        var layout = ChannelLayout.Around(_shape, normalized);
        for (int o = 0; o < layout.Outer; o++)
        {
            for (int c = 0; c < layout.Channels; c++)
            {
                int start = layout.Start(o, c);
                QuantizeKernels.FakeQuantize(_data.AsSpan(start, layout.Inner), scales[c], zeroPoints[c], quantMin, quantMax, result._data.AsSpan(start, layout.Inner));
            }
        }

        return result;
    }

    private static void ValidateFakeQuantRange(int quantMin, int quantMax)
    {
        if (quantMin >= quantMax)
            throw new ArgumentException($"quantMin ({quantMin}) must be less than quantMax ({quantMax}).", nameof(quantMin));
    }

    private static void ValidateFakeQuantChannel(float scale, int zeroPoint, int quantMin, int quantMax, int channel)
    {
        string where = channel < 0 ? "" : $" of channel {channel}";
        if (!float.IsFinite(scale) || scale <= 0)
            throw new ArgumentOutOfRangeException(channel < 0 ? nameof(scale) : "scales", scale, $"Scale{where} must be finite and greater than zero.");
        if (zeroPoint < quantMin || zeroPoint > quantMax)
            throw new ArgumentOutOfRangeException(channel < 0 ? nameof(zeroPoint) : "zeroPoints", zeroPoint, $"Zero point{where} must lie in [{quantMin}, {quantMax}].");
    }
}
