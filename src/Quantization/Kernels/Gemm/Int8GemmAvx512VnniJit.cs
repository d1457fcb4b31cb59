using System.Collections.Concurrent;
using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Quantization.Kernels.Jit;

namespace Quantization.Kernels.Gemm;

/// <summary>
/// AVX512-VNNI through generated code: 512-bit <c>vpdpbusd</c> (64 MACs per instruction, twice AVX-VNNI's), which
/// .NET's intrinsics cannot express (they offer VNNI on 256-bit vectors only). Micro-kernels of up to
/// <see cref="VnniKernelGenerator.MaxRows"/> rows × 64, 32 or 16 columns (<see cref="Instance"/>, <see cref="Narrow"/>,
/// <see cref="Narrowest"/>) come from <see cref="VnniKernelGenerator"/>, are placed in executable pages once per shape,
/// and are called through an unmanaged function pointer. Activations are packed in tiles interleaved by K group, the
/// layout the kernels read, the same for every width.
/// </summary>
/// <remarks>
/// Available on x86-64 Linux and Windows when the CPU reports AVX512-VNNI (CPUID leaf 7, ECX bit 11) and the OS
/// keeps 512-bit state (AVX-512F), unless <c>QUANTIZATION_DISABLE_JIT=1</c>. Before first use a generated kernel is
/// run on known data; any failure — no executable memory (hardened kernels, SELinux), a wrong answer — leaves the
/// variant unavailable with the reason traced, and the registry picks a managed variant. The code is built only
/// from fixed templates and integers this library computes; the driver checks every buffer's size before a call.
/// </remarks>
internal sealed unsafe class Int8GemmAvx512VnniJit : Int8GemmVariant
{
    public const string DisableVariable = "QUANTIZATION_DISABLE_JIT";

    private readonly ConcurrentDictionary<(int Rows, int PaddedK, int TileStride, int RowStride), nint> _kernels = new();

    /// <summary>The kernel last used per row count: a GEMM calls the same one thousands of times, so skip the dictionary.</summary>
    private readonly CachedKernel?[] _recent = new CachedKernel?[VnniKernelGenerator.MaxRows + 1];
    private static readonly int[] NoStartValues = new int[VnniKernelGenerator.PanelWidth];

    /// <summary>One check for all widths: the self-test runs each of them.</summary>
    private static readonly Lazy<string?> UnavailableHere = new(() =>
    {
        string? reason = UnavailableReason(Environment.GetEnvironmentVariable(DisableVariable)) ?? SelfTest();
        if (reason is not null)
            Trace.TraceInformation($"{nameof(Int8GemmAvx512VnniJit)} is unavailable: {reason}. The managed INT8 kernels run instead.");
        return reason;
    });

    private readonly int _vectors;

    private Int8GemmAvx512VnniJit(int vectors) => _vectors = vectors;

    /// <summary>Panels of 64 columns, the registry's choice; <see cref="ForColumns"/> picks a narrower width where it pads less.</summary>
    public static Int8GemmAvx512VnniJit Instance { get; } = new(VnniKernelGenerator.MaxVectors);

    /// <summary>Panels of 32 columns.</summary>
    public static Int8GemmAvx512VnniJit Narrow { get; } = new(2);

    /// <summary>Panels of 16 columns.</summary>
    public static Int8GemmAvx512VnniJit Narrowest { get; } = new(1);

    public override string Name => _vectors == VnniKernelGenerator.MaxVectors ? "Avx512VnniJit" : $"Avx512VnniJit{PanelWidth}";

    public override bool IsSupported => UnavailableHere.Value is null;

    /// <summary>Why the variant cannot run here, or null.</summary>
    public string? WhyUnavailable => UnavailableHere.Value;

    public override int PanelWidth => _vectors * 16;

    public override int MaxRows => VnniKernelGenerator.MaxRows;

    public override int KStep => 4;

    public override int WeightElementSize => 1;

    public override int ActivationElementSize => 1;

    /// <summary>True when the CPU reports AVX512-VNNI: CPUID leaf 7, sub-leaf 0, ECX bit 11.</summary>
    public static bool CpuHasAvx512Vnni => X86Base.IsSupported && (X86Base.CpuId(7, 0).Ecx & (1 << 11)) != 0;

    /// <remarks><paramref name="a"/> is a tile packed by <see cref="PackActivations"/>; <paramref name="aStride"/> is unused.</remarks>
    public override void Kernel(int rows, byte* a, int aStride, byte* panel, int paddedK, int* tile)
    {
        fixed (int* zeros = NoStartValues)
            Kernel(rows, a, aStride, panel, paddedK, tile, PanelWidth, zeros);
    }

    /// <remarks><paramref name="a"/> is a tile packed by <see cref="PackActivations"/>; <paramref name="aStride"/> is unused.</remarks>
    public override void Kernel(int rows, byte* a, int aStride, byte* panel, int paddedK, int* tile, int tileStride, int* init) =>
        Run(rows, a, rowStride: 0, panel, paddedK, tile, tileStride, init);

    /// <summary>
    /// Unsigned activations whose K is whole groups of four: the kernels read the rows where they are, each row's offset
    /// within a tile a four-byte displacement (so a tile must span less than 2 GiB).
    /// </summary>
    public override bool ReadsRows(int k, int lda, byte flip) =>
        base.ReadsRows(k, lda, flip) && (long)(MaxRows - 1) * lda + k <= int.MaxValue;

    public override void KernelOnRows(int rows, byte* a, int aStride, byte* panel, int paddedK, int* tile, int tileStride, int* init) =>
        Run(rows, a, aStride, panel, paddedK, tile, tileStride, init);

    private void Run(int rows, byte* a, int rowStride, byte* panel, int paddedK, int* tile, int tileStride, int* init)
    {
        CachedKernel? recent = _recent[rows];
        nint code;
        if (recent is not null && recent.PaddedK == paddedK && recent.TileStride == tileStride && recent.RowStride == rowStride)
        {
            code = recent.Code;
        }
        else
        {
            code = _kernels.GetOrAdd((rows, paddedK, tileStride, rowStride), key => Create(key.Rows, key.PaddedK, key.TileStride, _vectors, key.RowStride));
            _recent[rows] = new CachedKernel(paddedK, tileStride, rowStride, code);
        }

        // A short call that never blocks or re-enters the runtime: no GC transition needed.
        ((delegate* unmanaged[SuppressGCTransition]<byte*, byte*, int*, int*, void>)code)(a, panel, tile, init);
    }

    /// <summary>
    /// Tiles of <see cref="MaxRows"/> rows (fewer in the last), each interleaved by K group: group g of row r at
    /// bytes <c>(g * rows + r) * 4</c> of its tile, which starts where its first row would in a row-by-row layout.
    /// </summary>
    public override void PackActivations(ReadOnlySpan<byte> a, int m, int k, int lda, byte flip, Span<byte> packed)
    {
        int rowBytes = ActivationRowBytes(k), whole = k / 4, tail = k % 4;
        Debug.Assert(ActivationOffset == 0 && packed.Length >= m * rowBytes && a.Length >= (long)(m - 1) * lda + k);
        uint flips = flip * 0x01010101u;
        fixed (byte* source = a)
        fixed (byte* destination = packed)
        {
            for (int t0 = 0; t0 < m; t0 += MaxRows)
            {
                int rows = Math.Min(MaxRows, m - t0), g0 = 0;
                byte* first = source + (long)t0 * lda;
                uint* tile = (uint*)(destination + (long)t0 * rowBytes);
                if (rows == 1)
                {
                    // A one-row tile is the row itself, zero padded (a matrix-vector product packs only this).
                    var row = new Span<byte>(tile, rowBytes);
                    TensorPrimitives.Xor(new ReadOnlySpan<byte>(first, k), flip, row);
                    row[k..].Clear();
                    continue;
                }

                if (rows == MaxRows)
                    g0 = InterleaveFullTile(first, lda, whole, Vector512.Create(flips), tile);
                for (int r = 0; r < rows; r++)
                {
                    byte* row = first + (long)r * lda;
                    for (int g = g0; g < whole; g++)
                        tile[g * rows + r] = Unsafe.ReadUnaligned<uint>(row + 4 * g) ^ flips;
                    if (tail > 0)
                    {
                        uint last = 0;
                        for (int t = 0; t < tail; t++)
                            last |= (uint)(byte)(row[4 * whole + t] ^ flip) << (8 * t);
                        tile[whole * rows + r] = last;
                    }
                }
            }
        }
    }

    /// <summary>
    /// Interleaves 16 groups of all six rows at a time: each output vector gathers its lanes from the row pairs
    /// (0, 1), (2, 3) and (4, 5) with two-source permutes and picks among the three with masks. Returns the groups done.
    /// </summary>
    private static int InterleaveFullTile(byte* first, int lda, int groups, Vector512<uint> flips, uint* tile)
    {
        const int Rows = 6;
        Debug.Assert(MaxRowsIsSix);
        var plan = TilePlan.Value;
        int g = 0;
        for (; g + 16 <= groups; g += 16)
        {
            var r0 = Vector512.Load((uint*)(first + 4 * g)) ^ flips;
            var r1 = Vector512.Load((uint*)(first + lda + 4 * g)) ^ flips;
            var r2 = Vector512.Load((uint*)(first + 2L * lda + 4 * g)) ^ flips;
            var r3 = Vector512.Load((uint*)(first + 3L * lda + 4 * g)) ^ flips;
            var r4 = Vector512.Load((uint*)(first + 4L * lda + 4 * g)) ^ flips;
            var r5 = Vector512.Load((uint*)(first + 5L * lda + 4 * g)) ^ flips;
            uint* output = tile + g * Rows;
            for (int o = 0; o < Rows; o++)
            {
                var low = Avx512F.PermuteVar16x32x2(r0, plan.Indices[3 * o], r1);
                var middle = Avx512F.PermuteVar16x32x2(r2, plan.Indices[3 * o + 1], r3);
                var high = Avx512F.PermuteVar16x32x2(r4, plan.Indices[3 * o + 2], r5);
                var picked = Vector512.ConditionalSelect(plan.Middle[o], middle, low);
                Vector512.ConditionalSelect(plan.High[o], high, picked).Store(output + 16 * o);
            }
        }

        return g;
    }

    private static bool MaxRowsIsSix => VnniKernelGenerator.MaxRows == 6;

    private static readonly Lazy<InterleavePlan> TilePlan = new(() =>
    {
        const int Rows = 6;
        var indices = new Vector512<uint>[3 * Rows];
        var middle = new Vector512<uint>[Rows];
        var high = new Vector512<uint>[Rows];
        Span<uint> lanes = stackalloc uint[16];
        Span<uint> middleLanes = stackalloc uint[16];
        Span<uint> highLanes = stackalloc uint[16];
        for (int o = 0; o < Rows; o++)
        {
            for (int pair = 0; pair < 3; pair++)
            {
                for (int l = 0; l < 16; l++)
                {
                    int flat = 16 * o + l, r = flat % Rows, group = flat / Rows;
                    lanes[l] = r == 2 * pair ? (uint)group : r == 2 * pair + 1 ? (uint)(16 + group) : 0u;
                    middleLanes[l] = r / 2 == 1 ? uint.MaxValue : 0u;
                    highLanes[l] = r / 2 == 2 ? uint.MaxValue : 0u;
                }

                indices[3 * o + pair] = Vector512.Create<uint>(lanes);
            }

            middle[o] = Vector512.Create<uint>(middleLanes);
            high[o] = Vector512.Create<uint>(highLanes);
        }

        return new InterleavePlan(indices, middle, high);
    });

    /// <summary>Permute indices (three per output vector) and lane masks for the rows 2-3 and 4-5 sources.</summary>
    private sealed record InterleavePlan(Vector512<uint>[] Indices, Vector512<uint>[] Middle, Vector512<uint>[] High);

    /// <summary>The static reasons the variant cannot run, given the value of <see cref="DisableVariable"/>.</summary>
    internal static string? UnavailableReason(string? disableSetting)
    {
        if (disableSetting is "1" || string.Equals(disableSetting, "true", StringComparison.OrdinalIgnoreCase))
            return $"{DisableVariable} is set";
        if (RuntimeInformation.ProcessArchitecture != Architecture.X64)
            return "the process is not x86-64";
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsWindows())
            return "generated kernels need Linux or Windows";
        if (!Avx512F.IsSupported)
            return "AVX-512F is not supported or not enabled by the OS";
        return CpuHasAvx512Vnni ? null : "the CPU does not report AVX512-VNNI";
    }

    /// <summary>
    /// The widest panels pad N=24 (the 96 -> 24 convolutions of a text detector's neck) to 64 columns, so 62 % of their
    /// multiply-adds are thrown away. This instance gives the width with the least padded work, counting a 32-column
    /// column as 17/16 and a 16-column one as 18/16 of a 64-column one: narrower kernels load more per multiply-add
    /// (M=25600, K=864, one thread: N=24 5.4 ms at 32 columns against 6.9 at 64; N=192 15.6 and 17.3 against 15.2).
    /// </summary>
    public override Int8GemmVariant ForColumns(int n)
    {
        if (this != Instance)
            return this;
        long Cost(Int8GemmAvx512VnniJit v, int weight) => (long)(n + v.PanelWidth - 1) / v.PanelWidth * v.PanelWidth * weight;
        var best = this;
        long least = Cost(this, 16);
        foreach (var (narrower, weight) in (ReadOnlySpan<(Int8GemmAvx512VnniJit, int)>)[(Narrow, 17), (Narrowest, 18)])
        {
            if (Cost(narrower, weight) < least)
                (best, least) = (narrower, Cost(narrower, weight));
        }

        return best;
    }

    private static nint Create(int rows, int paddedK, int tileStride, int vectors, int rowStride)
    {
        byte[] code = VnniKernelGenerator.Generate(rows, paddedK, tileStride, OperatingSystem.IsWindows(), vectors, rowStride);
        return ExecutableMemory.TryCreate(code, out string? failure)
            ?? throw new InvalidOperationException($"Executable memory for a generated kernel was refused: {failure}.");
    }

    /// <summary>Generates and runs one kernel of each width on known values; null when they compute the right sums.</summary>
    private static string? SelfTest()
    {
        foreach (int vectors in (int[])[1, 2, VnniKernelGenerator.MaxVectors])
        {
            // Packed tiles, and rows read where they are with four bytes between them that must not count.
            foreach (int rowStride in (int[])[0, 24])
            {
                if (SelfTest(vectors, rowStride) is { } failure)
                    return failure;
            }
        }

        return null;
    }

    private static string? SelfTest(int vectors, int rowStride)
    {
        // Five K groups: one pass of the four-group loop and one group after it.
        const int Rows = 3, K = 20;
        int width = vectors * 16;
        byte[] code = VnniKernelGenerator.Generate(Rows, K, width, OperatingSystem.IsWindows(), vectors, rowStride);
        nint? kernel = ExecutableMemory.TryCreate(code, out string? failure);
        if (kernel is null)
            return failure;

        var a = new byte[rowStride == 0 ? Rows * K : (Rows - 1) * rowStride + K];
        var panel = new sbyte[K * width];
        var init = new int[width];
        var tile = new int[Rows * width];
        for (int i = 0; i < a.Length; i++)
            a[i] = (byte)(250 - i);
        for (int i = 0; i < panel.Length; i++)
            panel[i] = (sbyte)(i % 2 == 0 ? -128 + i % 7 : 127 - i % 5);
        for (int j = 0; j < width; j++)
            init[j] = 1000 * j - 7;
        fixed (byte* pa = a)
        fixed (sbyte* pw = panel)
        fixed (int* pt = tile)
        fixed (int* pi = init)
            ((delegate* unmanaged<byte*, byte*, int*, int*, void>)kernel.Value)(pa, (byte*)pw, pt, pi);

        for (int r = 0; r < Rows; r++)
        {
            for (int j = 0; j < width; j++)
            {
                int sum = init[j];
                for (int p = 0; p < K; p++)
                    sum += a[rowStride == 0 ? ((p >> 2) * Rows + r) * 4 + (p & 3) : r * rowStride + p] * panel[((p >> 2) * width + j) * 4 + (p & 3)];
                if (tile[r * width + j] != sum)
                    return $"the {width}-column self-test kernel (row stride {rowStride}) computed {tile[r * width + j]} instead of {sum}";
            }
        }

        return null;
    }

    /// <summary>One generated kernel and the shape it was generated for (replaced whole, so threads never see a torn entry).</summary>
    private sealed record CachedKernel(int PaddedK, int TileStride, int RowStride, nint Code);
}
