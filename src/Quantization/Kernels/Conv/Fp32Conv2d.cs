using System.Buffers;
using System.Numerics;
using Quantization.Kernels.Gemm;
using Quantization.Kernels.Threading;

namespace Quantization.Kernels.Conv;

/// <summary>
/// FP32 2-D convolution, NCHW in and out: <c>y = act(Σ x * w + bias[co])</c>. Weights are packed once, here; the
/// FP32 counterpart of <see cref="Int8Conv2d"/> and the baseline its speedup is measured against.
/// </summary>
/// <remarks>
/// The same structure as the INT8 convolution: images go to NHWC, im2col builds rows of contiguous channel runs
/// (none for a pointwise convolution), and the packed FP32 GEMM, with bias and activation fused, writes NHWC.
/// Several images share one GEMM while their im2col rows fit <see cref="ColumnBudget"/> floats, so small images
/// (MNIST, late CNN stages) still give the GEMM enough rows to split across threads. Pointwise convolutions with few
/// input channels skip all that and sum the NCHW planes directly (<see cref="RunsDirect"/>). Depthwise convolutions take
/// their own kernels (<see cref="DepthwiseConv"/>): on the NCHW planes, or on x86 across the channels of an NHWC copy.
/// </remarks>
internal sealed class Fp32Conv2d
{
    /// <summary>The most floats of im2col (or NHWC) rows one GEMM call takes: 8 MiB, inside a desktop L3.</summary>
    internal const int ColumnBudget = 2 << 20;

    private readonly Fp32PackedB[] _groupWeights = [];
    private readonly float[]? _depthwiseWeights;

    /// <summary>For a narrow pointwise convolution (see <see cref="RunsDirect"/>), the weights [out, in] as given.</summary>
    private readonly float[]? _pointwiseWeights;

    /// <summary>The depthwise weights as [tap, channel], for the channels-last kernel.</summary>
    private readonly float[]? _depthwiseTapMajor;

    /// <param name="geometry">The convolution's shape.</param>
    /// <param name="weights">Weights [outChannels, inChannels / groups, kernelH, kernelW], as PyTorch and ONNX store them.</param>
    /// <param name="variant">The FP32 GEMM variant to pack for (default: the best).</param>
    public Fp32Conv2d(Conv2dGeometry geometry, ReadOnlySpan<float> weights, Fp32GemmVariant? variant = null)
    {
        geometry.Validate(nameof(geometry));
        int expected = geometry.OutChannels * geometry.PatchSize;
        if (weights.Length != expected)
            throw new ArgumentException($"Expected {expected} weights for {geometry} but got {weights.Length}.", nameof(weights));
        Geometry = geometry;

        if (geometry.IsDepthwise)
        {
            _depthwiseWeights = weights.ToArray();
            int taps = geometry.KernelH * geometry.KernelW, channels = geometry.OutChannels;
            _depthwiseTapMajor = new float[taps * channels];
            for (int c = 0; c < channels; c++)
            {
                for (int t = 0; t < taps; t++)
                    _depthwiseTapMajor[t * channels + c] = weights[c * taps + t];
            }

            return;
        }

        if (RunsDirect(geometry))
        {
            _pointwiseWeights = weights.ToArray();
            return;
        }

        _groupWeights = new Fp32PackedB[geometry.Groups];
        for (int group = 0; group < geometry.Groups; group++)
            _groupWeights[group] = Fp32Gemm.Pack(ConvLayout.WeightsToTapMajor(weights, group, geometry), geometry.PatchSize, geometry.OutChannelsPerGroup, transposed: true, variant);
    }

    public Conv2dGeometry Geometry { get; }

    /// <summary>
    /// Convolves an NCHW batch into <paramref name="output"/> (NCHW), adding <paramref name="bias"/> (empty, or one per
    /// output channel) and applying <paramref name="activation"/>.
    /// </summary>
    public void Run(ReadOnlySpan<float> input, int batch, int height, int width, ReadOnlySpan<float> bias, Span<float> output,
        Fp32Activation activation = Fp32Activation.None, float clampMin = float.NegativeInfinity, float clampMax = float.PositiveInfinity, int maxThreads = 0)
    {
        var g = Geometry;
        g.ValidateInput(height, width, nameof(height));
        int pixels = height * width, oh = g.OutputHeight(height), ow = g.OutputWidth(width), outPixels = oh * ow;
        if (batch < 0 || input.Length != (long)batch * g.InChannels * pixels)
            throw new ArgumentException($"Expected {batch}×{g.InChannels}×{height}×{width} input values but got {input.Length}.", nameof(input));
        if (output.Length != (long)batch * g.OutChannels * outPixels)
            throw new ArgumentException($"Expected {batch}×{g.OutChannels}×{oh}×{ow} output values but got {output.Length}.", nameof(output));
        if (!bias.IsEmpty && bias.Length != g.OutChannels)
            throw new ArgumentException($"Expected {g.OutChannels} biases but got {bias.Length}.", nameof(bias));
        if (batch == 0)
            return;
        if (_depthwiseWeights is not null)
        {
            (float lo, float hi) = Fp32Gemm.Bounds(activation, clampMin, clampMax);
            if (DepthwiseConv.PrefersChannelsLastFp32(g, width))
                DepthwiseConv.Fp32ChannelsLast(input, batch, height, width, g, _depthwiseTapMajor!, bias, lo, hi, activation != Fp32Activation.None, output, maxThreads);
            else
                DepthwiseConv.Fp32(input, batch, height, width, g, _depthwiseWeights, bias, lo, hi, activation != Fp32Activation.None, output, maxThreads);
            return;
        }

        if (_pointwiseWeights is not null)
        {
            (float lo, float hi) = Fp32Gemm.Bounds(activation, clampMin, clampMax);
            for (int n = 0; n < batch; n++)
            {
                PointwiseDirect(input.Slice(n * g.InChannels * pixels, g.InChannels * pixels), pixels, bias, lo, hi, activation != Fp32Activation.None,
                    output.Slice(n * g.OutChannels * pixels, g.OutChannels * pixels), maxThreads);
            }

            return;
        }

        int rowLength = g.IsPointwise ? g.InChannels : g.PatchSize;
        int chunk = Math.Clamp(ColumnBudget / Math.Max(1, outPixels * rowLength), 1, batch);
        float[] hwc = ArrayPool<float>.Shared.Rent(chunk * pixels * g.InChannels);
        float[] nhwc = ArrayPool<float>.Shared.Rent(chunk * outPixels * g.OutChannels);
        float[]? columns = !g.IsPointwise ? ArrayPool<float>.Shared.Rent(chunk * outPixels * g.PatchSize) : null;
        try
        {
            for (int n0 = 0; n0 < batch; n0 += chunk)
            {
                int images = Math.Min(chunk, batch - n0);
                for (int n = 0; n < images; n++)
                {
                    ConvLayout.ChannelsLast(input.Slice((n0 + n) * g.InChannels * pixels, g.InChannels * pixels), g.InChannels, pixels,
                        hwc.AsSpan(n * pixels * g.InChannels, pixels * g.InChannels));
                }

                Grouped(hwc, images, height, width, columns, bias, activation, clampMin, clampMax, nhwc, maxThreads);

                for (int n = 0; n < images; n++)
                {
                    ConvLayout.ChannelsFirst<float>(nhwc.AsSpan(n * outPixels * g.OutChannels, outPixels * g.OutChannels), outPixels, g.OutChannels,
                        output.Slice((n0 + n) * g.OutChannels * outPixels, g.OutChannels * outPixels));
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(hwc);
            ArrayPool<float>.Shared.Return(nhwc);
            if (columns is not null)
                ArrayPool<float>.Shared.Return(columns);
        }
    }

    private void Grouped(float[] hwc, int images, int height, int width, float[]? columns, ReadOnlySpan<float> bias,
        Fp32Activation activation, float clampMin, float clampMax, float[] nhwc, int maxThreads)
    {
        var g = Geometry;
        int pixels = height * width, outPixels = g.OutputHeight(height) * g.OutputWidth(width), rows = images * outPixels, cog = g.OutChannelsPerGroup;
        for (int group = 0; group < g.Groups; group++)
        {
            ReadOnlySpan<float> a;
            int lda;
            if (columns is null)
            {
                // Pointwise: pixel p's channels of this group start at p * C + group * C/groups, across all images.
                a = hwc.AsSpan(group * g.InChannelsPerGroup, (rows - 1) * g.InChannels + g.InChannelsPerGroup);
                lda = g.InChannels;
            }
            else
            {
                for (int n = 0; n < images; n++)
                {
                    ConvLayout.Im2Col<float>(hwc.AsSpan(n * pixels * g.InChannels, pixels * g.InChannels), height, width, group, g, 0f,
                        columns.AsSpan(n * outPixels * g.PatchSize, outPixels * g.PatchSize));
                }

                a = columns.AsSpan(0, rows * g.PatchSize);
                lda = g.PatchSize;
            }

            Fp32Gemm.Multiply(a, rows, lda, _groupWeights[group], bias.IsEmpty ? default : bias.Slice(group * cog, cog),
                nhwc.AsSpan(group * cog, (rows - 1) * g.OutChannels + cog), g.OutChannels, activation, clampMin, clampMax, maxThreads);
        }
    }

    /// <summary>
    /// Pointwise convolutions with few input channels (32 or fewer, no groups) run on the NCHW planes directly: an
    /// output plane is a weighted sum of the input planes, so there is nothing to transpose, and with so short a K the
    /// two layout changes around the GEMM cost more than the GEMM (16 -> 32 channels at 320×320, one thread: 4.3 -> 3.3 ms).
    /// </summary>
    private static bool RunsDirect(Conv2dGeometry g) => g.IsPointwise && g.Groups == 1 && g.InChannels <= 32 && Vector.IsHardwareAccelerated;

    /// <summary>
    /// <c>y[o] = act(bias[o] + Σ_c w[o, c] x[c])</c> over runs of pixels: four output channels and two vectors of
    /// pixels at a time, each input vector loaded once for the four.
    /// </summary>
    private unsafe void PointwiseDirect(ReadOnlySpan<float> input, int pixels, ReadOnlySpan<float> bias, float lo, float hi, bool clamp, Span<float> output, int maxThreads)
    {
        var g = Geometry;
        int ci = g.InChannels, co = g.OutChannels;
        const int Run = 1024;
        float[] weights = _pointwiseWeights!;
        var biases = new float[co];
        bias.CopyTo(biases);
        fixed (float* px = input)
        fixed (float* py = output)
        {
            nint x = (nint)px, y = (nint)py;
            KernelParallel.For((pixels + Run - 1) / Run, (long)pixels * ci * co, run =>
            {
                int p0 = run * Run, p1 = Math.Min(pixels, p0 + Run);
                for (int o = 0; o < co; o += 4)
                    Channels((float*)x, pixels, p0, p1, o, Math.Min(4, co - o), ci, weights, biases, lo, hi, clamp, (float*)y);
            }, maxThreads);
        }
    }

    /// <summary>Output channels [o, o + count) (count ≤ 4) over pixels [p0, p1).</summary>
    private static unsafe void Channels(float* x, int pixels, int p0, int p1, int o, int count, int ci, float[] weights, float[] bias, float lo, float hi, bool clamp, float* y)
    {
        int lanes = Vector<float>.Count, p = p0;
        var vlo = new Vector<float>(lo);
        var vhi = new Vector<float>(hi);
        if (count == 4)
        {
            for (; p + 2 * lanes <= p1; p += 2 * lanes)
            {
                Vector<float> a0 = new(bias[o]), a1 = a0, b0 = new(bias[o + 1]), b1 = b0, c0 = new(bias[o + 2]), c1 = c0, d0 = new(bias[o + 3]), d1 = d0;
                for (int c = 0; c < ci; c++)
                {
                    float* plane = x + (long)c * pixels + p;
                    var x0 = Vector.Load(plane);
                    var x1 = Vector.Load(plane + lanes);
                    var w = new Vector<float>(weights[o * ci + c]);
                    a0 = Vector.FusedMultiplyAdd(w, x0, a0);
                    a1 = Vector.FusedMultiplyAdd(w, x1, a1);
                    w = new Vector<float>(weights[(o + 1) * ci + c]);
                    b0 = Vector.FusedMultiplyAdd(w, x0, b0);
                    b1 = Vector.FusedMultiplyAdd(w, x1, b1);
                    w = new Vector<float>(weights[(o + 2) * ci + c]);
                    c0 = Vector.FusedMultiplyAdd(w, x0, c0);
                    c1 = Vector.FusedMultiplyAdd(w, x1, c1);
                    w = new Vector<float>(weights[(o + 3) * ci + c]);
                    d0 = Vector.FusedMultiplyAdd(w, x0, d0);
                    d1 = Vector.FusedMultiplyAdd(w, x1, d1);
                }

                Store(a0, a1, y + (long)o * pixels + p);
                Store(b0, b1, y + (long)(o + 1) * pixels + p);
                Store(c0, c1, y + (long)(o + 2) * pixels + p);
                Store(d0, d1, y + (long)(o + 3) * pixels + p);
            }
        }

        // The pixels (or channels) left over, one output at a time.
        for (int k = 0; k < count; k++)
        {
            for (int q = count == 4 ? p : p0; q < p1; q++)
            {
                float sum = bias[o + k];
                for (int c = 0; c < ci; c++)
                    sum = MathF.FusedMultiplyAdd(weights[(o + k) * ci + c], x[(long)c * pixels + q], sum);
                y[(long)(o + k) * pixels + q] = clamp ? MathF.Min(MathF.Max(sum, lo), hi) : sum;
            }
        }

        void Store(Vector<float> first, Vector<float> second, float* target)
        {
            (clamp ? Vector.Min(Vector.Max(first, vlo), vhi) : first).Store(target);
            (clamp ? Vector.Min(Vector.Max(second, vlo), vhi) : second).Store(target + lanes);
        }
    }
}
