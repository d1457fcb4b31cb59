using System.Buffers;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using Quantization.Kernels.Gemm;
using Quantization.Kernels.Threading;

namespace Quantization.Kernels.Conv;

/// <summary>
/// FP32 2-D transposed convolution, NCHW in and out, with bias and activation: the FP32 counterpart of
/// <see cref="Int8ConvTranspose2d"/>.
/// </summary>
/// <remarks>
/// Per group, one GEMM multiplies the NHWC image (pixels × input channels) by the weights arranged as
/// [input channel, (tap, output channel)], giving every pixel's contribution through every tap; col2im adds those
/// into the output pixels they land on, then bias and activation run once per output pixel. When the taps never
/// overlap (stride equal to the kernel, no padding, dilation or groups) each output pixel has one contribution, and
/// each output row is computed directly from one input row (see <c>RunDirect</c>), with no layout changes or col2im.
/// </remarks>
internal sealed class Fp32ConvTranspose2d
{
    private readonly Fp32PackedB[] _groupWeights;   // empty when _direct is set

    /// <summary>
    /// With taps that never overlap (the usual 2×2 upsampling), the weights as a pointwise convolution's: one row per
    /// (output channel, tap), [o, kh, kw, in channel].
    /// </summary>
    private readonly float[]? _direct;

    /// <param name="geometry">The transposed convolution's shape.</param>
    /// <param name="weights">Weights [inChannels, outChannels / groups, kernelH, kernelW], as PyTorch and ONNX store them.</param>
    /// <param name="variant">The FP32 GEMM variant to pack for (default: the best).</param>
    public Fp32ConvTranspose2d(ConvTranspose2dGeometry geometry, ReadOnlySpan<float> weights, Fp32GemmVariant? variant = null)
    {
        geometry.Validate(nameof(geometry));
        int cig = geometry.InChannelsPerGroup, cog = geometry.OutChannelsPerGroup, taps = geometry.Taps;
        if (weights.Length != geometry.InChannels * cog * taps)
            throw new ArgumentException($"Expected {geometry.InChannels * cog * taps} weights for {geometry} but got {weights.Length}.", nameof(weights));
        Geometry = geometry;

        if (geometry is { Groups: 1, DilationH: 1, DilationW: 1, PadTop: 0, PadLeft: 0, PadBottom: 0, PadRight: 0, OutputPaddingH: 0, OutputPaddingW: 0 }
            && geometry.StrideH == geometry.KernelH && geometry.StrideW == geometry.KernelW)
        {
            // Row ((o·kH + kh)·kW + kw) of the direct weights holds w[c, o, kh, kw] over the input channels c.
            int ci = geometry.InChannels, co = geometry.OutChannels;
            _direct = new float[co * taps * ci];
            for (int c = 0; c < ci; c++)
            {
                for (int o = 0; o < co; o++)
                {
                    for (int t = 0; t < taps; t++)
                        _direct[(o * taps + t) * ci + c] = weights[(c * co + o) * taps + t];
                }
            }

            _groupWeights = [];
            return;
        }

        int columns = taps * cog;
        _groupWeights = new Fp32PackedB[geometry.Groups];
        var b = new float[cig * columns];
        for (int group = 0; group < geometry.Groups; group++)
        {
            for (int ci = 0; ci < cig; ci++)
            {
                for (int co = 0; co < cog; co++)
                {
                    for (int t = 0; t < taps; t++)
                        b[ci * columns + t * cog + co] = weights[((group * cig + ci) * cog + co) * taps + t];
                }
            }

            _groupWeights[group] = Fp32Gemm.Pack(b, cig, columns, transposed: false, variant);
        }
    }

    public ConvTranspose2dGeometry Geometry { get; }

    /// <summary>
    /// Runs an NCHW batch into <paramref name="output"/> (NCHW), adding <paramref name="bias"/> (empty, or one per output
    /// channel) and applying <paramref name="activation"/>.
    /// </summary>
    public void Run(ReadOnlySpan<float> input, int batch, int height, int width, ReadOnlySpan<float> bias, Span<float> output,
        Fp32Activation activation = Fp32Activation.None, float clampMin = float.NegativeInfinity, float clampMax = float.PositiveInfinity, int maxThreads = 0)
    {
        var g = Geometry;
        g.ValidateInput(height, width, nameof(height));
        int pixels = height * width, oh = g.OutputHeight(height), ow = g.OutputWidth(width), outPixels = oh * ow;
        int cog = g.OutChannelsPerGroup, columns = g.Taps * cog;
        if (batch < 0 || input.Length != (long)batch * g.InChannels * pixels)
            throw new ArgumentException($"Expected {batch}×{g.InChannels}×{height}×{width} input values but got {input.Length}.", nameof(input));
        if (output.Length != (long)batch * g.OutChannels * outPixels)
            throw new ArgumentException($"Expected {batch}×{g.OutChannels}×{oh}×{ow} output values but got {output.Length}.", nameof(output));
        if (!bias.IsEmpty && bias.Length != g.OutChannels)
            throw new ArgumentException($"Expected {g.OutChannels} biases but got {bias.Length}.", nameof(bias));
        (float lo, float hi) = Fp32Gemm.Bounds(activation, clampMin, clampMax);
        if (_direct is not null)
        {
            RunDirect(input, batch, height, width, bias, output, activation != Fp32Activation.None, lo, hi, maxThreads);
            return;
        }

        float[] hwc = ArrayPool<float>.Shared.Rent(pixels * g.InChannels);
        float[] contributions = ArrayPool<float>.Shared.Rent(pixels * columns);
        float[] nhwc = ArrayPool<float>.Shared.Rent(outPixels * g.OutChannels);
        try
        {
            for (int n = 0; n < batch; n++)
            {
                ConvLayout.ChannelsLast(input.Slice(n * g.InChannels * pixels, g.InChannels * pixels), g.InChannels, pixels, hwc);
                Span<float> sums = nhwc.AsSpan(0, outPixels * g.OutChannels);
                sums.Clear();
                for (int group = 0; group < g.Groups; group++)
                {
                    ReadOnlySpan<float> a = hwc.AsSpan(group * g.InChannelsPerGroup, (pixels - 1) * g.InChannels + g.InChannelsPerGroup);
                    Fp32Gemm.Multiply(a, pixels, g.InChannels, _groupWeights[group], default, contributions.AsSpan(0, pixels * columns), columns, maxThreads: maxThreads);
                    ConvLayout.ColumnsToImage<float>(contributions.AsSpan(0, pixels * columns), height, width, group, g, sums);
                }

                for (int p = 0; p < outPixels; p++)
                    Fp32Gemm.Epilogue(sums.Slice(p * g.OutChannels, g.OutChannels), bias, lo, hi, activation != Fp32Activation.None);

                ConvLayout.ChannelsFirst<float>(sums, outPixels, g.OutChannels, output.Slice(n * g.OutChannels * outPixels, g.OutChannels * outPixels));
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(hwc);
            ArrayPool<float>.Shared.Return(contributions);
            ArrayPool<float>.Shared.Return(nhwc);
        }
    }

    /// <summary>
    /// Non-overlapping taps: input row i makes output rows i·kH + kh, and output pixel (i·kH + kh, j·kW + kw) is
    /// <c>act(bias[o] + Σ_c w[c, o, kh, kw] x[c, i, j])</c>: a pointwise convolution of the input row to one row per
    /// (o, kh, kw), by the FP32 convolution's register-blocked kernel (<see cref="Fp32Conv2d.Channels"/>), whose rows
    /// are then interleaved into the output rows. No GEMM, layout change or scatter; input rows run in parallel.
    /// </summary>
    private unsafe void RunDirect(ReadOnlySpan<float> input, int batch, int height, int width, ReadOnlySpan<float> bias, Span<float> output, bool clamp, float lo, float hi, int maxThreads)
    {
        var g = Geometry;
        int ci = g.InChannels, co = g.OutChannels, kh = g.KernelH, kw = g.KernelW, taps = kh * kw, oh = g.OutputHeight(height), ow = g.OutputWidth(width);
        float[] weights = _direct!;
        var rowBias = new float[co * taps];
        for (int o = 0; o < co; o++)
            rowBias.AsSpan(o * taps, taps).Fill(bias.IsEmpty ? 0f : bias[o]);
        fixed (float* px = input)
        fixed (float* py = output)
        {
            nint x = (nint)px, y = (nint)py;
            KernelParallel.For(batch * height, (long)batch * height * width * taps * ci * co, row =>
            {
                int n = row / height, i = row % height;
                float** planes = stackalloc float*[ci];
                for (int c = 0; c < ci; c++)
                    planes[c] = (float*)x + ((long)(n * ci + c) * height + i) * width;
                float[] rows = ArrayPool<float>.Shared.Rent(co * taps * width);
                fixed (float* r = rows)
                {
                    for (int o = 0; o < co * taps; o += 4)
                        Fp32Conv2d.Channels(planes, 0, width, o, Math.Min(4, co * taps - o), ci, weights, rowBias, lo, hi, clamp, r, width);
                    for (int o = 0; o < co; o++)
                    {
                        for (int k = 0; k < kh; k++)
                            Interleave(r + (long)(o * taps + k * kw) * width, width, kw, (float*)y + ((long)(n * co + o) * oh + i * kh + k) * ow);
                    }
                }

                ArrayPool<float>.Shared.Return(rows);
            }, maxThreads);
        }
    }

    /// <summary><c>target[j·kW + t] = rows[t·width + j]</c>: the kW tap rows of one output row, interleaved.</summary>
    private static unsafe void Interleave(float* rows, int width, int kw, float* target)
    {
        int j = 0;
        if (kw == 2 && Avx512F.IsSupported)
        {
            var low = Vector512.Create(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
            var high = Vector512.Create(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
            for (; j + 16 <= width; j += 16)
            {
                var a = Vector512.Load(rows + j);
                var b = Vector512.Load(rows + width + j);
                Avx512F.PermuteVar16x32x2(a, low, b).Store(target + 2 * j);
                Avx512F.PermuteVar16x32x2(a, high, b).Store(target + 2 * j + 16);
            }
        }
        else if (kw == 2 && AdvSimd.Arm64.IsSupported)
        {
            for (; j + 4 <= width; j += 4)
            {
                var a = AdvSimd.LoadVector128(rows + j);
                var b = AdvSimd.LoadVector128(rows + width + j);
                AdvSimd.Store(target + 2 * j, AdvSimd.Arm64.ZipLow(a, b));
                AdvSimd.Store(target + 2 * j + 4, AdvSimd.Arm64.ZipHigh(a, b));
            }
        }

        for (; j < width; j++)
        {
            for (int t = 0; t < kw; t++)
                target[j * kw + t] = rows[t * width + j];
        }
    }
}
