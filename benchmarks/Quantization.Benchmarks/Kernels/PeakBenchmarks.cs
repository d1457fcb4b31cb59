using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Quantization.Benchmarks.Infrastructure;

namespace Quantization.Benchmarks.Kernels;

/// <summary>
/// The machine's per-core peak: back-to-back independent <c>vpdpbusd</c> on 256-bit vectors (32 u8×s8 MACs each)
/// and 512-bit FMAs (16 float MACs each), 12 independent accumulator chains so latency never stalls issue.
/// Every GEMM figure is reported against these.
/// </summary>
[Config(typeof(Config))]
public class PeakBenchmarks
{
    private const int Iterations = 1 << 20;

    [Benchmark, MacsPerOperation(Iterations * 12L * 32)]
    public int AvxVnniDotProducts() => VnniLoop();

    /// <summary>
    /// The same loop on two threads at once: the ceiling for any compute-bound two-thread kernel. On the 2-vCPU
    /// machines this project runs on, the two threads share much of one core's VNNI throughput.
    /// </summary>
    [Benchmark, MacsPerOperation(2 * Iterations * 12L * 32)]
    public int AvxVnniDotProductsTwoThreads()
    {
        int a = 0, b = 0;
        Parallel.Invoke(() => a = VnniLoop(), () => b = VnniLoop());
        return a + b;
    }

    private static int VnniLoop()
    {
        if (!AvxVnni.IsSupported)
            throw new PlatformNotSupportedException("AVX-VNNI is not supported on this machine.");
        var b = Vector256.Create((byte)3);
        var w = Vector256.Create((sbyte)-2);
        Vector256<int> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        Vector256<int> c6 = default, c7 = default, c8 = default, c9 = default, c10 = default, c11 = default;
        for (int i = 0; i < Iterations; i++)
        {
            c0 = AvxVnni.MultiplyWideningAndAdd(c0, b, w);
            c1 = AvxVnni.MultiplyWideningAndAdd(c1, b, w);
            c2 = AvxVnni.MultiplyWideningAndAdd(c2, b, w);
            c3 = AvxVnni.MultiplyWideningAndAdd(c3, b, w);
            c4 = AvxVnni.MultiplyWideningAndAdd(c4, b, w);
            c5 = AvxVnni.MultiplyWideningAndAdd(c5, b, w);
            c6 = AvxVnni.MultiplyWideningAndAdd(c6, b, w);
            c7 = AvxVnni.MultiplyWideningAndAdd(c7, b, w);
            c8 = AvxVnni.MultiplyWideningAndAdd(c8, b, w);
            c9 = AvxVnni.MultiplyWideningAndAdd(c9, b, w);
            c10 = AvxVnni.MultiplyWideningAndAdd(c10, b, w);
            c11 = AvxVnni.MultiplyWideningAndAdd(c11, b, w);
        }

        return (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11).ToScalar();
    }

    [Benchmark, MacsPerOperation(Iterations * 12L * 16)]
    public float Avx512FusedMultiplyAdds()
    {
        if (!Avx512F.IsSupported)
            throw new PlatformNotSupportedException("AVX-512F is not supported on this machine.");
        var a = Vector512.Create(1.0001f);
        var x = Vector512.Create(0.9999f);
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        Vector512<float> c6 = default, c7 = default, c8 = default, c9 = default, c10 = default, c11 = default;
        for (int i = 0; i < Iterations; i++)
        {
            c0 = Avx512F.FusedMultiplyAdd(a, x, c0);
            c1 = Avx512F.FusedMultiplyAdd(a, x, c1);
            c2 = Avx512F.FusedMultiplyAdd(a, x, c2);
            c3 = Avx512F.FusedMultiplyAdd(a, x, c3);
            c4 = Avx512F.FusedMultiplyAdd(a, x, c4);
            c5 = Avx512F.FusedMultiplyAdd(a, x, c5);
            c6 = Avx512F.FusedMultiplyAdd(a, x, c6);
            c7 = Avx512F.FusedMultiplyAdd(a, x, c7);
            c8 = Avx512F.FusedMultiplyAdd(a, x, c8);
            c9 = Avx512F.FusedMultiplyAdd(a, x, c9);
            c10 = Avx512F.FusedMultiplyAdd(a, x, c10);
            c11 = Avx512F.FusedMultiplyAdd(a, x, c11);
        }

        return (c0 + c1 + c2 + c3 + c4 + c5 + c6 + c7 + c8 + c9 + c10 + c11).ToScalar();
    }

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new MacThroughputColumn());
    }
}
