using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using Quantization.Kernels.Gemm;
using Xunit;

namespace Quantization.Tests.Kernels.Gemm;

/// <summary>Every supported INT8 GEMM variant against <see cref="Int8GemmReference"/>, bit for bit.</summary>
public class Int8GemmTests
{
    private const int Seed = 7031;

    public static TheoryData<string> Variants()
    {
        var data = new TheoryData<string>();
        foreach (var v in Int8Gemm.Registry.Supported)
            data.Add(v.Name);
        return data;
    }

    [Fact]
    public void A_SIMD_variant_is_best_on_this_machine()
    {
        Assert.True(Int8Gemm.Registry.Supported.Count > 1, "Only the scalar INT8 GEMM runs here; no SIMD variant is tested.");
        if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(Int8Gemm.Registry.EnvironmentVariable)))
            Assert.Equal(Int8Gemm.Registry.Supported[0], Int8Gemm.Registry.Best);
        if (Int8GemmAvx512VnniJit.CpuHasAvx512Vnni && Int8GemmAvx512VnniJit.UnavailableReason(Environment.GetEnvironmentVariable(Int8GemmAvx512VnniJit.DisableVariable)) is null)
            Assert.Equal("Avx512VnniJit", Int8Gemm.Registry.Supported[0].Name);
        else if (AvxVnni.IsSupported)
            Assert.Equal("AvxVnni", Int8Gemm.Registry.Supported[0].Name);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Accumulators_match_reference_on_boundary_shapes(string name)
    {
        var variant = Find(name);
        var rng = new Random(Seed);
        int[] ms = [1, 2, 3, 4, 5, 6, 7, 13, 97];
        int[] ks = [1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 33, 64, 65];
        int[] ns = [1, 3, 8, 15, 16, 17, 31, 32, 33, 65];
        foreach (int m in ms)
        {
            foreach (int k in ks)
            {
                // Every (M, K) pair meets two column counts, so the suite crosses all three sets in a few seconds.
                foreach (int n in new[] { ns[rng.Next(ns.Length)], ns[rng.Next(ns.Length)] })
                {
                    var problem = Problem.Random(rng, m, k, n);
                    problem.Check(variant, Int8GemmEpilogue.Int32);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Zero_points_and_extreme_values(string name)
    {
        var variant = Find(name);
        var rng = new Random(Seed + 1);
        foreach (int za in new[] { 0, 128, 255, 37 })
        {
            foreach (bool perChannel in new[] { false, true })
            {
                foreach (bool symmetric in new[] { true, false })
                {
                    var problem = Problem.Random(rng, 9, 23, 35, extremes: true);
                    problem.AZeroPoint = za;
                    problem.WeightZeroPoints = symmetric ? [0]
                        : perChannel ? Enumerable.Range(0, 35).Select(_ => rng.Next(-128, 128)).ToArray() : [rng.Next(-128, 128)];
                    problem.Check(variant, Int8GemmEpilogue.Int32);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void All_extremes_never_saturate(string name)
    {
        var variant = Find(name);
        // 255 × -128 in every product: a vpmaddubsw pair would saturate at -32768; the true sum is -32640 × K / 2.
        foreach (int k in new[] { 2, 4, 1000, 4099 })
        {
            var problem = new Problem(3, k, 17)
            {
                A = Enumerable.Repeat((byte)255, 3 * k).ToArray(),
                W = Enumerable.Repeat((sbyte)-128, k * 17).ToArray(),
            };
            var acc = problem.Run(variant, Int8GemmEpilogue.Int32, transposed: false, signed: false);
            Assert.All(acc, v => Assert.Equal(-32640 * k, v));
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Accumulators_wrap_like_the_reference_past_int32(string name)
    {
        var variant = Find(name);
        // 255 × 127 × 70000 = 2.27e9 > int.MaxValue: every variant wraps the same way modulo 2^32.
        var problem = new Problem(2, 70000, 16)
        {
            A = Enumerable.Repeat((byte)255, 2 * 70000).ToArray(),
            W = Enumerable.Repeat((sbyte)127, 70000 * 16).ToArray(),
        };
        problem.Check(variant, Int8GemmEpilogue.Int32);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Float_epilogue_matches_reference(string name)
    {
        var variant = Find(name);
        var rng = new Random(Seed + 2);
        foreach (var (m, k, n) in new[] { (1, 768, 40), (7, 31, 33), (13, 64, 16), (2, 5, 9) })
        {
            var problem = Problem.Random(rng, m, k, n);
            float[] scales = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 1e-3 + 1e-6)).ToArray();
            float[] bias = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();
            problem.Check(variant, Int8GemmEpilogue.ToFloat(scales, bias));
            problem.Check(variant, Int8GemmEpilogue.ToFloat(scales, null));
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Requantize_epilogue_matches_reference(string name)
    {
        var variant = Find(name);
        var rng = new Random(Seed + 3);
        foreach (var (m, k, n) in new[] { (1, 100, 40), (7, 31, 33), (6, 64, 16), (3, 3, 5) })
        {
            var problem = Problem.Random(rng, m, k, n);
            float[] multipliers = Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() * 2e-3 + 1e-5)).ToArray();
            int[] bias = Enumerable.Range(0, n).Select(_ => rng.Next(-20000, 20000)).ToArray();
            problem.Check(variant, Int8GemmEpilogue.Requantize(multipliers, bias, 120, 0, 255, signedOutput: false));
            problem.Check(variant, Int8GemmEpilogue.Requantize(multipliers, null, 120, 120, 255, signedOutput: false)); // fused ReLU
            problem.Check(variant, Int8GemmEpilogue.Requantize(multipliers, bias, -5, -128, 127, signedOutput: true));
            problem.Check(variant, Int8GemmEpilogue.Requantize(multipliers, bias, 0, 0, 6, signedOutput: true)); // clamp
        }
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void One_and_two_threads_agree(string name)
    {
        var variant = Find(name);
        var rng = new Random(Seed + 4);
        var problem = Problem.Random(rng, 200, 300, 150);
        var one = problem.Run(variant, Int8GemmEpilogue.Int32, false, false, maxThreads: 1);
        var two = problem.Run(variant, Int8GemmEpilogue.Int32, false, false, maxThreads: 2);
        Assert.Equal(one, two);
        Assert.Equal(problem.Reference(signed: false), one);
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Kernels_read_unsigned_rows_of_whole_steps_where_they_are(string name)
    {
        // Byte kernels without an offset skip packing (Strided_activations_and_outputs checks the sums both ways);
        // signed activations (flipped), a ragged K and a stride shorter than K are packed.
        var variant = Find(name);
        bool bytes = variant.ActivationElementSize == 1 && variant.ActivationOffset == 0;
        Assert.Equal(bytes, variant.ReadsRows(64, 69, flip: 0));
        Assert.False(variant.ReadsRows(64, 69, flip: 0x80));
        Assert.Equal(bytes && variant.KStep == 1, variant.ReadsRows(70, 75, flip: 0));
        Assert.False(variant.ReadsRows(64, 63, flip: 0));
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Strided_activations_and_outputs(string name)
    {
        // Rows of A and C inside wider buffers (lda > K, ldc > N), as grouped convolutions pass them; the bytes
        // between rows must neither be read into the sums nor overwritten.
        var variant = Find(name);
        var rng = new Random(Seed + 5);
        foreach (var (m, k, n) in new[] { (13, 70, 20), (6, 64, 65), (1, 9, 3) })
        {
            var problem = Problem.Random(rng, m, k, n);
            int lda = k + 5, ldc = n + 3;
            var a = new byte[(m - 1) * lda + k];
            rng.NextBytes(a);
            for (int i = 0; i < m; i++)
                problem.A.AsSpan(i * k, k).CopyTo(a.AsSpan(i * lda));
            var c = Enumerable.Repeat(-1, (m - 1) * ldc + n).ToArray();
            var packed = Int8Gemm.Pack(problem.W, k, n, false, [0], variant);
            Int8Gemm.Multiply<int>(a, m, lda, problem.AZeroPoint, packed, Int8GemmEpilogue.Int32, c, ldc);

            int[] reference = problem.Reference(signed: false);
            for (int i = 0; i < m; i++)
            {
                Assert.Equal(reference.AsSpan(i * n, n), c.AsSpan(i * ldc, n));
                if (i < m - 1)
                    Assert.All(c.AsSpan(i * ldc + n, ldc - n).ToArray(), v => Assert.Equal(-1, v));
            }
        }
    }

    [Fact]
    public void Bad_buffer_sizes_throw_argument_exceptions()
    {
        var w = Int8Gemm.Pack(new sbyte[12], 3, 4, false, [0]);
        Assert.Equal("a", Assert.Throws<ArgumentException>(() => Int8Gemm.Multiply<int>(new byte[5], 2, 3, 0, w, Int8GemmEpilogue.Int32, new int[8], 4)).ParamName);
        Assert.Equal("output", Assert.Throws<ArgumentException>(() => Int8Gemm.Multiply<int>(new byte[6], 2, 3, 0, w, Int8GemmEpilogue.Int32, new int[7], 4)).ParamName);
        Assert.Equal("w", Assert.Throws<ArgumentException>(() => Int8Gemm.Pack(new sbyte[11], 3, 4, false, [0])).ParamName);
        Assert.Equal("zeroPoints", Assert.Throws<ArgumentException>(() => Int8Gemm.Pack(new sbyte[12], 3, 4, false, [0, 0])).ParamName);
    }

    private static Int8GemmVariant Find(string name) => Int8Gemm.Registry.Find(name) ?? throw new InvalidOperationException(name);

    /// <summary>One GEMM problem: operands, zero points, and the checks against the reference.</summary>
    private sealed class Problem(int m, int k, int n)
    {
        public int M { get; } = m;

        public int K { get; } = k;

        public int N { get; } = n;

        public byte[] A { get; set; } = new byte[m * k];

        public sbyte[] W { get; set; } = new sbyte[k * n];

        public int AZeroPoint { get; set; }

        public int[] WeightZeroPoints { get; set; } = [0];

        public static Problem Random(Random rng, int m, int k, int n, bool extremes = false)
        {
            var p = new Problem(m, k, n) { AZeroPoint = rng.Next(256) };
            rng.NextBytes(p.A);
            rng.NextBytes(MemoryMarshal.AsBytes(p.W.AsSpan()));
            if (extremes)
            {
                for (int i = 0; i < p.A.Length; i += 3)
                    p.A[i] = (byte)(i % 2 == 0 ? 0 : 255);
                for (int i = 0; i < p.W.Length; i += 3)
                    p.W[i] = i % 2 == 0 ? sbyte.MinValue : sbyte.MaxValue;
            }

            return p;
        }

        /// <summary>Runs every layout and activation sign through <paramref name="epilogue"/> and compares with the reference.</summary>
        public void Check(Int8GemmVariant variant, Int8GemmEpilogue epilogue)
        {
            foreach (bool transposed in new[] { false, true })
            {
                foreach (bool signed in new[] { false, true })
                {
                    int[] reference = Reference(signed);
                    string where = $"{variant.Name} M={M} K={K} N={N} za={AZeroPoint} zw=[{string.Join(",", WeightZeroPoints.Take(3))}] transposed={transposed} signed={signed} {epilogue.Kind} (seed {Seed})";
                    switch (epilogue.Kind)
                    {
                        case Int8OutputKind.Int32:
                            AssertEqual(reference, Run(variant, epilogue, transposed, signed), where);
                            break;
                        case Int8OutputKind.Float:
                            var f = new float[M * N];
                            Multiply(variant, epilogue, transposed, signed, f.AsSpan());
                            AssertEqual(Map(reference, (v, j) => Int8GemmReference.ToFloat(v, epilogue.Scales![j], epilogue.Bias?[j] ?? 0f)), f, where);
                            break;
                        case Int8OutputKind.UInt8:
                            var u = new byte[M * N];
                            Multiply(variant, epilogue, transposed, signed, u.AsSpan());
                            AssertEqual(Map(reference, (v, j) => (byte)Requantized(epilogue, v, j)), u, where);
                            break;
                        default:
                            var s = new sbyte[M * N];
                            Multiply(variant, epilogue, transposed, signed, s.AsSpan());
                            AssertEqual(Map(reference, (v, j) => (sbyte)Requantized(epilogue, v, j)), s, where);
                            break;
                    }
                }
            }

        }

        public int[] Run(Int8GemmVariant variant, Int8GemmEpilogue epilogue, bool transposed, bool signed, int maxThreads = 0)
        {
            var c = new int[M * N];
            Multiply(variant, epilogue, transposed, signed, c.AsSpan(), maxThreads);
            return c;
        }

        /// <summary>
        /// The reference accumulators. Signed activations are the same bytes read as s8 with zero point za - 128,
        /// which the reference sees as u8 values (b ^ 0x80) with zero point za.
        /// </summary>
        public int[] Reference(bool signed)
        {
            byte[] a = signed ? A.Select(b => (byte)(b ^ 0x80)).ToArray() : A;
            return Int8GemmReference.Accumulate(a, M, K, AZeroPoint, W, N, WeightZeroPoints);
        }

        private void Multiply<T>(Int8GemmVariant variant, Int8GemmEpilogue epilogue, bool transposed, bool signed, Span<T> output, int maxThreads = 0)
            where T : unmanaged
        {
            sbyte[] w = transposed ? Transpose(W, K, N) : W;
            var packed = Int8Gemm.Pack(w, K, N, transposed, WeightZeroPoints, variant);
            if (signed)
                Int8Gemm.Multiply(MemoryMarshal.Cast<byte, sbyte>(A), M, K, AZeroPoint - 128, packed, epilogue, output, N, maxThreads);
            else
                Int8Gemm.Multiply(A.AsSpan(), M, K, AZeroPoint, packed, epilogue, output, N, maxThreads);
        }

        private T[] Map<T>(int[] acc, Func<int, int, T> f) => acc.Select((v, i) => f(v, i % N)).ToArray();

        private static int Requantized(Int8GemmEpilogue e, int acc, int j) =>
            Int8GemmReference.Requantize(acc, e.IntBias?[j] ?? 0, e.Scales![j], e.OutputZeroPoint, e.Min, e.Max);

        private static sbyte[] Transpose(sbyte[] w, int k, int n)
        {
            var t = new sbyte[w.Length];
            for (int r = 0; r < k; r++)
            {
                for (int c = 0; c < n; c++)
                    t[c * k + r] = w[r * n + c];
            }

            return t;
        }

        private void AssertEqual<T>(T[] expected, T[] actual, string where)
        {
            for (int i = 0; i < expected.Length; i++)
            {
                if (!EqualityComparer<T>.Default.Equals(expected[i], actual[i]))
                    Assert.Fail($"{where}: first difference at row {i / N}, column {i % N}: reference {expected[i]}, variant {actual[i]}.");
            }
        }
    }
}
