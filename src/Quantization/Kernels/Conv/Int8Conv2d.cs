using System.Buffers;
using System.Numerics;
using System.Runtime.InteropServices;
using Quantization.Kernels.Gemm;
using Quantization.Kernels.Threading;

namespace Quantization.Kernels.Conv;

/// <summary>
/// INT8 2-D convolution, NCHW in and out: <c>acc = Σ (x - za) * (w - zw[co])</c>, then the GEMM epilogue (raw int32,
/// float, or requantized u8/s8, with bias and optional ReLU/clamp). Weights are packed once, here.
/// </summary>
/// <remarks>
/// Regular and grouped convolutions transpose the image to NHWC, build im2col rows of contiguous channel runs (none
/// for a pointwise convolution, whose NHWC image already is the GEMM's left operand), run the packed INT8 GEMM per
/// group into an NHWC buffer, and transpose back. Depthwise convolutions take their own kernel: NHWC, each pixel
/// accumulating its taps across all channels at once with int32 vectors.
/// </remarks>
internal sealed class Int8Conv2d
{
    private readonly Int8PackedWeights[]? _groupWeights;
    private readonly int[]? _depthwiseWeights;

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
            // [tap, channel] with the zero point already subtracted: each tap is one contiguous run of channels.
            int taps = geometry.KernelH * geometry.KernelW, channels = geometry.OutChannels;
            _depthwiseWeights = new int[taps * channels];
            for (int c = 0; c < channels; c++)
            {
                int zw = weightZeroPoints.Length == 1 ? weightZeroPoints[0] : weightZeroPoints[c];
                for (int t = 0; t < taps; t++)
                    _depthwiseWeights[t * channels + c] = weights[c * taps + t] - zw;
            }

            return;
        }

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

        byte[] hwc = ArrayPool<byte>.Shared.Rent(pixels * g.InChannels);
        TOut[] result = ArrayPool<TOut>.Shared.Rent(outPixels * g.OutChannels);
        bool needsColumns = _groupWeights is not null && !g.IsPointwise;
        byte[]? columns = needsColumns ? ArrayPool<byte>.Shared.Rent(outPixels * g.PatchSize) : null;
        int[]? shifted = _depthwiseWeights is not null ? ArrayPool<int>.Shared.Rent(pixels * g.InChannels) : null;
        try
        {
            for (int n = 0; n < batch; n++)
            {
                ConvLayout.ChannelsLast(input.Slice(n * g.InChannels * pixels, g.InChannels * pixels), g.InChannels, pixels, hwc);
                Span<TOut> nhwc = result.AsSpan(0, outPixels * g.OutChannels);
                if (_depthwiseWeights is not null)
                    Depthwise(hwc.AsSpan(0, pixels * g.InChannels), height, width, za, shifted!, epilogue, nhwc, maxThreads);
                else
                    Grouped(hwc, height, width, za, columns, epilogue, nhwc, maxThreads);
                ConvLayout.ChannelsFirst<TOut>(nhwc, outPixels, g.OutChannels, output.Slice(n * g.OutChannels * outPixels, g.OutChannels * outPixels));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(hwc);
            ArrayPool<TOut>.Shared.Return(result);
            if (columns is not null)
                ArrayPool<byte>.Shared.Return(columns);
            if (shifted is not null)
                ArrayPool<int>.Shared.Return(shifted);
        }
    }

    private void Grouped<TOut>(byte[] hwc, int height, int width, int za, byte[]? columns, Int8GemmEpilogue epilogue, Span<TOut> nhwc, int maxThreads)
        where TOut : unmanaged
    {
        var g = Geometry;
        int outPixels = g.OutputHeight(height) * g.OutputWidth(width), cog = g.OutChannelsPerGroup;
        for (int group = 0; group < g.Groups; group++)
        {
            ReadOnlySpan<byte> a;
            int lda;
            if (columns is null)
            {
                // Pointwise: pixel p's channels of this group start at p * C + group * C/groups.
                a = hwc.AsSpan(group * g.InChannelsPerGroup, (outPixels - 1) * g.InChannels + g.InChannelsPerGroup);
                lda = g.InChannels;
            }
            else
            {
                ConvLayout.Im2Col<byte>(hwc.AsSpan(0, height * width * g.InChannels), height, width, group, g, (byte)za, columns);
                a = columns.AsSpan(0, outPixels * g.PatchSize);
                lda = g.PatchSize;
            }

            Int8Gemm.Multiply(a, outPixels, lda, za, _groupWeights![group], epilogue,
                nhwc.Slice(group * cog, (outPixels - 1) * g.OutChannels + cog), g.OutChannels, maxThreads, epilogueOffset: group * cog);
        }
    }

    /// <summary>
    /// Depthwise: <c>acc[p, c] = Σ_taps (x[tap pixel, c] - za) * (w[tap, c] - zw[c])</c>; taps in the padding add nothing
    /// and are skipped. Vectorized over channels, in int32; output rows are split across threads.
    /// </summary>
    private unsafe void Depthwise<TOut>(ReadOnlySpan<byte> hwc, int height, int width, int za, int[] shifted, Int8GemmEpilogue epilogue, Span<TOut> nhwc, int maxThreads)
        where TOut : unmanaged
    {
        var g = Geometry;
        int channels = g.InChannels, oh = g.OutputHeight(height), ow = g.OutputWidth(width);
        Subtract(hwc, za, shifted);
        int[] weights = _depthwiseWeights!;
        fixed (TOut* output = nhwc)
        {
            nint destination = (nint)output;
            KernelParallel.For(oh, (long)oh * ow * channels * g.KernelH * g.KernelW, i =>
            {
                int[] acc = ArrayPool<int>.Shared.Rent(channels);
                for (int j = 0; j < ow; j++)
                {
                    Span<int> sum = acc.AsSpan(0, channels);
                    sum.Clear();
                    for (int kh = 0; kh < g.KernelH; kh++)
                    {
                        int ih = i * g.StrideH - g.PadTop + kh * g.DilationH;
                        if ((uint)ih >= (uint)height)
                            continue;
                        for (int kw = 0; kw < g.KernelW; kw++)
                        {
                            int iw = j * g.StrideW - g.PadLeft + kw * g.DilationW;
                            if ((uint)iw >= (uint)width)
                                continue;
                            MultiplyAdd(shifted.AsSpan((ih * width + iw) * channels, channels), weights.AsSpan((kh * g.KernelW + kw) * channels, channels), sum);
                        }
                    }

                    Int8GemmOutput.Write(sum, epilogue, 0, destination, (long)(i * ow + j) * channels);
                }

                ArrayPool<int>.Shared.Return(acc);
            }, maxThreads);
        }
    }

    /// <summary><c>shifted[i] = x[i] - za</c>, widening bytes to int32 lanes.</summary>
    private static void Subtract(ReadOnlySpan<byte> x, int za, Span<int> shifted)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var zero = new Vector<int>(za);
            ref byte xr = ref MemoryMarshal.GetReference(x);
            ref int sr = ref MemoryMarshal.GetReference(shifted);
            for (; i <= x.Length - Vector<byte>.Count; i += Vector<byte>.Count)
            {
                Vector.Widen(Vector.LoadUnsafe(ref xr, (nuint)i), out Vector<ushort> low, out Vector<ushort> high);
                Vector.Widen(low, out Vector<uint> q0, out Vector<uint> q1);
                Vector.Widen(high, out Vector<uint> q2, out Vector<uint> q3);
                (Vector.AsVectorInt32(q0) - zero).StoreUnsafe(ref sr, (nuint)i);
                (Vector.AsVectorInt32(q1) - zero).StoreUnsafe(ref sr, (nuint)(i + Vector<int>.Count));
                (Vector.AsVectorInt32(q2) - zero).StoreUnsafe(ref sr, (nuint)(i + 2 * Vector<int>.Count));
                (Vector.AsVectorInt32(q3) - zero).StoreUnsafe(ref sr, (nuint)(i + 3 * Vector<int>.Count));
            }
        }

        for (; i < x.Length; i++)
            shifted[i] = x[i] - za;
    }

    /// <summary><c>sum[c] += x[c] * w[c]</c> in int32 (exact: |x|, |w| ≤ 255).</summary>
    private static void MultiplyAdd(ReadOnlySpan<int> x, ReadOnlySpan<int> w, Span<int> sum)
    {
        int c = 0;
        if (Vector.IsHardwareAccelerated)
        {
            ref int xr = ref MemoryMarshal.GetReference(x);
            ref int wr = ref MemoryMarshal.GetReference(w);
            ref int sr = ref MemoryMarshal.GetReference(sum);
            for (; c <= x.Length - Vector<int>.Count; c += Vector<int>.Count)
                (Vector.LoadUnsafe(ref sr, (nuint)c) + Vector.LoadUnsafe(ref xr, (nuint)c) * Vector.LoadUnsafe(ref wr, (nuint)c)).StoreUnsafe(ref sr, (nuint)c);
        }

        for (; c < x.Length; c++)
            sum[c] += x[c] * w[c];
    }
}
