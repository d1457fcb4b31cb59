using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Configs;
using Quantization.Benchmarks.Infrastructure;

namespace Quantization.Benchmarks.Kernels;

/// <summary>
/// The ceiling of a matrix-vector product: how fast one or two threads can stream the 16 MiB of a packed 4096×4096
/// INT8 weight matrix, read once per call with 512-bit loads and nothing else to do. An INT8 GEMV reads one weight
/// byte per multiply-add, so G-MAC/s at (1, 4096, 4096) cannot exceed these GB/s.
/// </summary>
[Config(typeof(Config))]
public unsafe class MemoryBandwidthBenchmarks
{
    private const int Bytes = 4096 * 4096;
    private byte* _data;

    [GlobalSetup]
    public void Setup()
    {
        _data = (byte*)NativeMemory.AlignedAlloc(Bytes, 64);
        new Span<byte>(_data, Bytes).Fill(1);
    }

    [GlobalCleanup]
    public void Cleanup() => NativeMemory.AlignedFree(_data);

    [Benchmark(Baseline = true), BytesPerOperation(Bytes)]
    public int StreamOneThread() => Sum(_data, Bytes);

    [Benchmark, BytesPerOperation(Bytes)]
    public int StreamTwoThreads()
    {
        int a = 0, b = 0;
        byte* data = _data;
        Parallel.Invoke(() => a = Sum(data, Bytes / 2), () => b = Sum(data + Bytes / 2, Bytes / 2));
        return a + b;
    }

    /// <summary>XORs every 64-byte line into four accumulators (independent chains, so only the loads limit it).</summary>
    private static int Sum(byte* data, int length)
    {
        Vector512<int> s0 = default, s1 = default, s2 = default, s3 = default;
        for (byte* p = data, end = data + length; p < end; p += 256)
        {
            s0 ^= Vector512.Load((int*)p);
            s1 ^= Vector512.Load((int*)(p + 64));
            s2 ^= Vector512.Load((int*)(p + 128));
            s3 ^= Vector512.Load((int*)(p + 192));
        }

        return Vector512.Sum(s0 ^ s1 ^ s2 ^ s3);
    }

    private sealed class Config : ManualConfig
    {
        public Config() => AddColumn(new ThroughputColumn());
    }
}
