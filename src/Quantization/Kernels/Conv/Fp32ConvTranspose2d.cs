using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
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
    private readonly Fp32PackedB[] _groupWeights;   // empty when _patterns is set

    /// <summary>
    /// With taps that never overlap (the usual 2×2 upsampling), the weights as vectors along an output row, for each
    /// phase (output column modulo the kernel width) a vector can start at: [phase, out channel, kh, in channel, lane].
    /// </summary>
    private readonly float[]? _patterns;

    private readonly int _phases;

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
            int ci = geometry.InChannels, co = geometry.OutChannels, lanes = Vector<float>.Count;
            // Pattern (o, kh, c) is one vector of output row 2·i + kh: lane l holds w[c, o, kh, (phase + l) % kernelW]
            // for the phases a vector can start at.
            _phases = lanes % geometry.KernelW == 0 ? 1 : geometry.KernelW;
            _patterns = new float[_phases * co * geometry.KernelH * ci * lanes];
            for (int phase = 0; phase < _phases; phase++)
            {
                for (int o = 0; o < co; o++)
                {
                    for (int kh = 0; kh < geometry.KernelH; kh++)
                    {
                        for (int c = 0; c < ci; c++)
                        {
                            int start = (((phase * co + o) * geometry.KernelH + kh) * ci + c) * lanes;
                            for (int l = 0; l < lanes; l++)
                                _patterns[start + l] = weights[(c * co + o) * taps + kh * geometry.KernelW + (phase + l) % geometry.KernelW];
                        }
                    }
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
        if (_patterns is not null)
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
    /// <c>bias + Σ_c w[c, o, kh, kw] x[c, i, j]</c>. Each input row is spread once to output width (x[c, i, j]
    /// repeated kW times); an output row is then a sum of those spread rows times the (o, kh, c) patterns, one vector
    /// multiply-add per input channel and vector of output pixels, with no GEMM, layout change or scatter.
    /// </summary>
    private unsafe void RunDirect(ReadOnlySpan<float> input, int batch, int height, int width, ReadOnlySpan<float> bias, Span<float> output, bool clamp, float lo, float hi, int maxThreads)
    {
        var g = Geometry;
        int ci = g.InChannels, co = g.OutChannels, kh = g.KernelH, kw = g.KernelW, oh = g.OutputHeight(height), ow = g.OutputWidth(width);
        float[] patterns = _patterns!;
        int phases = _phases;
        fixed (float* px = input)
        fixed (float* py = output)
        fixed (float* pb = bias)
        {
            nint x = (nint)px, y = (nint)py, b = (nint)pb;
            bool hasBias = !bias.IsEmpty;
            KernelParallel.For(batch * height, (long)batch * height * ow * kh * ci * co, row =>
            {
                int n = row / height, i = row % height;
                float[] spread = ArrayPool<float>.Shared.Rent(ci * ow);
                for (int c = 0; c < ci; c++)
                    Spread((float*)x + ((long)(n * ci + c) * height + i) * width, width, kw, spread.AsSpan(c * ow, ow));

                for (int o = 0; o < co; o++)
                {
                    float biasValue = hasBias ? ((float*)b)[o] : 0f;
                    for (int r = 0; r < kh; r++)
                    {
                        var destination = new Span<float>((float*)y + ((long)(n * co + o) * oh + i * kh + r) * ow, ow);
                        OutputRow(spread, ci, ow, patterns, phases, (o * kh + r) * ci, co * kh * ci, kw, biasValue, clamp, lo, hi, destination);
                    }
                }

                ArrayPool<float>.Shared.Return(spread);
            }, maxThreads);
        }
    }

    /// <summary><c>target[j·kW + t] = source[j]</c>: each value repeated kW times (2×2 upsampling: a lane shuffle).</summary>
    private static unsafe void Spread(float* source, int width, int kw, Span<float> target)
    {
        int j = 0;
        fixed (float* t = target)
        {
            if (kw == 2)
            {
                for (; j + 4 <= width; j += 4)
                {
                    var v = Vector128.Load(source + j);
                    Vector128.Shuffle(v, Vector128.Create(0, 0, 1, 1)).Store(t + 2 * j);
                    Vector128.Shuffle(v, Vector128.Create(2, 2, 3, 3)).Store(t + 2 * j + 4);
                }
            }

            for (; j < width; j++)
            {
                for (int k = 0; k < kw; k++)
                    t[j * kw + k] = source[j];
            }
        }
    }

    /// <summary>One output row: <c>dst[p] = act(bias + Σ_c pattern[c][p] · spread[c][p])</c>, four vectors at a time.</summary>
    private static void OutputRow(float[] spread, int ci, int ow, float[] patterns, int phases, int patternRow, int phaseStride, int kernelW, float bias, bool clamp, float lo, float hi, Span<float> destination)
    {
        int lanes = Vector<float>.Count, p = 0;
        ref float s = ref spread[0];
        ref float d = ref MemoryMarshal.GetReference(destination);
        var vlo = new Vector<float>(lo);
        var vhi = new Vector<float>(hi);
        if (phases == 1)
        {
            ref float w = ref patterns[patternRow * lanes];
            for (; p + 4 * lanes <= ow; p += 4 * lanes)
            {
                Vector<float> a0 = new(bias), a1 = a0, a2 = a0, a3 = a0;
                for (int c = 0; c < ci; c++)
                {
                    var pattern = Vector.LoadUnsafe(ref w, (nuint)(c * lanes));
                    nuint at = (nuint)(c * ow + p);
                    a0 = Vector.FusedMultiplyAdd(pattern, Vector.LoadUnsafe(ref s, at), a0);
                    a1 = Vector.FusedMultiplyAdd(pattern, Vector.LoadUnsafe(ref s, at + (nuint)lanes), a1);
                    a2 = Vector.FusedMultiplyAdd(pattern, Vector.LoadUnsafe(ref s, at + (nuint)(2 * lanes)), a2);
                    a3 = Vector.FusedMultiplyAdd(pattern, Vector.LoadUnsafe(ref s, at + (nuint)(3 * lanes)), a3);
                }

                Store(a0, clamp, vlo, vhi, ref d, p);
                Store(a1, clamp, vlo, vhi, ref d, p + lanes);
                Store(a2, clamp, vlo, vhi, ref d, p + 2 * lanes);
                Store(a3, clamp, vlo, vhi, ref d, p + 3 * lanes);
            }
        }

        for (; p + lanes <= ow; p += lanes)
        {
            // A vector starting at column p starts at phase p % kW of the pattern.
            ref float w = ref patterns[(((phases == 1 ? 0 : p % phases) * phaseStride) + patternRow) * lanes];
            Vector<float> acc = new(bias);
            for (int c = 0; c < ci; c++)
                acc = Vector.FusedMultiplyAdd(Vector.LoadUnsafe(ref w, (nuint)(c * lanes)), Vector.LoadUnsafe(ref s, (nuint)(c * ow + p)), acc);
            Store(acc, clamp, vlo, vhi, ref d, p);
        }

        for (; p < ow; p++)
        {
            // Column p takes tap p % kW: lane p % kW of phase 0 when kW divides the lane count, else lane 0 of phase p % kW.
            int at = phases == 1 ? (patternRow * lanes) + p % kernelW : ((p % phases * phaseStride) + patternRow) * lanes;
            float sum = bias;
            for (int c = 0; c < ci; c++)
                sum = MathF.FusedMultiplyAdd(patterns[at + c * lanes], spread[c * ow + p], sum);
            destination[p] = clamp ? Math.Min(Math.Max(sum, lo), hi) : sum;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector<float> value, bool clamp, Vector<float> lo, Vector<float> hi, ref float destination, int at) =>
        (clamp ? Vector.Min(Vector.Max(value, lo), hi) : value).StoreUnsafe(ref destination, (nuint)at);
}
