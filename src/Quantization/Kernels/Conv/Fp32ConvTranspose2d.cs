using System.Buffers;
using Quantization.Kernels.Gemm;

namespace Quantization.Kernels.Conv;

/// <summary>
/// FP32 2-D transposed convolution, NCHW in and out, with bias and activation: the FP32 counterpart of
/// <see cref="Int8ConvTranspose2d"/>.
/// </summary>
/// <remarks>
/// Per group, one GEMM multiplies the NHWC image (pixels × input channels) by the weights arranged as
/// [input channel, (tap, output channel)], giving every pixel's contribution through every tap; col2im adds those
/// into the output pixels they land on, then bias and activation run once per output pixel. When the taps never
/// overlap (stride equal to the kernel, no padding, dilation or groups) each output pixel has one contribution: one
/// GEMM on the NCHW input then scatters its rows straight into the output, with no layout changes or col2im.
/// </remarks>
internal sealed class Fp32ConvTranspose2d
{
    private readonly Fp32PackedB[] _groupWeights;   // empty when _tapRows is set

    /// <summary>With taps that never overlap (the usual 2×2 upsampling), the weights as rows [(out channel, tap), in channel].</summary>
    private readonly float[]? _tapRows;

    private readonly Fp32GemmVariant _variant;

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

        _variant = variant ?? Fp32Gemm.Registry.Best;
        if (geometry is { Groups: 1, DilationH: 1, DilationW: 1, PadTop: 0, PadLeft: 0, PadBottom: 0, PadRight: 0, OutputPaddingH: 0, OutputPaddingW: 0 }
            && geometry.StrideH == geometry.KernelH && geometry.StrideW == geometry.KernelW)
        {
            int ci = geometry.InChannels, co = geometry.OutChannels;
            _tapRows = new float[co * taps * ci];
            for (int c = 0; c < ci; c++)
            {
                for (int o = 0; o < co; o++)
                {
                    for (int t = 0; t < taps; t++)
                        _tapRows[(o * taps + t) * ci + c] = weights[(c * co + o) * taps + t];
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
        if (_tapRows is not null)
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

    private void RunDirect(ReadOnlySpan<float> input, int batch, int height, int width, ReadOnlySpan<float> bias, Span<float> output, bool clamp, float lo, float hi, int maxThreads)
    {
        var g = Geometry;
        int pixels = height * width, oh = g.OutputHeight(height), ow = g.OutputWidth(width), taps = g.Taps, rows = g.OutChannels * taps;
        float[] products = ArrayPool<float>.Shared.Rent(rows * pixels);
        try
        {
            for (int n = 0; n < batch; n++)
            {
                Fp32Gemm.MultiplyUnpacked(_tapRows, rows, g.InChannels, input.Slice(n * g.InChannels * pixels, g.InChannels * pixels), pixels, products, maxThreads, _variant);
                var image = output.Slice(n * g.OutChannels * oh * ow, g.OutChannels * oh * ow);
                for (int co = 0; co < g.OutChannels; co++)
                {
                    float b = bias.IsEmpty ? 0f : bias[co];
                    var plane = image.Slice(co * oh * ow, oh * ow);
                    for (int kh = 0; kh < g.KernelH; kh++)
                    {
                        for (int kw = 0; kw < g.KernelW; kw++)
                        {
                            var z = products.AsSpan((co * taps + kh * g.KernelW + kw) * pixels, pixels);
                            for (int i = 0; i < height; i++)
                            {
                                var row = plane.Slice((i * g.KernelH + kh) * ow + kw);
                                var source = z.Slice(i * width, width);
                                for (int j = 0; j < width; j++)
                                {
                                    float v = source[j] + b;
                                    row[j * g.KernelW] = clamp ? Math.Min(Math.Max(v, lo), hi) : v;
                                }
                            }
                        }
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(products);
        }
    }
}
