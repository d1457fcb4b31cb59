using System.Runtime.InteropServices;
using Quantization.Kernels.Conv;
using Quantization.Kernels.Gemm;
using Xunit;

namespace Quantization.Tests.Kernels.Conv;

/// <summary>INT8 convolution against the direct 7-loop reference, bit for bit, for every GEMM variant.</summary>
public class Int8Conv2dTests
{
    private const int Seed = 4242;

    public static TheoryData<string> Variants()
    {
        var data = new TheoryData<string>();
        foreach (var v in Int8Gemm.Registry.Supported)
            data.Add(v.Name);
        return data;
    }

    /// <summary>Stride, padding (asymmetric too), dilation and groups, including pointwise and depthwise.</summary>
    internal static IEnumerable<(Conv2dGeometry Geometry, int Height, int Width)> Geometries()
    {
        yield return (new Conv2dGeometry(3, 8, 3, 3), 7, 9);
        yield return (new Conv2dGeometry(4, 5, 3, 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1), 6, 6);
        yield return (new Conv2dGeometry(6, 4, 3, 2, StrideH: 2, StrideW: 3, PadTop: 1, PadLeft: 0, PadBottom: 2, PadRight: 1), 9, 11);
        yield return (new Conv2dGeometry(5, 7, 3, 3, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2, DilationH: 2, DilationW: 2), 8, 7);
        yield return (new Conv2dGeometry(8, 6, 3, 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, Groups: 2), 5, 6);
        yield return (new Conv2dGeometry(6, 9, 1, 1, Groups: 3), 4, 5);
        yield return (new Conv2dGeometry(17, 33, 1, 1), 5, 3);
        yield return (new Conv2dGeometry(7, 3, 1, 1, StrideH: 2, StrideW: 2), 6, 7);
        yield return (new Conv2dGeometry(3, 16, 7, 7, StrideH: 2, StrideW: 2, PadTop: 3, PadLeft: 3, PadBottom: 3, PadRight: 3), 12, 10);
        yield return (new Conv2dGeometry(19, 19, 3, 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, Groups: 19), 7, 8);
        yield return (new Conv2dGeometry(12, 12, 3, 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, Groups: 12), 9, 9);
        yield return (new Conv2dGeometry(10, 10, 5, 5, PadTop: 4, PadLeft: 4, PadBottom: 4, PadRight: 4, DilationH: 2, DilationW: 2, Groups: 10), 6, 7);
        yield return (new Conv2dGeometry(2, 3, 2, 2, PadTop: 0, PadLeft: 1, PadBottom: 1, PadRight: 0), 1, 1);
        // Depthwise rows of 20 and 21 pixels: vector runs with a masked tail (padded edges) and without.
        yield return (new Conv2dGeometry(16, 16, 3, 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, Groups: 16), 5, 21);
        yield return (new Conv2dGeometry(4, 4, 3, 3, Groups: 4), 3, 23);
        // Depthwise rows of three 512-bit vectors (24 channels: one 16-wide block, then 8), and of five (a block of four, then one).
        yield return (new Conv2dGeometry(24, 24, 5, 5, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2, Groups: 24), 6, 40);
        yield return (new Conv2dGeometry(5, 5, 3, 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, Groups: 5), 4, 70);
        // Strided depthwise rows long enough for vectors: the taps read column phases (odd and even widths, stride 3 too).
        yield return (new Conv2dGeometry(6, 6, 5, 5, StrideH: 2, StrideW: 2, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2, Groups: 6), 7, 41);
        yield return (new Conv2dGeometry(3, 3, 3, 3, StrideH: 1, StrideW: 2, PadTop: 1, PadLeft: 0, PadBottom: 1, PadRight: 1, Groups: 3), 4, 38);
        yield return (new Conv2dGeometry(2, 2, 3, 3, StrideH: 2, StrideW: 3, Groups: 2), 5, 50);
        // A pointwise layer with few input channels over enough pixels for whole vectors, and output channels past a multiple of 4.
        yield return (new Conv2dGeometry(5, 11, 1, 1), 7, 9);
        // Pointwise over runs of 32 pixels (512-bit vectors), then 16, then single pixels.
        yield return (new Conv2dGeometry(40, 9, 1, 1), 5, 10);
        // Pointwise over a run of 64 pixels (four 512-bit vectors), then 16, then one; output channels 4 + 4 + 2.
        yield return (new Conv2dGeometry(12, 10, 1, 1), 9, 9);
        // Images im2col takes in several chunks (the last one short), without and with groups.
        yield return (new Conv2dGeometry(64, 24, 3, 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1), 17, 20);
        yield return (new Conv2dGeometry(64, 32, 3, 3, StrideH: 1, StrideW: 1, Groups: 2), 31, 30);
        // Small patches (FP32 runs them on the planes): stride 2 over rows long enough for vectors, with an even and an odd
        // left padding (the phases swap), stride 3 with dilation, output channels past a multiple of 4.
        yield return (new Conv2dGeometry(3, 16, 3, 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1), 9, 41);
        yield return (new Conv2dGeometry(1, 5, 5, 5, StrideH: 2, StrideW: 2, PadTop: 2, PadLeft: 2, PadBottom: 1, PadRight: 1), 6, 40);
        yield return (new Conv2dGeometry(2, 6, 3, 3, StrideH: 1, StrideW: 3, PadTop: 0, PadLeft: 2, PadBottom: 1, PadRight: 1, DilationW: 2), 5, 70);
        yield return (new Conv2dGeometry(3, 8, 3, 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1), 4, 35);
        // Channels-last depthwise (x86): three vectors and a tail of channels, strided, asymmetric padding.
        yield return (new Conv2dGeometry(37, 37, 3, 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 0, PadBottom: 2, PadRight: 1, Groups: 37), 9, 10);
    }

    [Fact]
    public void Both_depthwise_kernels_match_direct_convolution()
    {
        var rng = new Random(Seed + 2);
        foreach (var (g, h, w) in Geometries().Where(p => p.Geometry.IsDepthwise))
        {
            var (x, weights, zw, za) = RandomProblem(rng, g, 2, h, w);
            int taps = g.KernelH * g.KernelW, channels = g.InChannels;
            int[] planeMajor = new int[channels * taps], tapMajor = new int[taps * channels];
            for (int c = 0; c < channels; c++)
            {
                for (int t = 0; t < taps; t++)
                    planeMajor[c * taps + t] = tapMajor[t * channels + c] = weights[c * taps + t] - (zw.Length == 1 ? zw[0] : zw[c]);
            }

            var expected = ConvReference.Int8Conv2d(x, 2, h, w, za, weights, zw, g);
            var planes = new int[expected.Length];
            DepthwiseConv.Int8<int>(x, 2, h, w, za, g, planeMajor, Int8GemmEpilogue.Int32, planes, 0);
            AssertSame(expected, planes, $"plane kernel {g} input 2×{h}×{w}");
            if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported)
                continue;
            var channelsLast = new int[expected.Length];
            DepthwiseConv.Int8ChannelsLast<int>(x, 2, h, w, za, g, tapMajor, Int8GemmEpilogue.Int32, channelsLast, 0);
            AssertSame(expected, channelsLast, $"channels-last kernel {g} input 2×{h}×{w}");
        }
    }

    /// <summary>
    /// The AVX-VNNI depthwise kernel on every depthwise geometry above that it takes, and on rows of several 32-pixel
    /// blocks with one- to three-vector tails, strides 1 and 2 across, kernels 1 to 9 wide (one to three runs of four
    /// taps), kernels taller than the image, rows under a vector: raw sums, and u8 and s8 outputs, which it
    /// requantizes itself, against the reference, one and two threads.
    /// </summary>
    [Fact]
    public void Vnni_depthwise_kernel_matches_direct_convolution()
    {
        if (!DepthwiseVnni.IsSupported)
            return;
        var rng = new Random(Seed + 3);
        var extra = new (Conv2dGeometry Geometry, int Height, int Width)[]
        {
            (new Conv2dGeometry(24, 24, 5, 5, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2, Groups: 24), 4, 70),
            (new Conv2dGeometry(8, 8, 5, 5, StrideH: 2, StrideW: 2, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2, Groups: 8), 9, 101),
            (new Conv2dGeometry(6, 6, 3, 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 0, PadBottom: 1, PadRight: 1, Groups: 6), 7, 66),
            (new Conv2dGeometry(5, 5, 1, 9, PadTop: 0, PadLeft: 4, PadBottom: 0, PadRight: 4, Groups: 5), 3, 40),
            (new Conv2dGeometry(3, 3, 3, 3, StrideH: 2, PadTop: 2, PadLeft: 1, PadBottom: 2, PadRight: 1, DilationH: 2, Groups: 3), 8, 33),
            (new Conv2dGeometry(4, 4, 3, 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, Groups: 4), 3, 5),
            (new Conv2dGeometry(40, 40, 5, 5, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2, Groups: 40), 2, 96),
            (new Conv2dGeometry(7, 7, 1, 1, Groups: 7), 5, 39),
        };
        foreach (var (g, h, w) in Geometries().Where(p => p.Geometry.IsDepthwise).Concat(extra))
        {
            // Weights whose zero point leaves them within s8, as symmetric and most affine weights are.
            var weights = new sbyte[g.OutChannels * g.PatchSize];
            foreach (ref sbyte v in weights.AsSpan())
                v = (sbyte)rng.Next(-100, 101);
            int[] zw = rng.Next(2) == 0 ? [0] : Enumerable.Range(0, g.OutChannels).Select(_ => rng.Next(-27, 28)).ToArray();
            int taps = g.KernelH * g.KernelW, batch = 2, za = rng.Next(256);
            var shifted = new int[weights.Length];
            for (int i = 0; i < shifted.Length; i++)
                shifted[i] = weights[i] - (zw.Length == 1 ? zw[0] : zw[i / taps]);
            var kernel = DepthwiseVnni.TryCreate(g, shifted);
            if (kernel is null)
            {
                Assert.True(g.StrideW > 2 || g.DilationW != 1, $"{g} was refused");
                continue;
            }

            var x = new byte[batch * g.InChannels * h * w];
            rng.NextBytes(x);
            var expected = ConvReference.Int8Conv2d(x, batch, h, w, za, weights, zw, g);
            foreach (int threads in new[] { 1, 2 })
            {
                var sums = new int[expected.Length];
                kernel.Run<int>(x, batch, h, w, za, Int8GemmEpilogue.Int32, sums, threads);
                AssertSame(expected, sums, $"VNNI {g} input {batch}×{h}×{w}, {threads} threads");
            }

            AssertRequantized(rng, expected, g.OutChannels, g.OutputHeight(h) * g.OutputWidth(w),
                (epilogue, y, threads) => kernel.Run<byte>(x, batch, h, w, za, epilogue, y, threads),
                (epilogue, y, threads) => kernel.Run<sbyte>(x, batch, h, w, za, epilogue, y, threads), $"VNNI depthwise {g} input {batch}×{h}×{w}");
        }
    }

    [Fact]
    public void Vnni_depthwise_kernel_refuses_weights_outside_s8()
    {
        var g = new Conv2dGeometry(2, 2, 3, 3, Groups: 2);
        var shifted = new int[18];
        shifted[4] = 128;
        Assert.Null(DepthwiseVnni.TryCreate(g, shifted));
        shifted[4] = -128;
        Assert.NotNull(DepthwiseVnni.TryCreate(g, shifted));
    }

    /// <summary>
    /// The direct AVX-VNNI 1×1 kernel, u8 and s8 output, against the reference: input channels past a multiple of
    /// four, output channels past a multiple of four (and fewer than four), images of under one block of 32 pixels,
    /// whole blocks, blocks with a tail, and several chunks of pixels, batches of two, one and two threads.
    /// </summary>
    [Fact]
    public void Vnni_pointwise_kernel_matches_direct_convolution()
    {
        if (!PointwiseVnni.IsSupported)
            return;
        var rng = new Random(Seed + 4);
        var cases = new (int In, int Out, int Height, int Width)[]
        {
            (5, 11, 7, 9), (40, 9, 5, 10), (12, 10, 9, 9), (17, 33, 5, 3), (8, 3, 4, 8), (3, 1, 1, 1), (7, 6, 2, 96),
            (32, 200, 2, 96), (13, 5, 41, 60), (64, 4, 33, 33),
        };
        foreach (var (ci, co, h, w) in cases)
        {
            var g = new Conv2dGeometry(ci, co, 1, 1);
            var weights = new sbyte[ci * co];
            foreach (ref sbyte v in weights.AsSpan())
                v = (sbyte)rng.Next(-100, 101);
            int[] zw = rng.Next(2) == 0 ? [rng.Next(-27, 28)] : Enumerable.Range(0, co).Select(_ => rng.Next(-27, 28)).ToArray();
            var kernel = PointwiseVnni.TryCreate(g, weights, zw)!;
            const int Batch = 2;
            int za = rng.Next(256), pixels = h * w;
            var x = new byte[Batch * ci * pixels];
            rng.NextBytes(x);
            var expected = ConvReference.Int8Conv2d(x, Batch, h, w, za, weights, zw, g);
            AssertRequantized(rng, expected, co, pixels,
                (epilogue, y, threads) => kernel.Run<byte>(x, Batch, pixels, za, epilogue, y, threads),
                (epilogue, y, threads) => kernel.Run<sbyte>(x, Batch, pixels, za, epilogue, y, threads), $"VNNI 1×1 {ci}→{co} over {h}×{w}");
        }
    }

    /// <summary>
    /// The direct AVX-VNNI kernel for ungrouped layers, u8 and s8 output, against the reference: every ungrouped
    /// geometry above that it takes, and rows of one and several 32-pixel blocks with partial last blocks, strides 1
    /// and 2 across, kernels 1 to 7 wide (one or two runs of four taps), dilation down, output channels past a multiple
    /// of four, batches of two, one and two threads (rows split into bands).
    /// </summary>
    [Fact]
    public void Vnni_direct_kernel_matches_direct_convolution()
    {
        if (!DirectConvVnni.IsSupported)
            return;
        var rng = new Random(Seed + 5);
        var extra = new (Conv2dGeometry Geometry, int Height, int Width)[]
        {
            (new Conv2dGeometry(3, 8, 3, 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1), 12, 97),
            (new Conv2dGeometry(5, 6, 5, 5, PadTop: 2, PadLeft: 2, PadBottom: 2, PadRight: 2), 6, 70),
            (new Conv2dGeometry(2, 3, 7, 7, StrideH: 2, StrideW: 2, PadTop: 3, PadLeft: 3, PadBottom: 3, PadRight: 3), 9, 40),
            (new Conv2dGeometry(4, 5, 3, 1, PadTop: 1, PadLeft: 0, PadBottom: 1, PadRight: 0), 5, 33),
            (new Conv2dGeometry(3, 4, 3, 3, StrideH: 2, PadTop: 2, PadLeft: 1, PadBottom: 2, PadRight: 1, DilationH: 2), 11, 64),
            (new Conv2dGeometry(16, 9, 3, 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1), 3, 5),
        };
        foreach (var (g, h, w) in Geometries().Where(p => p.Geometry.Groups == 1 && !p.Geometry.IsPointwise).Concat(extra))
        {
            var weights = new sbyte[g.OutChannels * g.PatchSize];
            foreach (ref sbyte v in weights.AsSpan())
                v = (sbyte)rng.Next(-100, 101);
            int[] zw = rng.Next(2) == 0 ? [rng.Next(-27, 28)] : Enumerable.Range(0, g.OutChannels).Select(_ => rng.Next(-27, 28)).ToArray();
            var kernel = DirectConvVnni.TryCreate(g, weights, zw);
            if (kernel is null)
            {
                Assert.True(g.StrideW > 2 || g.DilationW != 1, $"{g} was refused");
                continue;
            }

            const int Batch = 2;
            int za = rng.Next(256), outPixels = g.OutputHeight(h) * g.OutputWidth(w), co = g.OutChannels;
            var x = new byte[Batch * g.InChannels * h * w];
            rng.NextBytes(x);
            var expected = ConvReference.Int8Conv2d(x, Batch, h, w, za, weights, zw, g);
            AssertRequantized(rng, expected, co, outPixels,
                (epilogue, y, threads) => kernel.Run<byte>(x, Batch, h, w, za, epilogue, y, threads),
                (epilogue, y, threads) => kernel.Run<sbyte>(x, Batch, h, w, za, epilogue, y, threads), $"VNNI direct {g} input {Batch}×{h}×{w}");
        }
    }

    [Fact]
    public void Vnni_direct_kernel_refuses_groups_wide_strides_and_weights_outside_s8()
    {
        var g = new Conv2dGeometry(2, 2, 3, 3);
        var weights = new sbyte[36];
        weights[30] = 100;
        Assert.NotNull(DirectConvVnni.TryCreate(g, weights, [-27]));
        Assert.Null(DirectConvVnni.TryCreate(g, weights, [-27, -28]));
        Assert.Null(DirectConvVnni.TryCreate(g with { Groups = 2 }, new sbyte[18], [0]));
        Assert.Null(DirectConvVnni.TryCreate(g with { StrideW = 3 }, weights, [0]));
        Assert.Null(DirectConvVnni.TryCreate(g with { DilationW = 2 }, weights, [0]));
    }

    [Fact]
    public void Vnni_pointwise_kernel_takes_only_ungrouped_1x1_layers_with_weights_within_s8()
    {
        var g = new Conv2dGeometry(4, 2, 1, 1);
        var weights = new sbyte[8];
        weights[3] = -100;
        Assert.NotNull(PointwiseVnni.TryCreate(g, weights, [28]));
        Assert.Null(PointwiseVnni.TryCreate(g, weights, [29]));
        Assert.Null(PointwiseVnni.TryCreate(g with { Groups = 2 }, weights, [0]));
        Assert.Null(PointwiseVnni.TryCreate(new Conv2dGeometry(4, 2, 1, 1, StrideH: 2, StrideW: 2), weights, [0]));
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Accumulators_match_direct_convolution(string name)
    {
        var variant = Int8Gemm.Registry.Find(name)!;
        var rng = new Random(Seed);
        foreach (var (g, h, w) in Geometries())
        {
            foreach (int batch in new[] { 1, 2 })
            {
                var (x, weights, zw, za) = RandomProblem(rng, g, batch, h, w);
                var conv = new Int8Conv2d(g, weights, zw, variant);
                var actual = new int[batch * g.OutChannels * g.OutputHeight(h) * g.OutputWidth(w)];
                conv.Run<int>(x, batch, h, w, za, Int8GemmEpilogue.Int32, actual);
                var expected = ConvReference.Int8Conv2d(x, batch, h, w, za, weights, zw, g);
                AssertSame(expected, actual, $"{name} {g} input {batch}×{h}×{w} za={za} (seed {Seed})");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Requantized_and_float_outputs_match_the_reference_formulas(string name)
    {
        var variant = Int8Gemm.Registry.Find(name)!;
        var rng = new Random(Seed + 1);
        foreach (var (g, h, w) in Geometries())
        {
            var (x, weights, zw, za) = RandomProblem(rng, g, 1, h, w);
            int outPixels = g.OutputHeight(h) * g.OutputWidth(w);
            var conv = new Int8Conv2d(g, weights, zw, variant);
            var acc = ConvReference.Int8Conv2d(x, 1, h, w, za, weights, zw, g);
            float[] multipliers = Enumerable.Range(0, g.OutChannels).Select(_ => (float)(rng.NextDouble() * 0.01 + 1e-4)).ToArray();
            int[] intBias = Enumerable.Range(0, g.OutChannels).Select(_ => rng.Next(-500, 500)).ToArray();
            float[] bias = Enumerable.Range(0, g.OutChannels).Select(_ => (float)rng.NextDouble()).ToArray();

            var u8 = new byte[acc.Length];
            conv.Run<byte>(x, 1, h, w, za, Int8GemmEpilogue.Requantize(multipliers, intBias, 100, 100, 255, signedOutput: false), u8);
            AssertSame(acc.Select((v, i) => (byte)Int8GemmReference.Requantize(v, intBias[i / outPixels], multipliers[i / outPixels], 100, 100, 255)).ToArray(), u8, $"{name} {g} u8");

            var f = new float[acc.Length];
            conv.Run<float>(x, 1, h, w, za, Int8GemmEpilogue.ToFloat(multipliers, bias), f);
            AssertSame(acc.Select((v, i) => Int8GemmReference.ToFloat(v, multipliers[i / outPixels], bias[i / outPixels])).ToArray(), f, $"{name} {g} float");
        }
    }

    [Fact]
    public void Bad_arguments_throw_argument_exceptions()
    {
        var g = new Conv2dGeometry(4, 6, 3, 3, Groups: 2);
        Assert.Equal("geometry", Assert.Throws<ArgumentException>(() => new Int8Conv2d(g with { Groups = 3 }, new sbyte[6 * 36], [0])).ParamName);
        Assert.Equal("weights", Assert.Throws<ArgumentException>(() => new Int8Conv2d(g, new sbyte[5], [0])).ParamName);
        Assert.Equal("weightZeroPoints", Assert.Throws<ArgumentException>(() => new Int8Conv2d(g, new sbyte[6 * 18], [0, 0])).ParamName);
        var conv = new Int8Conv2d(g, new sbyte[6 * 18], [0]);
        Assert.Equal("height", Assert.Throws<ArgumentException>(() => conv.Run<int>(new byte[4 * 4], 1, 2, 2, 0, Int8GemmEpilogue.Int32, new int[6])).ParamName);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => conv.Run<int>(new byte[10], 1, 4, 4, 0, Int8GemmEpilogue.Int32, new int[24])).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() => conv.Run<int>(new byte[64], 1, 4, 4, 0, Int8GemmEpilogue.Int32, new int[23])).ParamName);
    }

    private static (byte[] X, sbyte[] W, int[] Zw, int Za) RandomProblem(Random rng, Conv2dGeometry g, int batch, int h, int w)
    {
        var x = new byte[batch * g.InChannels * h * w];
        rng.NextBytes(x);
        var weights = new sbyte[g.OutChannels * g.PatchSize];
        rng.NextBytes(MemoryMarshal.AsBytes(weights.AsSpan()));
        int[] zw = rng.Next(3) switch
        {
            0 => [0],
            1 => [rng.Next(-20, 20)],
            _ => Enumerable.Range(0, g.OutChannels).Select(_ => rng.Next(-128, 128)).ToArray(),
        };
        return (x, weights, zw, rng.Next(256));
    }

    /// <summary>
    /// A VNNI kernel's u8 and s8 outputs, requantized with random multipliers and biases (a ReLU-like u8 clamp, a
    /// narrowed s8 one), against the reference formulas on <paramref name="expected"/>, the reference sums over planes of
    /// <paramref name="planeSize"/> values, on one and two threads.
    /// </summary>
    private static void AssertRequantized(Random rng, int[] expected, int channels, int planeSize,
        Action<Int8GemmEpilogue, byte[], int> runU8, Action<Int8GemmEpilogue, sbyte[], int> runS8, string where)
    {
        float[] multipliers = Enumerable.Range(0, channels).Select(_ => (float)(rng.NextDouble() * 0.002 + 1e-5)).ToArray();
        int[] intBias = Enumerable.Range(0, channels).Select(_ => rng.Next(-20000, 20000)).ToArray();
        int Channel(int i) => i / planeSize % channels;
        foreach (int threads in new[] { 1, 2 })
        {
            var u8 = new byte[expected.Length];
            runU8(Int8GemmEpilogue.Requantize(multipliers, intBias, 120, 120, 255, signedOutput: false), u8, threads);
            AssertSame(expected.Select((v, i) => (byte)Int8GemmReference.Requantize(v, intBias[Channel(i)], multipliers[Channel(i)], 120, 120, 255)).ToArray(),
                u8, $"{where} u8, {threads} threads");

            var s8 = new sbyte[expected.Length];
            runS8(Int8GemmEpilogue.Requantize(multipliers, intBias, -5, -128, 100, signedOutput: true), s8, threads);
            AssertSame(expected.Select((v, i) => (sbyte)Int8GemmReference.Requantize(v, intBias[Channel(i)], multipliers[Channel(i)], -5, -128, 100)).ToArray(),
                s8, $"{where} s8, {threads} threads");
        }
    }

    private static void AssertSame<T>(T[] expected, T[] actual, string where)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            if (!EqualityComparer<T>.Default.Equals(expected[i], actual[i]))
                Assert.Fail($"{where}: first difference at flat index {i}: reference {expected[i]}, kernel {actual[i]}.");
        }
    }
}
