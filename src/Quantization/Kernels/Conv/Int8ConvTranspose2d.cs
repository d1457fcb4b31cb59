using System.Buffers;
using Quantization.Kernels.Gemm;

namespace Quantization.Kernels.Conv;

/// <summary>
/// INT8 2-D transposed convolution, NCHW in and out, through the same epilogues as <see cref="Int8Conv2d"/>.
/// </summary>
/// <remarks>
/// Per group, one GEMM multiplies the NHWC image (pixels × input channels) by the weights arranged as
/// [input channel, (tap, output channel)], giving every pixel's contribution through every tap as corrected int32
/// accumulators; col2im adds those into the output pixels they land on (the corrections are linear, so the sums
/// stay exact), and the epilogue runs once per output pixel.
/// </remarks>
internal sealed class Int8ConvTranspose2d
{
    private readonly Int8PackedWeights[] _groupWeights;

    /// <param name="geometry">The transposed convolution's shape.</param>
    /// <param name="weights">s8 weights [inChannels, outChannels / groups, kernelH, kernelW].</param>
    /// <param name="weightZeroPoints">One zero point, or one per output channel.</param>
    /// <param name="variant">The GEMM variant to pack for (default: the best).</param>
    public Int8ConvTranspose2d(ConvTranspose2dGeometry geometry, ReadOnlySpan<sbyte> weights, ReadOnlySpan<int> weightZeroPoints, Int8GemmVariant? variant = null)
    {
        geometry.Validate(nameof(geometry));
        int cig = geometry.InChannelsPerGroup, cog = geometry.OutChannelsPerGroup, taps = geometry.Taps;
        if (weights.Length != geometry.InChannels * cog * taps)
            throw new ArgumentException($"Expected {geometry.InChannels * cog * taps} weights for {geometry} but got {weights.Length}.", nameof(weights));
        if (weightZeroPoints.Length != 1 && weightZeroPoints.Length != geometry.OutChannels)
            throw new ArgumentException($"Expected 1 or {geometry.OutChannels} weight zero points but got {weightZeroPoints.Length}.", nameof(weightZeroPoints));
        Geometry = geometry;

        int columns = taps * cog;
        _groupWeights = new Int8PackedWeights[geometry.Groups];
        for (int group = 0; group < geometry.Groups; group++)
        {
            var b = new sbyte[cig * columns];
            var zw = new int[columns];
            for (int ci = 0; ci < cig; ci++)
            {
                for (int co = 0; co < cog; co++)
                {
                    for (int t = 0; t < taps; t++)
                        b[ci * columns + t * cog + co] = weights[((group * cig + ci) * cog + co) * taps + t];
                }
            }

            for (int t = 0; t < taps; t++)
            {
                for (int co = 0; co < cog; co++)
                    zw[t * cog + co] = weightZeroPoints.Length == 1 ? weightZeroPoints[0] : weightZeroPoints[group * cog + co];
            }

            _groupWeights[group] = Int8Gemm.Pack(b, cig, columns, transposed: false, zw, variant);
        }
    }

    public ConvTranspose2dGeometry Geometry { get; }

    /// <summary>Runs a u8 NCHW batch (zero point <paramref name="za"/>) into <paramref name="output"/> (NCHW).</summary>
    public unsafe void Run<TOut>(ReadOnlySpan<byte> input, int batch, int height, int width, int za, Int8GemmEpilogue epilogue, Span<TOut> output, int maxThreads = 0)
        where TOut : unmanaged
    {
        var g = Geometry;
        g.ValidateInput(height, width, nameof(height));
        int pixels = height * width, oh = g.OutputHeight(height), ow = g.OutputWidth(width), outPixels = oh * ow;
        int cog = g.OutChannelsPerGroup, columns = g.Taps * cog;
        if (input.Length != batch * g.InChannels * pixels)
            throw new ArgumentException($"Expected {batch}×{g.InChannels}×{height}×{width} input values but got {input.Length}.", nameof(input));
        if (output.Length != batch * g.OutChannels * outPixels)
            throw new ArgumentException($"Expected {batch}×{g.OutChannels}×{oh}×{ow} output values but got {output.Length}.", nameof(output));

        byte[] hwc = ArrayPool<byte>.Shared.Rent(pixels * g.InChannels);
        int[] contributions = ArrayPool<int>.Shared.Rent(pixels * columns);
        int[] acc = ArrayPool<int>.Shared.Rent(outPixels * g.OutChannels);
        TOut[] result = ArrayPool<TOut>.Shared.Rent(outPixels * g.OutChannels);
        try
        {
            for (int n = 0; n < batch; n++)
            {
                ConvLayout.ChannelsLast(input.Slice(n * g.InChannels * pixels, g.InChannels * pixels), g.InChannels, pixels, hwc);
                Span<int> sums = acc.AsSpan(0, outPixels * g.OutChannels);
                sums.Clear();
                for (int group = 0; group < g.Groups; group++)
                {
                    ReadOnlySpan<byte> a = hwc.AsSpan(group * g.InChannelsPerGroup, (pixels - 1) * g.InChannels + g.InChannelsPerGroup);
                    Int8Gemm.Multiply<int>(a, pixels, g.InChannels, za, _groupWeights[group], Int8GemmEpilogue.Int32, contributions.AsSpan(0, pixels * columns), columns, maxThreads);
                    ConvLayout.ColumnsToImage<int>(contributions.AsSpan(0, pixels * columns), height, width, group, g, sums);
                }

                Span<TOut> nhwc = result.AsSpan(0, outPixels * g.OutChannels);
                fixed (TOut* destination = nhwc)
                {
                    for (int p = 0; p < outPixels; p++)
                        Int8GemmOutput.Write(sums.Slice(p * g.OutChannels, g.OutChannels), epilogue, 0, (nint)destination, (long)p * g.OutChannels);
                }

                ConvLayout.ChannelsFirst<TOut>(nhwc, outPixels, g.OutChannels, output.Slice(n * g.OutChannels * outPixels, g.OutChannels * outPixels));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(hwc);
            ArrayPool<int>.Shared.Return(contributions);
            ArrayPool<int>.Shared.Return(acc);
            ArrayPool<TOut>.Shared.Return(result);
        }
    }
}
