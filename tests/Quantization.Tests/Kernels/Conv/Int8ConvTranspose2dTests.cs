using System.Runtime.InteropServices;
using Quantization.Kernels.Conv;
using Quantization.Kernels.Gemm;
using Xunit;

namespace Quantization.Tests.Kernels.Conv;

/// <summary>INT8 transposed convolution against the direct reference, bit for bit.</summary>
public class Int8ConvTranspose2dTests
{
    private const int Seed = 515;

    public static TheoryData<string> Variants() => Int8Conv2dTests.Variants();

    internal static IEnumerable<(ConvTranspose2dGeometry Geometry, int Height, int Width)> Geometries()
    {
        yield return (new ConvTranspose2dGeometry(3, 4, 3, 3), 4, 5);
        yield return (new ConvTranspose2dGeometry(4, 6, 2, 2, StrideH: 2, StrideW: 2), 5, 3);
        yield return (new ConvTranspose2dGeometry(5, 3, 3, 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, OutputPaddingH: 1, OutputPaddingW: 1), 4, 4);
        yield return (new ConvTranspose2dGeometry(6, 4, 3, 2, StrideH: 3, StrideW: 1, PadTop: 2, PadLeft: 0, PadBottom: 1, PadRight: 1, DilationH: 2, DilationW: 1, Groups: 2), 3, 6);
        yield return (new ConvTranspose2dGeometry(8, 8, 4, 4, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, Groups: 8), 5, 4);
        yield return (new ConvTranspose2dGeometry(17, 9, 1, 1), 3, 3);
        // Non-overlapping taps on rows long enough for whole vectors: kernel widths that divide the vector length and one
        // that does not, with tails.
        yield return (new ConvTranspose2dGeometry(24, 5, 2, 2, StrideH: 2, StrideW: 2), 3, 21);
        yield return (new ConvTranspose2dGeometry(3, 2, 1, 3, StrideH: 1, StrideW: 3), 2, 11);
        // Rows of 70: the FP32 kernel's blocks of 64 pixels and its 16-lane interleave, then tails.
        yield return (new ConvTranspose2dGeometry(8, 3, 2, 2, StrideH: 2, StrideW: 2), 2, 70);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Accumulators_match_direct_transposed_convolution(string name)
    {
        var variant = Int8Gemm.Registry.Find(name)!;
        var rng = new Random(Seed);
        foreach (var (g, h, w) in Geometries())
        {
            foreach (int batch in new[] { 1, 2 })
            {
                var x = new byte[batch * g.InChannels * h * w];
                rng.NextBytes(x);
                var weights = new sbyte[g.InChannels * g.OutChannelsPerGroup * g.Taps];
                rng.NextBytes(MemoryMarshal.AsBytes(weights.AsSpan()));
                int[] zw = batch == 1 ? [rng.Next(-10, 10)] : Enumerable.Range(0, g.OutChannels).Select(_ => rng.Next(-128, 128)).ToArray();
                int za = rng.Next(256);
                var conv = new Int8ConvTranspose2d(g, weights, zw, variant);
                var actual = new int[batch * g.OutChannels * g.OutputHeight(h) * g.OutputWidth(w)];
                conv.Run<int>(x, batch, h, w, za, Int8GemmEpilogue.Int32, actual);
                var expected = ConvReference.Int8ConvTranspose2d(x, batch, h, w, za, weights, zw, g);
                for (int i = 0; i < expected.Length; i++)
                {
                    if (expected[i] != actual[i])
                        Assert.Fail($"{name} {g} input {batch}×{h}×{w}: first difference at {i}: reference {expected[i]}, kernel {actual[i]} (seed {Seed}).");
                }
            }
        }
    }

    [Fact]
    public void Requantized_output_matches_the_reference_formula()
    {
        var g = new ConvTranspose2dGeometry(4, 6, 3, 3, StrideH: 2, StrideW: 2, PadTop: 1, PadLeft: 1, PadBottom: 1, PadRight: 1, OutputPaddingH: 1, OutputPaddingW: 1);
        var rng = new Random(Seed + 1);
        var x = new byte[4 * 5 * 5];
        rng.NextBytes(x);
        var weights = new sbyte[4 * 6 * 9];
        rng.NextBytes(MemoryMarshal.AsBytes(weights.AsSpan()));
        var conv = new Int8ConvTranspose2d(g, weights, [0]);
        float[] multipliers = Enumerable.Range(0, 6).Select(i => 0.003f * (i + 1)).ToArray();
        int[] bias = [10, -20, 30, -40, 50, -60];
        var expectedAcc = ConvReference.Int8ConvTranspose2d(x, 1, 5, 5, 77, weights, [0], g);
        int outPixels = g.OutputHeight(5) * g.OutputWidth(5);
        var actual = new sbyte[expectedAcc.Length];
        conv.Run<sbyte>(x, 1, 5, 5, 77, Int8GemmEpilogue.Requantize(multipliers, bias, 3, -128, 127, signedOutput: true), actual);
        var expected = expectedAcc.Select((v, i) => (sbyte)Int8GemmReference.Requantize(v, bias[i / outPixels], multipliers[i / outPixels], 3, -128, 127)).ToArray();
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Bad_geometry_throws()
    {
        Assert.Equal("geometry", Assert.Throws<ArgumentException>(() => new Int8ConvTranspose2d(new ConvTranspose2dGeometry(4, 4, 3, 3, OutputPaddingH: 1), new sbyte[4 * 4 * 9], [0])).ParamName);
        Assert.Equal("weights", Assert.Throws<ArgumentException>(() => new Int8ConvTranspose2d(new ConvTranspose2dGeometry(4, 4, 3, 3), new sbyte[3], [0])).ParamName);
    }
}
