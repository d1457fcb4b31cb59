namespace Quantization;

/// <summary>
/// A row-major shape seen as [outer, channels, inner] around a channel axis: channel <c>c</c> owns the
/// contiguous runs starting at <c>(o * channels + c) * inner</c> for every <c>o</c> in [0, outer).
/// A per-tensor operation is the same with one channel.
/// </summary>
internal readonly record struct ChannelLayout(int Outer, int Channels, int Inner)
{
    public static ChannelLayout PerTensor(int length) => new(1, 1, length);

    public static ChannelLayout Around(ReadOnlySpan<int> shape, int axis)
    {
        int outer = 1, inner = 1;
        for (int i = 0; i < axis; i++)
            outer *= shape[i];
        for (int i = axis + 1; i < shape.Length; i++)
            inner *= shape[i];
        return new ChannelLayout(outer, shape[axis], inner);
    }

    /// <summary>The layout that <paramref name="qparams"/> imply for a tensor of <paramref name="shape"/>.</summary>
    public static ChannelLayout For(QuantParams qparams, ReadOnlySpan<int> shape, int length) =>
        qparams.IsPerChannel ? Around(shape, qparams.Axis) : PerTensor(length);

    /// <summary>Start of the run of channel <paramref name="channel"/> in outer block <paramref name="outer"/>.</summary>
    public int Start(int outer, int channel) => (outer * Channels + channel) * Inner;
}
