using Quantization.Benchmarks.Infrastructure;

namespace Quantization.Benchmarks.Kernels;

/// <summary>A GEMM size: C (M×N) = A (M×K) × B (K×N).</summary>
public sealed record GemmShape(int M, int K, int N) : IMacCount
{
    /// <summary>The sizes of DESIGN.md §4.</summary>
    public static GemmShape[] Design { get; } =
        [new(1, 768, 768), new(1, 4096, 4096), new(16, 768, 3072), new(128, 768, 768), new(512, 1024, 1024), new(1024, 1024, 1024)];

    public long Macs => (long)M * K * N;

    public override string ToString() => $"{M}x{K}x{N}";
}
