using System.Buffers;
using Quantization.Kernels.Gemm;

namespace Quantization.Kernels.Conv;

/// <summary>
/// INT8 2-D convolution, NCHW in and out: <c>acc = Σ (x - za) * (w - zw[co])</c>, then the GEMM epilogue (raw int32,
/// float, or requantized u8/s8, with bias and optional ReLU/clamp). Weights are packed once, here.
/// </summary>
/// <remarks>
/// Regular and grouped convolutions transpose the image to NHWC, build im2col rows of contiguous channel runs (none
/// for a pointwise convolution, whose NHWC image already is the GEMM's left operand) by L2-sized chunks of output
/// pixels, run the packed INT8 GEMM per group and chunk into an NHWC buffer, and transpose back. With AVX-VNNI, small
/// 1×1 convolutions and convolutions of few input channels with requantized output skip all that:
/// <see cref="PointwiseVnni"/> and <see cref="DirectConvVnni"/> sum on the NCHW planes.
/// Depthwise convolutions take their own kernels: on the NCHW planes (<see cref="DepthwiseVnni"/> with AVX-VNNI, else
/// <see cref="DepthwiseConv"/>), or on x86 across the channels of an NHWC copy where rows are short.
/// </remarks>
internal sealed class Int8Conv2d
{
    private readonly Int8PackedWeights[] _groupWeights = [];
    private readonly int[]? _depthwiseWeights;

    /// <summary>The depthwise weights (zero point subtracted) as [tap, channel], for the channels-last kernel.</summary>
    private readonly int[]? _depthwiseTapMajor;

    /// <summary>The depthwise weights packed for the AVX-VNNI kernel, where the CPU and the layer suit it.</summary>
    private readonly DepthwiseVnni? _depthwiseVnni;

    /// <summary>A small 1×1 convolution's weights packed for the direct AVX-VNNI kernel (<see cref="PointwiseVnni.Prefers"/>).</summary>
    private readonly PointwiseVnni? _pointwiseVnni;

    /// <summary>A layer with few input channels packed for the direct AVX-VNNI kernel (<see cref="DirectConvVnni.Prefers"/>).</summary>
    private readonly DirectConvVnni? _directVnni;

    /// <param name="geometry">The convolution's shape.</param>
    /// <param name="weights">s8 weights [outChannels, inChannels / groups, kernelH, kernelW].</param>
    /// <param name="weightZeroPoints">One zero point, or one per output channel.</param>
    /// <param name="variant">The GEMM variant to pack for (default: the best).</param>
    public Int8Conv2d(Conv2dGeometry geometry, ReadOnlySpan<sbyte> weights, ReadOnlySpan<int> weightZeroPoints, Int8GemmVariant? variant = null)
    {
        geometry.Validate(nameof(geometry));
        int expected = geometry.OutChannels * geometry.PatchSize;
        if (weights.Length != expected)
            throw new ArgumentException($"Expected {expected} weights for {geometry} but got {weights.Length}.", nameof(weights));
        if (weightZeroPoints.Length != 1 && weightZeroPoints.Length != geometry.OutChannels)
            throw new ArgumentException($"Expected 1 or {geometry.OutChannels} weight zero points but got {weightZeroPoints.Length}.", nameof(weightZeroPoints));
        Geometry = geometry;

        if (geometry.IsDepthwise)
        {
            // [channel, tap] with the zero point already subtracted.
            int taps = geometry.KernelH * geometry.KernelW, channels = geometry.OutChannels;
            _depthwiseWeights = new int[taps * channels];
            for (int c = 0; c < channels; c++)
            {
                int zw = weightZeroPoints.Length == 1 ? weightZeroPoints[0] : weightZeroPoints[c];
                for (int t = 0; t < taps; t++)
                    _depthwiseWeights[c * taps + t] = weights[c * taps + t] - zw;
            }

            _depthwiseTapMajor = new int[taps * channels];
            for (int c = 0; c < channels; c++)
            {
                for (int t = 0; t < taps; t++)
                    _depthwiseTapMajor[t * channels + c] = _depthwiseWeights[c * taps + t];
            }

            if (DepthwiseVnni.IsSupported)
                _depthwiseVnni = DepthwiseVnni.TryCreate(geometry, _depthwiseWeights);

            return;
        }

        if (PointwiseVnni.IsSupported && PointwiseVnni.Prefers(geometry))
            _pointwiseVnni = PointwiseVnni.TryCreate(geometry, weights, weightZeroPoints);
        if (DirectConvVnni.IsSupported && DirectConvVnni.Prefers(geometry))
            _directVnni = DirectConvVnni.TryCreate(geometry, weights, weightZeroPoints);

        _groupWeights = new Int8PackedWeights[geometry.Groups];
        int cog = geometry.OutChannelsPerGroup;
        for (int group = 0; group < geometry.Groups; group++)
        {
            sbyte[] tapMajor = ConvLayout.WeightsToTapMajor(weights, group, geometry);
            ReadOnlySpan<int> zw = weightZeroPoints.Length == 1 ? weightZeroPoints : weightZeroPoints.Slice(group * cog, cog);
            _groupWeights[group] = Int8Gemm.Pack(tapMajor, geometry.PatchSize, cog, transposed: true, zw, variant);
        }
    }

    public Conv2dGeometry Geometry { get; }

    /// <summary>
    /// Convolves a u8 NCHW batch (zero point <paramref name="za"/>) into <paramref name="output"/> (NCHW, element type as
    /// the epilogue says).
    /// </summary>
    public void Run<TOut>(ReadOnlySpan<byte> input, int batch, int height, int width, int za, Int8GemmEpilogue epilogue, Span<TOut> output, int maxThreads = 0)
        where TOut : unmanaged
    {
        var g = Geometry;
        g.ValidateInput(height, width, nameof(height));
        int pixels = height * width, oh = g.OutputHeight(height), ow = g.OutputWidth(width), outPixels = oh * ow;
        if (input.Length != batch * g.InChannels * pixels)
            throw new ArgumentException($"Expected {batch}×{g.InChannels}×{height}×{width} input values but got {input.Length}.", nameof(input));
        if (output.Length != batch * g.OutChannels * outPixels)
            throw new ArgumentException($"Expected {batch}×{g.OutChannels}×{oh}×{ow} output values but got {output.Length}.", nameof(output));

        if (epilogue.Scales is not null && epilogue.Scales.Length < g.OutChannels)
            throw new ArgumentException($"The epilogue has {epilogue.Scales.Length} channels; this convolution has {g.OutChannels}.", nameof(epilogue));
        if (_depthwiseWeights is not null)
        {
            if (_depthwiseVnni is not null && DepthwiseVnni.Prefers(g, width))
                _depthwiseVnni.Run(input, batch, height, width, za, epilogue, output, maxThreads);
            else if (DepthwiseConv.PrefersChannelsLast(g, width))
                DepthwiseConv.Int8ChannelsLast(input, batch, height, width, za, g, _depthwiseTapMajor!, epilogue, output, maxThreads);
            else
                DepthwiseConv.Int8(input, batch, height, width, za, g, _depthwiseWeights, epilogue, output, maxThreads);
            return;
        }

        if (_pointwiseVnni is not null && VnniRequantizer.Fuses(epilogue))
        {
            _pointwiseVnni.Run(input, batch, pixels, za, epilogue, output, maxThreads);
            return;
        }

        if (_directVnni is not null && VnniRequantizer.Fuses(epilogue))
        {
            _directVnni.Run(input, batch, height, width, za, epilogue, output, maxThreads);
            return;
        }

        byte[] hwc = ArrayPool<byte>.Shared.Rent(pixels * g.InChannels);
        TOut[] result = ArrayPool<TOut>.Shared.Rent(outPixels * g.OutChannels);
        try
        {
            for (int n = 0; n < batch; n++)
            {
                ConvLayout.ChannelsLast(input.Slice(n * g.InChannels * pixels, g.InChannels * pixels), g.InChannels, pixels, hwc);
                Span<TOut> nhwc = result.AsSpan(0, outPixels * g.OutChannels);
                if (g.IsPointwise)
                    Pointwise(hwc, outPixels, za, epilogue, nhwc, maxThreads);
                else
                    Patches(hwc, height, width, za, epilogue, nhwc, maxThreads);
                ConvLayout.ChannelsFirst<TOut>(nhwc, outPixels, g.OutChannels, output.Slice(n * g.OutChannels * outPixels, g.OutChannels * outPixels));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(hwc);
            ArrayPool<TOut>.Shared.Return(result);
        }
    }

    /// <summary>A 1×1 convolution: pixel p's channels of a group start at p·C + group·C/groups, the GEMM's rows as they are.</summary>
    private void Pointwise<TOut>(byte[] hwc, int pixels, int za, Int8GemmEpilogue epilogue, Span<TOut> nhwc, int maxThreads)
        where TOut : unmanaged
    {
        var g = Geometry;
        int cog = g.OutChannelsPerGroup;
        for (int group = 0; group < g.Groups; group++)
        {
            var a = hwc.AsSpan(group * g.InChannelsPerGroup, (pixels - 1) * g.InChannels + g.InChannelsPerGroup);
            Int8Gemm.Multiply(a, pixels, g.InChannels, za, _groupWeights[group], epilogue,
                nhwc.Slice(group * cog, (pixels - 1) * g.OutChannels + cog), g.OutChannels, maxThreads, epilogueOffset: group * cog);
        }
    }

    /// <summary>Other convolutions: im2col and the GEMM by chunks whose rows stay in L2 (<see cref="ConvLayout.ByPatchChunks"/>).</summary>
    private unsafe void Patches<TOut>(byte[] hwc, int height, int width, int za, Int8GemmEpilogue epilogue, Span<TOut> nhwc, int maxThreads)
        where TOut : unmanaged
    {
        var g = Geometry;
        int cog = g.OutChannelsPerGroup, patch = g.PatchSize;
        fixed (TOut* output = nhwc)
        {
            nint y = (nint)output;
            ConvLayout.ByPatchChunks(hwc, height, width, g, (byte)za, ChunkBytes, Int8Gemm.RowBlock, maxThreads, (group, first, rows, columns) =>
            {
                var target = new Span<TOut>((TOut*)y + (long)first * g.OutChannels + group * cog, (rows - 1) * g.OutChannels + cog);
                Int8Gemm.Multiply(columns.AsSpan(0, rows * patch), rows, patch, za, _groupWeights[group], epilogue, target, g.OutChannels,
                    maxThreads: 1, epilogueOffset: group * cog);
            });
        }
    }

    /// <summary>The im2col bytes of one chunk: with its packed copy, well within a core's L2.</summary>
    private const int ChunkBytes = 192 * 1024;
}
