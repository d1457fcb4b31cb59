using System.Numerics;
using Quantization.Kernels.Elementwise;
using Xunit;

namespace Quantization.Tests.Kernels;

/// <summary>The vectorized quantize kernels against <see cref="QuantizeReference"/>, element by element.</summary>
public class QuantizeKernelsTests
{
    private const int Seed = 20261122;

    // Every length from 0 to four of the widest vectors plus one, so each loop, unroll and tail is crossed.
    public static TheoryData<int> Lengths()
    {
        var data = new TheoryData<int>();
        for (int n = 0; n <= 4 * Vector<byte>.Count + 1; n++)
            data.Add(n);
        return data;
    }

    [Fact]
    public void Vector_path_is_exercised_on_this_machine() =>
        Assert.True(Vector.IsHardwareAccelerated, "Vector<T> is not accelerated; the SIMD kernels would not be tested.");

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Quantize_to_uint8_matches_reference(int length)
    {
        foreach (var (x, scale, zp) in Cases(length, QuantDType.QUInt8, withNaN: true))
        {
            foreach (var (qmin, qmax) in new[] { (0, 255), (0, 127) })
            {
                foreach (var convention in new[] { RoundingConvention.PyTorch, RoundingConvention.Onnx })
                {
                    if (zp > qmax)
                        continue;
                    var actual = new byte[length];
                    QuantizeKernels.QuantizeToUInt8(x, scale, zp, qmin, qmax, convention, actual);
                    for (int i = 0; i < length; i++)
                        AssertElement(QuantizeReference.Quantize(x[i], scale, zp, qmin, qmax, convention), actual[i], x, i, scale, zp);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Quantize_to_int8_matches_reference(int length)
    {
        foreach (var (x, scale, zp) in Cases(length, QuantDType.QInt8, withNaN: true))
        {
            foreach (var (qmin, qmax) in new[] { (-128, 127), (-64, 63) })
            {
                foreach (var convention in new[] { RoundingConvention.PyTorch, RoundingConvention.Onnx })
                {
                    if (zp < qmin || zp > qmax)
                        continue;
                    var actual = new sbyte[length];
                    QuantizeKernels.QuantizeToInt8(x, scale, zp, qmin, qmax, convention, actual);
                    for (int i = 0; i < length; i++)
                        AssertElement(QuantizeReference.Quantize(x[i], scale, zp, qmin, qmax, convention), actual[i], x, i, scale, zp);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Dequantize_matches_reference(int length)
    {
        var rng = new Random(Seed + length);
        byte[] u8 = new byte[length];
        rng.NextBytes(u8);
        sbyte[] s8 = u8.Select(b => (sbyte)b).ToArray();
        foreach (var (scale, zp) in new[] { (0.0123f, 0), (1f, 128), (3.7e-5f, 255), (250f, -128) })
        {
            var actual = new float[length];
            QuantizeKernels.DequantizeUInt8(u8, scale, zp, actual);
            for (int i = 0; i < length; i++)
                Assert.Equal(QuantizeReference.Dequantize(u8[i], scale, zp), actual[i]);
            QuantizeKernels.DequantizeInt8(s8, scale, zp, actual);
            for (int i = 0; i < length; i++)
                Assert.Equal(QuantizeReference.Dequantize(s8[i], scale, zp), actual[i]);
        }
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Fake_quantize_matches_reference(int length)
    {
        foreach (var (x, scale, zp) in Cases(length, QuantDType.QUInt8))
        {
            var actual = new float[length];
            QuantizeKernels.FakeQuantize(x, scale, zp, 0, 255, actual);
            for (int i = 0; i < length; i++)
                Assert.Equal(QuantizeReference.FakeQuantize(x[i], scale, zp, 0, 255), actual[i]);
        }
    }

    [Theory]
    [InlineData(0, -1)]
    [InlineData(1, 0)]
    [InlineData(37, 36)]
    [InlineData(100, 64)]
    [InlineData(100, 3)]
    public void IndexOfNaN_finds_the_first_NaN(int length, int nanAt)
    {
        var values = Enumerable.Range(0, length).Select(i => (float)i).ToArray();
        if (nanAt >= 0)
        {
            values[nanAt] = float.NaN;
            if (nanAt + 5 < length)
                values[nanAt + 5] = float.NaN;
        }

        Assert.Equal(nanAt, QuantizeKernels.IndexOfNaN(values));
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void MinMax_matches_the_smallest_and_largest_or_gives_NaN(int length)
    {
        if (length == 0)
            return;
        foreach (var (x, _, _) in Cases(length, QuantDType.QUInt8))
        {
            var (min, max) = QuantizeKernels.MinMax(x);
            Assert.Equal(x.Min(), min);
            Assert.Equal(x.Max(), max);
            // A NaN anywhere, vector body or tail, makes both NaN.
            foreach (int at in new[] { 0, length / 2, length - 1 })
            {
                float kept = x[at];
                x[at] = float.NaN;
                var withNaN = QuantizeKernels.MinMax(x);
                Assert.True(float.IsNaN(withNaN.Min) && float.IsNaN(withNaN.Max), $"NaN at {at} of {length}");
                x[at] = kept;
            }
        }
    }

    /// <summary>
    /// Random values over and beyond the representable range, exact ties (power-of-two scales make
    /// (k + 0.5) * scale exact), infinities, and the extreme zero points of each type; <paramref name="withNaN"/> makes
    /// every third infinity a NaN (the quantize kernels take NaN function values in INT8 tables: the reference gives 0).
    /// </summary>
    private static IEnumerable<(float[] X, float Scale, int ZeroPoint)> Cases(int length, QuantDType dtype, bool withNaN = false)
    {
        var rng = new Random(Seed + length);
        int[] zeroPoints = dtype == QuantDType.QUInt8 ? [0, 128, 255, 37] : [0, -128, 127, -5];
        foreach (int zp in zeroPoints)
        {
            foreach (float scale in new[] { 0.0078125f, 0.00214854861f, 0.1f, 3.3f })
            {
                var x = new float[length];
                for (int i = 0; i < length; i++)
                {
                    x[i] = (i % 7) switch
                    {
                        0 => (rng.Next(-300, 300) + 0.5f) * scale,
                        1 when withNaN && i % 3 == 0 => float.NaN,
                        1 => i % 2 == 0 ? float.PositiveInfinity : float.NegativeInfinity,
                        2 => (float)(rng.NextDouble() * 2e6 - 1e6),
                        _ => (float)((rng.NextDouble() * 2 - 1) * 300 * scale),
                    };
                }

                yield return (x, scale, zp);
            }
        }
    }

    private static void AssertElement(int expected, int actual, float[] x, int i, float scale, int zp)
    {
        if (expected != actual)
            Assert.Fail($"Element {i}: x = {x[i]:R}, scale = {scale:R}, zp = {zp}: reference {expected}, kernel {actual} (seed {Seed}).");
    }
}
