using Quantization.Kernels.Quantized;
using Xunit;

namespace Quantization.Tests.Kernels.Quantized;

/// <summary>
/// Quantized max, average and adaptive average pooling: golden values worked out by hand from PyTorch's loops, and
/// the kernels against <see cref="QuantizedOpsReference"/> over random geometries.
/// </summary>
public class QuantizedPoolingTests
{
    private const int Seed = 20261124;

    // 3 x 3 plane used by several golden cases.
    private static readonly byte[] Grid = [10, 20, 30, 40, 50, 60, 70, 80, 90];

    [Theory]
    [InlineData(4, 2, 2, 0, 1, false, 2)]
    [InlineData(4, 3, 2, 1, 1, false, 2)]   // (4 + 2 - 2 - 1) / 2 + 1
    [InlineData(5, 2, 2, 0, 1, false, 2)]
    [InlineData(5, 2, 2, 0, 1, true, 3)]    // ceil((5 - 2) / 2) + 1
    [InlineData(4, 2, 2, 1, 1, true, 3)]    // ceil((4 + 2 - 2) / 2) + 1 = 3; the last window starts at 4 - 1 = 3 < 4 + 1
    [InlineData(5, 2, 2, 1, 1, true, 3)]    // ceil(5 / 2) + 1 = 4, but the 4th window would start at 6 >= 5 + 1 (right padding only): 3
    [InlineData(4, 2, 1, 0, 2, false, 2)]   // dilation 2: effective kernel 3
    [InlineData(1, 3, 1, 1, 1, false, 1)]
    public void Pool_output_size_follows_pytorch(int input, int kernel, int stride, int pad, int dilation, bool ceilMode, int expected) =>
        Assert.Equal(expected, QuantizedOps.PoolOutputSize(input, kernel, stride, pad, dilation, ceilMode));

    [Fact]
    public void Max_pool_golden_values()
    {
        // 4 x 4 plane, not monotonic, so that the maxima sit in different window corners.
        byte[] x = [3, 9, 1, 0, 7, 2, 8, 4, 0, 255, 6, 5, 1, 0, 2, 11];
        // 2 x 2, stride 2: max of {3,9,7,2}, {1,0,8,4}, {0,255,1,0}, {6,5,2,11}.
        AssertMax(x, 4, 4, 2, 2, 2, 2, 0, 0, 1, 1, false, [9, 8, 255, 11]);
        // 3 x 3, stride 2, padding 1: window rows/cols {0,1} and {1,2,3}; the padding never counts.
        AssertMax(x, 4, 4, 3, 3, 2, 2, 1, 1, 1, 1, false, [9, 9, 255, 255]);
        // 2 x 2 with dilation 2, stride 1: taps (r, c), (r, c + 2), (r + 2, c), (r + 2, c + 2).
        AssertMax(x, 4, 4, 2, 2, 1, 1, 0, 0, 2, 2, false, [6, 255, 8, 11]);
        // Ceil mode on 3 x 3 with 2 x 2 stride 2: the last windows hang over the edge and see only the input.
        AssertMax(Grid, 3, 3, 2, 2, 2, 2, 0, 0, 1, 1, true, [50, 60, 80, 90]);
    }

    [Fact]
    public void Avg_pool_golden_values()
    {
        // 2 x 2 stride 1: 120/4, 160/4, 240/4, 280/4.
        AssertAvg(Grid, 3, 3, 2, 2, 1, 1, 0, 0, false, true, 0, 0, [30, 40, 60, 70]);
        // Divisor override 3: 40, 53.33, 80, 93.33.
        AssertAvg(Grid, 3, 3, 2, 2, 1, 1, 0, 0, false, true, 3, 0, [40, 53, 80, 93]);
        // Ceil mode: windows clipped to the input also shrink the divisor (the padded input ends at the edge): 120/4, 90/2, 150/2, 90/1.
        AssertAvg(Grid, 3, 3, 2, 2, 2, 2, 0, 0, true, true, 0, 0, [30, 45, 75, 90]);
        // Ties round half to even: sums 2, 3, 6, 10 over 4 cells are 0.5, 0.75, 1.5, 2.5 -> 0, 1, 2, 2.
        AssertAvg([1, 1, 3, 0, 0, 0, 0, 0, 6, 0, 4, 6, 0, 0, 0, 0], 4, 4, 2, 2, 2, 2, 0, 0, false, true, 0, 0, [0, 1, 2, 2]);
        // The zero point is added before rounding: (1 + 1 + 0 + 0) / 4 = 0.5, + 1 = 1.5 -> 2 (quantize_val's order would give 1).
        AssertAvg([2, 2, 1, 1], 2, 2, 2, 2, 1, 1, 0, 0, false, true, 0, 1, [2]);
        // 3 x 3, padding 1 on 2 x 2: every window covers all 4 cells, 9 positions of the padded input.
        // count_include_pad: 40 / 9 = 4.44 -> 4; without: 40 / 4 = 10. Zero point 2: (40 - 8) / 9 + 2 = 5.56 -> 6; (40 - 8) / 4 + 2 = 10.
        byte[] small = [4, 8, 12, 16];
        AssertAvg(small, 2, 2, 3, 3, 1, 1, 1, 1, false, true, 0, 0, [4, 4, 4, 4]);
        AssertAvg(small, 2, 2, 3, 3, 1, 1, 1, 1, false, false, 0, 0, [10, 10, 10, 10]);
        AssertAvg(small, 2, 2, 3, 3, 1, 1, 1, 1, false, true, 0, 2, [6, 6, 6, 6]);
        AssertAvg(small, 2, 2, 3, 3, 1, 1, 1, 1, false, false, 0, 2, [10, 10, 10, 10]);
    }

    [Fact]
    public void Adaptive_avg_pool_golden_values()
    {
        // 3 -> 2: rows/cols [floor(0), ceil(1.5)) = [0, 2) and [floor(1.5), ceil(3)) = [1, 3): overlapping 2 x 2 windows.
        AssertAdaptive(Grid, 3, 3, 2, 2, [30, 40, 60, 70]);
        // Global: 450 * ((1f / 3) / 3) = 50.
        AssertAdaptive(Grid, 3, 3, 1, 1, [50]);
        // 5 -> 3: [0, ceil(5/3) = 2), [floor(5/3) = 1, ceil(10/3) = 4), [floor(10/3) = 3, 5): 30/2, 90/3, 90/2.
        AssertAdaptive([10, 20, 30, 40, 50], 1, 5, 1, 3, [15, 30, 45]);
        // Ties: 3 * 0.5 = 1.5 -> 2; 1 * 0.5 -> 0; 5 * 0.5 = 2.5 -> 2.
        AssertAdaptive([1, 2, 1, 0, 3, 2], 1, 6, 1, 3, [2, 0, 2]);
        // Upsampling 2 -> 3 repeats cells: [0, 1), [0, 2), [1, 2).
        AssertAdaptive([10, 21], 1, 2, 1, 3, [10, 16, 21]);
    }

    public static TheoryData<int> Cases()
    {
        var data = new TheoryData<int>();
        for (int i = 0; i < 80; i++)
            data.Add(i);
        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Pooling_matches_reference_on_random_geometry(int caseIndex)
    {
        var rng = new Random(Seed + caseIndex);
        int n = rng.Next(1, 3), c = rng.Next(1, 4);
        // Narrow planes, and rows wide enough for one or more vectors of outputs at stride 1 and 2 (V = 16, 32 or 64),
        // so the vector interior and the scalar edges both run.
        int h = rng.Next(1, 12), w = caseIndex % 5 == 0 ? rng.Next(1, 8) : rng.Next(14, 170);
        var x = new byte[n * c * h * w];
        rng.NextBytes(x);
        int kH = rng.Next(1, 5), kW = rng.Next(1, 5);
        int sH = rng.Next(1, 3), sW = (caseIndex % 4) switch { 0 => 1, 1 => 2, 2 => 3, _ => rng.Next(1, 4) };
        int pH = rng.Next(0, kH / 2 + 1), pW = rng.Next(0, kW / 2 + 1);
        int dH = rng.Next(1, 3), dW = rng.Next(1, 3);
        bool ceil = rng.Next(2) == 1;
        string geometry = $"case {caseIndex} (seed {Seed + caseIndex}): n{n} c{c} {h}x{w} k{kH}x{kW} s{sH}x{sW} p{pH}x{pW} d{dH}x{dW} ceil {ceil}";

        int oH = QuantizedOps.PoolOutputSize(h, kH, sH, pH, dH, ceil), oW = QuantizedOps.PoolOutputSize(w, kW, sW, pW, dW, ceil);
        if (oH > 0 && oW > 0)
        {
            var expected = new byte[n * c * oH * oW];
            var actual = new byte[expected.Length];
            QuantizedOpsReference.MaxPool2d(x, n, c, h, w, kH, kW, sH, sW, pH, pW, dH, dW, ceil, expected);
            QuantizedOps.MaxPool2d(x, n, c, h, w, kH, kW, sH, sW, pH, pW, dH, dW, ceil, actual);
            Assert.True(expected.AsSpan().SequenceEqual(actual), "max pool " + geometry);
        }

        oH = QuantizedOps.PoolOutputSize(h, kH, sH, pH, 1, ceil);
        oW = QuantizedOps.PoolOutputSize(w, kW, sW, pW, 1, ceil);
        if (oH > 0 && oW > 0)
        {
            int zp = rng.Next(0, 256), divisor = rng.Next(3) == 0 ? rng.Next(1, 20) : 0;
            bool includePad = rng.Next(2) == 1;
            var expected = new byte[n * c * oH * oW];
            var actual = new byte[expected.Length];
            QuantizedOpsReference.AvgPool2d(x, n, c, h, w, kH, kW, sH, sW, pH, pW, ceil, includePad, divisor, zp, expected);
            QuantizedOps.AvgPool2d(x, n, c, h, w, kH, kW, sH, sW, pH, pW, ceil, includePad, divisor, zp, actual);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"avg pool {geometry} zp {zp} divisor {divisor} include pad {includePad}");
        }

        int outH = rng.Next(1, h + 3), outW = rng.Next(1, w + 3);
        var adaptiveExpected = new byte[n * c * outH * outW];
        var adaptiveActual = new byte[adaptiveExpected.Length];
        QuantizedOpsReference.AdaptiveAvgPool2d(x, n, c, h, w, outH, outW, adaptiveExpected);
        QuantizedOps.AdaptiveAvgPool2d(x, n, c, h, w, outH, outW, adaptiveActual);
        Assert.True(adaptiveExpected.AsSpan().SequenceEqual(adaptiveActual), $"adaptive {geometry} -> {outH}x{outW}");
    }

    [Fact]
    public void Global_adaptive_pool_of_a_large_plane_sums_past_the_vector_blocks()
    {
        // 300 x 300 of 255: the sum (22,950,000) exercises the vector sum; the mean is exactly 255.
        var x = Enumerable.Repeat((byte)255, 300 * 300).ToArray();
        var y = new byte[1];
        QuantizedOps.AdaptiveAvgPool2d(x, 1, 1, 300, 300, 1, 1, y);
        Assert.Equal(255, y[0]);
    }

    [Theory]
    [InlineData(16)]    // 256 cells: the largest window summed in 16-bit vector lanes (256 * 255 < 65536)
    [InlineData(17)]    // 289 cells: the scalar path
    public void Avg_pool_sums_of_large_windows_do_not_overflow(int kernel)
    {
        int h = kernel + 1, w = kernel + 2 * 64 + 3;
        var full = Enumerable.Repeat((byte)255, h * w).ToArray();
        int outW = w - kernel + 1;
        var y = new byte[2 * outW];
        QuantizedOps.AvgPool2d(full, 1, 1, h, w, kernel, kernel, 1, 1, 0, 0, false, true, 0, 0, y);
        Assert.All(y, v => Assert.Equal(255, v));

        var x = new byte[h * w];
        new Random(Seed + kernel).NextBytes(x);
        var expected = new byte[y.Length];
        QuantizedOpsReference.AvgPool2d(x, 1, 1, h, w, kernel, kernel, 1, 1, 0, 0, false, true, 0, 37, expected);
        QuantizedOps.AvgPool2d(x, 1, 1, h, w, kernel, kernel, 1, 1, 0, 0, false, true, 0, 37, y);
        Assert.Equal(expected, y);
    }

    [Fact]
    public void Bad_geometry_is_rejected()
    {
        var x = new byte[16];
        var y = new byte[4];
        Assert.Equal("kernelH", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.MaxPool2d(x, 1, 1, 4, 4, 0, 2, 2, 2, 0, 0, 1, 1, false, y)).ParamName);
        Assert.Equal("strideW", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.MaxPool2d(x, 1, 1, 4, 4, 2, 2, 2, 0, 0, 0, 1, 1, false, y)).ParamName);
        Assert.Equal("dilationH", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.MaxPool2d(x, 1, 1, 4, 4, 2, 2, 2, 2, 0, 0, 0, 1, false, y)).ParamName);
        Assert.Equal("padW", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.MaxPool2d(x, 1, 1, 4, 4, 2, 2, 2, 2, 0, 2, 1, 1, false, y)).ParamName);
        Assert.Equal("padH", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.AvgPool2d(x, 1, 1, 4, 4, 2, 2, 2, 2, -1, 0, false, true, 0, 0, y)).ParamName);
        Assert.Equal("h", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.MaxPool2d(x, 1, 1, 4, 4, 5, 1, 1, 1, 0, 0, 1, 1, false, new byte[4])).ParamName);
        Assert.Equal("x", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.MaxPool2d(new byte[15], 1, 1, 4, 4, 2, 2, 2, 2, 0, 0, 1, 1, false, y)).ParamName);
        Assert.Equal("y", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.MaxPool2d(x, 1, 1, 4, 4, 2, 2, 2, 2, 0, 0, 1, 1, false, new byte[5])).ParamName);
        Assert.Equal("c", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.AvgPool2d(x, 1, 0, 4, 4, 2, 2, 2, 2, 0, 0, false, true, 0, 0, y)).ParamName);
        Assert.Equal("divisorOverride", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.AvgPool2d(x, 1, 1, 4, 4, 2, 2, 2, 2, 0, 0, false, true, -1, 0, y)).ParamName);
        Assert.Equal("zeroPoint", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.AvgPool2d(x, 1, 1, 4, 4, 2, 2, 2, 2, 0, 0, false, true, 0, 256, y)).ParamName);
        Assert.Equal("outW", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.AdaptiveAvgPool2d(x, 1, 1, 4, 4, 2, 0, y)).ParamName);
        Assert.Equal("y", Assert.ThrowsAny<ArgumentException>(() => QuantizedOps.AdaptiveAvgPool2d(x, 1, 1, 4, 4, 2, 3, y)).ParamName);
    }

    private static void AssertMax(byte[] x, int h, int w, int kH, int kW, int sH, int sW, int pH, int pW, int dH, int dW, bool ceil, byte[] expected)
    {
        var reference = new byte[expected.Length];
        var actual = new byte[expected.Length];
        QuantizedOpsReference.MaxPool2d(x, 1, 1, h, w, kH, kW, sH, sW, pH, pW, dH, dW, ceil, reference);
        QuantizedOps.MaxPool2d(x, 1, 1, h, w, kH, kW, sH, sW, pH, pW, dH, dW, ceil, actual);
        Assert.Equal(expected, reference);
        Assert.Equal(expected, actual);
    }

    private static void AssertAvg(byte[] x, int h, int w, int kH, int kW, int sH, int sW, int pH, int pW, bool ceil, bool includePad, int divisor, int zp, byte[] expected)
    {
        var reference = new byte[expected.Length];
        var actual = new byte[expected.Length];
        QuantizedOpsReference.AvgPool2d(x, 1, 1, h, w, kH, kW, sH, sW, pH, pW, ceil, includePad, divisor, zp, reference);
        QuantizedOps.AvgPool2d(x, 1, 1, h, w, kH, kW, sH, sW, pH, pW, ceil, includePad, divisor, zp, actual);
        Assert.Equal(expected, reference);
        Assert.Equal(expected, actual);
    }

    private static void AssertAdaptive(byte[] x, int h, int w, int outH, int outW, byte[] expected)
    {
        var reference = new byte[expected.Length];
        var actual = new byte[expected.Length];
        QuantizedOpsReference.AdaptiveAvgPool2d(x, 1, 1, h, w, outH, outW, reference);
        QuantizedOps.AdaptiveAvgPool2d(x, 1, 1, h, w, outH, outW, actual);
        Assert.Equal(expected, reference);
        Assert.Equal(expected, actual);
    }
}
