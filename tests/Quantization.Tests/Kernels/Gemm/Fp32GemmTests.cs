using System.Runtime.Intrinsics.X86;
using Quantization.Kernels.Gemm;
using Xunit;

namespace Quantization.Tests.Kernels.Gemm;

/// <summary>Every supported FP32 GEMM variant against a double-precision oracle.</summary>
public class Fp32GemmTests
{
    private const int Seed = 1717;

    public static TheoryData<string> Variants()
    {
        var data = new TheoryData<string>();
        foreach (var v in Fp32Gemm.Registry.Supported)
            data.Add(v.Name);
        return data;
    }

    [Fact]
    public void A_SIMD_variant_is_best_on_this_machine()
    {
        Assert.True(Fp32Gemm.Registry.Supported.Count > 1, "Only the scalar FP32 GEMM runs here; no SIMD variant is tested.");
        if (Avx512F.IsSupported && string.IsNullOrEmpty(Environment.GetEnvironmentVariable(Fp32Gemm.Registry.EnvironmentVariable)))
            Assert.Equal("Avx512", Fp32Gemm.Registry.Best.Name);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Matches_the_double_reference_on_boundary_shapes(string name)
    {
        var variant = Fp32Gemm.Registry.Find(name)!;
        var rng = new Random(Seed);
        int[] ms = [1, 2, 3, 5, 7, 8, 9, 13, 17, 33, 97];
        int[] sizes = [1, 3, 4, 7, 8, 15, 16, 17, 31, 32, 33, 63, 65, 100];
        foreach (int m in ms)
        {
            foreach (int k in sizes)
            {
                int n = sizes[rng.Next(sizes.Length)];
                Check(variant, rng, m, k, n, transposed: rng.Next(2) == 0, withBias: rng.Next(2) == 0, Fp32Activation.None);
            }
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Epilogues_and_strides(string name)
    {
        var variant = Fp32Gemm.Registry.Find(name)!;
        var rng = new Random(Seed + 1);
        Check(variant, rng, 9, 20, 35, transposed: true, withBias: true, Fp32Activation.Relu);
        Check(variant, rng, 4, 64, 17, transposed: false, withBias: true, Fp32Activation.Clamp, extraStride: 5);
        Check(variant, rng, 1, 257, 40, transposed: true, withBias: false, Fp32Activation.Relu, extraStride: 3);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void One_and_two_threads_give_identical_bits(string name)
    {
        var variant = Fp32Gemm.Registry.Find(name)!;
        var rng = new Random(Seed + 2);
        var (a, b) = (Random(rng, 200 * 150), Random(rng, 150 * 130));
        var packed = Fp32Gemm.Pack(b, 150, 130, transposed: false, variant);
        var one = new float[200 * 130];
        var two = new float[200 * 130];
        Fp32Gemm.Multiply(a, 200, 150, packed, default, one, 130, maxThreads: 1);
        Fp32Gemm.Multiply(a, 200, 150, packed, default, two, 130, maxThreads: 2);
        Assert.Equal(one, two);
    }

    [Fact]
    public void Unpacked_b_matches_packed()
    {
        var rng = new Random(Seed + 3);
        var (a, b) = (Random(rng, 5 * 33), Random(rng, 33 * 19));
        var expected = new float[5 * 19];
        Fp32Gemm.Multiply(a, 5, 33, Fp32Gemm.Pack(b, 33, 19, false), default, expected, 19);
        var actual = new float[5 * 19];
        Fp32Gemm.MultiplyUnpacked(a, 5, 33, b, 19, actual);
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Bad_sizes_throw_argument_exceptions()
    {
        var packed = Fp32Gemm.Pack(new float[12], 3, 4, false);
        Assert.Equal("a", Assert.Throws<ArgumentException>(() => Fp32Gemm.Multiply(new float[5], 2, 3, packed, default, new float[8], 4)).ParamName);
        Assert.Equal("c", Assert.Throws<ArgumentException>(() => Fp32Gemm.Multiply(new float[6], 2, 3, packed, default, new float[7], 4)).ParamName);
        Assert.Equal("bias", Assert.Throws<ArgumentException>(() => Fp32Gemm.Multiply(new float[6], 2, 3, packed, new float[3], new float[8], 4)).ParamName);
        Assert.Equal("b", Assert.Throws<ArgumentException>(() => Fp32Gemm.Pack(new float[11], 3, 4, false)).ParamName);
    }

    private static void Check(Fp32GemmVariant variant, Random rng, int m, int k, int n, bool transposed, bool withBias, Fp32Activation activation, int extraStride = 0)
    {
        int lda = k + extraStride, ldc = n + extraStride;
        float[] a = Random(rng, (m - 1) * lda + k), b = Random(rng, k * n), bias = withBias ? Random(rng, n) : [];
        float[] stored = transposed ? Transpose(b, k, n) : b;
        var c = new float[(m - 1) * ldc + n];
        Fp32Gemm.Multiply(a, m, lda, Fp32Gemm.Pack(stored, k, n, transposed, variant), bias, c, ldc, activation, -0.5f, 0.5f);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = withBias ? bias[j] : 0, magnitude = Math.Abs(sum);
                for (int p = 0; p < k; p++)
                {
                    sum += (double)a[i * lda + p] * b[p * n + j];
                    magnitude += Math.Abs((double)a[i * lda + p] * b[p * n + j]);
                }

                double expected = activation switch
                {
                    Fp32Activation.Relu => Math.Max(sum, 0),
                    Fp32Activation.Clamp => Math.Clamp(sum, -0.5, 0.5),
                    _ => sum,
                };
                double error = Math.Abs(c[i * ldc + j] - expected);
                if (error > 1e-5 * magnitude + 1e-6)
                    Assert.Fail($"{variant.Name} M={m} K={k} N={n} transposed={transposed} {activation}: C[{i},{j}] = {c[i * ldc + j]}, expected {expected} (seed {Seed}).");
            }
        }
    }

    private static float[] Random(Random rng, int length) => Enumerable.Range(0, length).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();

    private static float[] Transpose(float[] b, int k, int n)
    {
        var t = new float[b.Length];
        for (int r = 0; r < k; r++)
        {
            for (int col = 0; col < n; col++)
                t[col * k + r] = b[r * n + col];
        }

        return t;
    }
}
