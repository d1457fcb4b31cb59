using Quantization.Kernels.Conv;
using Quantization.Kernels.Gemm;
using Xunit;

namespace Quantization.Tests.Kernels.Conv;

/// <summary>
/// FP32 convolution and transposed convolution, for every FP32 GEMM variant, against the direct double-precision
/// references. The tolerance scales with the sum of |x·w| over the receptive field: float rounding of a K-term sum.
/// </summary>
public class Fp32ConvTests
{
    private const int Seed = 2718;

    public static TheoryData<string> Variants()
    {
        var data = new TheoryData<string>();
        foreach (var v in Fp32Gemm.Registry.Supported)
            data.Add(v.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Conv2d_matches_the_direct_reference(string name)
    {
        var variant = Fp32Gemm.Registry.Find(name)!;
        var rng = new Random(Seed);
        foreach (var (g, h, w) in Int8Conv2dTests.Geometries())
        {
            foreach (int batch in new[] { 1, 3 })
            {
                float[] x = RandomValues(rng, batch * g.InChannels * h * w);
                float[] weights = RandomValues(rng, g.OutChannels * g.PatchSize);
                float[] bias = batch == 1 ? [] : RandomValues(rng, g.OutChannels);
                var conv = new Fp32Conv2d(g, weights, variant);
                var actual = new float[batch * g.OutChannels * g.OutputHeight(h) * g.OutputWidth(w)];
                conv.Run(x, batch, h, w, bias, actual);
                double[] expected = ConvReference.Conv2d(x, batch, h, w, weights, bias, g);
                AssertClose(expected, actual, g.PatchSize, $"{name} {g} input {batch}×{h}×{w} (seed {Seed})");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Conv2d_fuses_relu_and_clamp(string name)
    {
        var variant = Fp32Gemm.Registry.Find(name)!;
        var rng = new Random(Seed + 1);
        foreach (var (g, h, w) in Int8Conv2dTests.Geometries())
        {
            float[] x = RandomValues(rng, 2 * g.InChannels * h * w);
            float[] weights = RandomValues(rng, g.OutChannels * g.PatchSize);
            float[] bias = RandomValues(rng, g.OutChannels);
            var conv = new Fp32Conv2d(g, weights, variant);
            double[] plain = ConvReference.Conv2d(x, 2, h, w, weights, bias, g);
            var relu = new float[plain.Length];
            conv.Run(x, 2, h, w, bias, relu, Fp32Activation.Relu);
            AssertClose(plain.Select(v => Math.Max(v, 0)).ToArray(), relu, g.PatchSize, $"{name} {g} ReLU");
            Assert.All(relu, v => Assert.True(v >= 0));
            var clamped = new float[plain.Length];
            conv.Run(x, 2, h, w, bias, clamped, Fp32Activation.Clamp, -0.5f, 0.75f);
            AssertClose(plain.Select(v => Math.Clamp(v, -0.5, 0.75)).ToArray(), clamped, g.PatchSize, $"{name} {g} clamp");
        }
    }

    [Fact]
    public void Both_depthwise_kernels_match_the_reference_and_each_other()
    {
        var rng = new Random(Seed + 4);
        foreach (var (g, h, w) in Int8Conv2dTests.Geometries().Where(p => p.Geometry.IsDepthwise))
        {
            float[] x = RandomValues(rng, 2 * g.InChannels * h * w);
            float[] weights = RandomValues(rng, g.OutChannels * g.PatchSize);
            float[] bias = RandomValues(rng, g.OutChannels);
            int taps = g.KernelH * g.KernelW, channels = g.InChannels;
            var tapMajor = new float[taps * channels];
            for (int c = 0; c < channels; c++)
            {
                for (int t = 0; t < taps; t++)
                    tapMajor[t * channels + c] = weights[c * taps + t];
            }

            double[] expected = ConvReference.Conv2d(x, 2, h, w, weights, bias, g).Select(v => Math.Clamp(v, -0.5, 0.75)).ToArray();
            var planes = new float[expected.Length];
            DepthwiseConv.Fp32(x, 2, h, w, g, weights, bias, -0.5f, 0.75f, clamp: true, planes, 0);
            AssertClose(expected, planes, g.PatchSize, $"plane kernel {g}");
            if (!System.Runtime.Intrinsics.X86.Avx2.IsSupported)
                continue;
            var channelsLast = new float[expected.Length];
            DepthwiseConv.Fp32ChannelsLast(x, 2, h, w, g, tapMajor, bias, -0.5f, 0.75f, clamp: true, channelsLast, 0);
            // The same products summed in the same order: equal, not just close.
            Assert.Equal(planes, channelsLast);
        }
    }

    [Fact]
    public void Batches_larger_than_the_column_budget_are_split_without_changing_results()
    {
        // 3×3 over 64 channels at 48×48: one image's im2col rows are 48·48·576 floats, so a batch of 3 needs 2 chunks.
        var g = new Conv2dGeometry(64, 8, 3, 3, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1);
        Assert.True(48 * 48 * g.PatchSize * 3 > Fp32Conv2d.ColumnBudget);
        var rng = new Random(Seed + 2);
        float[] x = RandomValues(rng, 3 * 64 * 48 * 48);
        float[] weights = RandomValues(rng, g.OutChannels * g.PatchSize);
        var conv = new Fp32Conv2d(g, weights);
        var batched = new float[3 * 8 * 48 * 48];
        conv.Run(x, 3, 48, 48, [], batched);
        for (int n = 0; n < 3; n++)
        {
            var single = new float[8 * 48 * 48];
            conv.Run(x.AsSpan(n * 64 * 48 * 48, 64 * 48 * 48), 1, 48, 48, [], single);
            Assert.Equal(single, batched.AsSpan(n * single.Length, single.Length).ToArray());
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void ConvTranspose2d_matches_the_direct_reference(string name)
    {
        var variant = Fp32Gemm.Registry.Find(name)!;
        var rng = new Random(Seed + 3);
        foreach (var (g, h, w) in Int8ConvTranspose2dTests.Geometries())
        {
            foreach (int batch in new[] { 1, 2 })
            {
                float[] x = RandomValues(rng, batch * g.InChannels * h * w);
                float[] weights = RandomValues(rng, g.InChannels * g.OutChannelsPerGroup * g.Taps);
                float[] bias = batch == 1 ? [] : RandomValues(rng, g.OutChannels);
                var conv = new Fp32ConvTranspose2d(g, weights, variant);
                var actual = new float[batch * g.OutChannels * g.OutputHeight(h) * g.OutputWidth(w)];
                conv.Run(x, batch, h, w, bias, actual, batch == 1 ? Fp32Activation.None : Fp32Activation.Relu);
                double[] expected = ConvReference.ConvTranspose2d(x, batch, h, w, weights, bias, g);
                if (batch != 1)
                    expected = expected.Select(v => Math.Max(v, 0)).ToArray();
                AssertClose(expected, actual, g.InChannelsPerGroup * g.Taps, $"{name} {g} input {batch}×{h}×{w} (seed {Seed})");
            }
        }
    }

    [Fact]
    public void Bad_arguments_throw_argument_exceptions()
    {
        var g = new Conv2dGeometry(4, 6, 3, 3, Groups: 2);
        Assert.Equal("geometry", Assert.Throws<ArgumentException>(() => new Fp32Conv2d(g with { Groups = 3 }, new float[6 * 36])).ParamName);
        Assert.Equal("weights", Assert.Throws<ArgumentException>(() => new Fp32Conv2d(g, new float[5])).ParamName);
        var conv = new Fp32Conv2d(g, new float[6 * 18]);
        Assert.Equal("height", Assert.Throws<ArgumentException>(() => conv.Run(new float[4 * 4], 1, 2, 2, [], new float[6])).ParamName);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => conv.Run(new float[10], 1, 4, 4, [], new float[24])).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() => conv.Run(new float[64], 1, 4, 4, [], new float[23])).ParamName);
        Assert.Equal("bias", Assert.Throws<ArgumentException>(() => conv.Run(new float[64], 1, 4, 4, new float[5], new float[24])).ParamName);

        var t = new ConvTranspose2dGeometry(4, 6, 2, 2, StrideH: 2, StrideW: 2);
        Assert.Equal("weights", Assert.Throws<ArgumentException>(() => new Fp32ConvTranspose2d(t, new float[7])).ParamName);
        var transposed = new Fp32ConvTranspose2d(t, new float[4 * 6 * 4]);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() => transposed.Run(new float[4 * 9], 1, 3, 3, [], new float[10])).ParamName);
    }

    private static float[] RandomValues(Random rng, int count) => Enumerable.Range(0, count).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();

    /// <summary>|kernel - reference| ≤ terms · 2^-22 · (1 + |reference|): K float roundings of values below 1.</summary>
    private static void AssertClose(double[] expected, float[] actual, int terms, string where)
    {
        Assert.Equal(expected.Length, actual.Length);
        double tolerance = terms * Math.Pow(2, -22);
        for (int i = 0; i < expected.Length; i++)
        {
            if (Math.Abs(expected[i] - actual[i]) > tolerance * (1 + Math.Abs(expected[i])))
                Assert.Fail($"{where}: first difference at flat index {i}: reference {expected[i]}, kernel {actual[i]}.");
        }
    }
}
