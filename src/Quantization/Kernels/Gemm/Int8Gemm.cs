using System.Buffers;
using System.Diagnostics;
using System.Runtime.InteropServices;
using Quantization.Kernels.Threading;

namespace Quantization.Kernels.Gemm;

/// <summary>
/// The INT8 GEMM: <c>C[m, n] = epilogue(Σ_k (A[m, k] - za) * (W[k, n] - zw[n]))</c> with u8 (or s8, shifted by 128)
/// activations, s8 weights packed once, int32 accumulation, and a fused output stage.
/// </summary>
/// <remarks>
/// With a variant's activation offset <c>o</c> (0, or 128 for signed dot products), <c>raw = Σ (A - o) W</c> and
/// <c>acc = raw - (za - o) * colsum[n] - zw[n] * (rowsum[m] - K * za)</c>, all modulo 2^32, which is the reference's
/// sum exactly. The column term is the micro-kernel's start value; the row term, needed only with weight zero points,
/// is subtracted after it. Work is split into tasks of (a block of <see cref="RowBlock"/> rows × a run of
/// <see cref="PanelsPerTask"/> panels); inside a task each weight panel stays in cache while it meets every row tile
/// of the block.
/// </remarks>
internal static class Int8Gemm
{
    /// <summary>
    /// Rows per task: a block of packed activations (96 × K bytes) stays in L2. A multiple of every MR (4, 6, 8), so
    /// blocks and micro-kernel tiles start at the same rows (variants that interleave a tile's rows rely on it).
    /// </summary>
    internal const int RowBlock = 96;

    /// <summary>Weight panels per task.</summary>
    internal const int PanelsPerTask = 4;

    /// <summary>The variants, best first; <c>QUANTIZATION_INT8_GEMM</c> forces one by name.</summary>
    public static KernelRegistry<Int8GemmVariant> Registry { get; } = new("QUANTIZATION_INT8_GEMM",
        Int8GemmAvx512VnniJit.Instance, Int8GemmAvx512VnniJit.Narrow, Int8GemmAvx512VnniJit.Narrowest, Int8GemmAvxVnni.Instance, Int8GemmAvx512BW.Instance, Int8GemmAvx2.Instance,
        Int8GemmAdvSimdDp.Instance, Int8GemmAdvSimd.Instance, Int8GemmScalar.Instance);

    /// <summary>Packs s8 weights for <paramref name="variant"/>.</summary>
    /// <param name="w">K×N row-major, or N×K row-major (PyTorch's Linear weight [out, in]) when <paramref name="transposed"/>.</param>
    /// <param name="k">The inner dimension.</param>
    /// <param name="n">The number of output columns.</param>
    /// <param name="transposed">The layout of <paramref name="w"/>.</param>
    /// <param name="zeroPoints">One weight zero point for all columns, or one per column.</param>
    /// <param name="variant">The variant whose layout to use (default: the best one, at the panel width that suits N unless the environment forces a variant).</param>
    public static Int8PackedWeights Pack(ReadOnlySpan<sbyte> w, int k, int n, bool transposed, ReadOnlySpan<int> zeroPoints, Int8GemmVariant? variant = null)
    {
        variant ??= Registry.IsForced ? Registry.Best : Registry.Best.ForColumns(n);
        Debug.Assert(variant.IsSupported && k > 0 && n > 0);
        if (w.Length < (long)k * n)
            throw new ArgumentException($"Weights hold {w.Length} values; K×N = {k}×{n} needs {(long)k * n}.", nameof(w));
        if (zeroPoints.Length != 1 && zeroPoints.Length != n)
            throw new ArgumentException($"Expected 1 or {n} weight zero points but got {zeroPoints.Length}.", nameof(zeroPoints));

        int panelBytes = variant.PanelBytes(k);
        int panels = (n + variant.PanelWidth - 1) / variant.PanelWidth;
        var data = new byte[(long)panels * panelBytes];
        for (int p = 0; p < panels; p++)
            variant.PackPanel(w, k, n, transposed, p * variant.PanelWidth, data.AsSpan(p * panelBytes, panelBytes));

        var columnSums = new int[n];
        for (int row = 0; row < k; row++)
        {
            for (int j = 0; j < n; j++)
                columnSums[j] += transposed ? w[j * k + row] : w[row * n + j];
        }

        int[] zw = zeroPoints.Length == n ? zeroPoints.ToArray() : Enumerable.Repeat(zeroPoints[0], n).ToArray();
        return new Int8PackedWeights(variant, k, n, data, columnSums, zw);
    }

    /// <summary>
    /// u8 activations (M×K, row stride <paramref name="lda"/>, zero point <paramref name="aZeroPoint"/>) times packed
    /// weights, through <paramref name="epilogue"/> into <paramref name="output"/> (M×N, row stride <paramref name="ldc"/>,
    /// int, float, byte or sbyte as the epilogue says), on up to <paramref name="maxThreads"/> threads (0: the default).
    /// Output column n uses entry <paramref name="epilogueOffset"/> + n of the epilogue's per-column arrays (a
    /// grouped convolution runs one GEMM per group against one epilogue).
    /// </summary>
    public static void Multiply<TOut>(ReadOnlySpan<byte> a, int m, int lda, int aZeroPoint, Int8PackedWeights w, Int8GemmEpilogue epilogue, Span<TOut> output, int ldc, int maxThreads = 0, int epilogueOffset = 0)
        where TOut : unmanaged =>
        Run(a, m, lda, flip: 0, aZeroPoint, w, epilogue, MemoryMarshal.AsBytes(output), ldc, maxThreads, epilogueOffset);

    /// <summary>s8 activations: shifted to u8 by flipping the top bit, which adds 128 to values and zero point alike.</summary>
    public static void Multiply<TOut>(ReadOnlySpan<sbyte> a, int m, int lda, int aZeroPoint, Int8PackedWeights w, Int8GemmEpilogue epilogue, Span<TOut> output, int ldc, int maxThreads = 0, int epilogueOffset = 0)
        where TOut : unmanaged =>
        Run(MemoryMarshal.AsBytes(a), m, lda, flip: 0x80, aZeroPoint + 128, w, epilogue, MemoryMarshal.AsBytes(output), ldc, maxThreads, epilogueOffset);

    private static unsafe void Run(ReadOnlySpan<byte> a, int m, int lda, byte flip, int za, Int8PackedWeights w, Int8GemmEpilogue epilogue, Span<byte> output, int ldc, int maxThreads, int epilogueOffset)
    {
        int k = w.K, n = w.N;
        int elementSize = epilogue.Kind is Int8OutputKind.Int32 or Int8OutputKind.Float ? 4 : 1;
        if (m <= 0)
            return;
        if (lda < k || a.Length < (long)(m - 1) * lda + k)
            throw new ArgumentException($"Activations hold {a.Length} values; M = {m} rows of K = {k} with stride {lda} need {(long)(m - 1) * lda + k}.", nameof(a));
        if (epilogue.Scales is not null && epilogue.Scales.Length < epilogueOffset + n)
            throw new ArgumentException($"The epilogue has {epilogue.Scales.Length} columns; offset {epilogueOffset} + N = {n} needs more.", nameof(epilogue));
        if (ldc < n || output.Length < ((long)(m - 1) * ldc + n) * elementSize)
            throw new ArgumentException($"The output holds {output.Length / elementSize} values; M×N = {m}×{n} with stride {ldc} needs {(long)(m - 1) * ldc + n}.", nameof(output));

        Int8GemmVariant variant = w.Variant;
        // Kernels that can read A's rows where they are skip packing (a third of a large convolution's time).
        bool unpacked = variant.ReadsRows(k, lda, flip);
        int rowBytes = unpacked ? lda : variant.ActivationRowBytes(k);
        byte[]? packedA = unpacked ? null : ArrayPool<byte>.Shared.Rent(m * rowBytes);
        // Padded to whole panels: kernels read a full panel's start values.
        int[] columnTerms = ArrayPool<int>.Shared.Rent(w.PanelCount * variant.PanelWidth);
        int[]? rowTerms = w.HasZeroPoints ? ArrayPool<int>.Shared.Rent(m) : null;
        try
        {
            if (packedA is not null)
                PackActivations(variant, a, m, k, lda, flip, packedA, maxThreads);
            if (rowTerms is not null)
            {
                for (int i = 0; i < m; i++)
                    rowTerms[i] = unchecked(RowSum(a.Slice(i * lda, k), flip) - k * za);
            }

            int offsetCorrection = za - variant.ActivationOffset;
            for (int j = 0; j < n; j++)
                columnTerms[j] = unchecked(-offsetCorrection * w.ColumnSums[j]);
            columnTerms.AsSpan(n, w.PanelCount * variant.PanelWidth - n).Clear();

            int panelsPerTask = PanelsPerTask;
            int panelTasks = (w.PanelCount + panelsPerTask - 1) / panelsPerTask;
            int rowTasks = (m + RowBlock - 1) / RowBlock;
            fixed (byte* source = a)
            fixed (byte* packed = packedA)
            fixed (byte* outputPointer = output)
            {
                var job = new Job(variant, w, epilogue, epilogueOffset, (nint)(unpacked ? source : packed), unpacked, rowBytes, m, columnTerms, rowTerms, (nint)outputPointer, ldc);
                KernelParallel.For(rowTasks * panelTasks, (long)m * n * k, t => job.RunTask(t / panelTasks, t % panelTasks, panelsPerTask), maxThreads);
            }
        }
        finally
        {
            if (packedA is not null)
                ArrayPool<byte>.Shared.Return(packedA);
            ArrayPool<int>.Shared.Return(columnTerms);
            if (rowTerms is not null)
                ArrayPool<int>.Shared.Return(rowTerms);
        }
    }

    /// <summary>Packs A by blocks of <see cref="RowBlock"/> rows, in parallel when it is large enough to pay for it.</summary>
    private static unsafe void PackActivations(Int8GemmVariant variant, ReadOnlySpan<byte> a, int m, int k, int lda, byte flip, byte[] packed, int maxThreads)
    {
        int rowBytes = variant.ActivationRowBytes(k), blocks = (m + RowBlock - 1) / RowBlock;
        if (blocks == 1)
        {
            variant.PackActivations(a, m, k, lda, flip, packed);
            return;
        }

        long length = a.Length;
        fixed (byte* source = a)
        {
            nint start = (nint)source;
            // Packing moves a byte where the GEMM does N multiply-adds; weigh it as a few of them per byte.
            KernelParallel.For(blocks, 8L * m * k, block =>
            {
                int first = block * RowBlock, rows = Math.Min(RowBlock, m - first);
                var rowsOfA = new ReadOnlySpan<byte>((byte*)start + (long)first * lda, (int)Math.Min(int.MaxValue, length - (long)first * lda));
                variant.PackActivations(rowsOfA, rows, k, lda, flip, packed.AsSpan(first * rowBytes, rows * rowBytes));
            }, maxThreads);
        }
    }

    private static int RowSum(ReadOnlySpan<byte> row, byte flip)
    {
        int sum = 0;
        foreach (byte v in row)
            sum += (byte)(v ^ flip);
        return sum;
    }

    /// <summary>Everything one call's tasks share: <paramref name="activations"/> is A packed, or A itself when <paramref name="unpacked"/>.</summary>
    private sealed class Job(Int8GemmVariant variant, Int8PackedWeights w, Int8GemmEpilogue epilogue, int epilogueOffset, nint activations, bool unpacked, int rowBytes, int m,
        int[] columnTerms, int[]? rowTerms, nint output, int ldc)
    {
        public unsafe void RunTask(int rowTask, int panelTask, int panelsPerTask)
        {
            int nr = variant.PanelWidth, mr = variant.MaxRows, paddedK = variant.PaddedK(w.K), panelBytes = w.PanelBytes;
            int rowStart = rowTask * RowBlock, rowEnd = Math.Min(m, rowStart + RowBlock);
            int panelStart = panelTask * panelsPerTask, panelEnd = Math.Min(w.PanelCount, panelStart + panelsPerTask);
            int* tile = stackalloc int[mr * nr];
            byte* a = (byte*)activations;
            fixed (byte* weights = w.Data)
            fixed (int* init = columnTerms)
            {
                for (int p = panelStart; p < panelEnd; p++)
                {
                    int n0 = p * nr, columns = Math.Min(nr, w.N - n0);
                    for (int r0 = rowStart; r0 < rowEnd; r0 += mr)
                    {
                        int rows = Math.Min(mr, rowEnd - r0);
                        byte* rowsOfA = a + (long)r0 * rowBytes, panel = weights + (long)p * panelBytes;
                        if (rowTerms is null && epilogue.Kind == Int8OutputKind.Int32 && columns == nr)
                        {
                            // Raw accumulators, whose start values hold every correction, straight into the output.
                            Kernel(rows, rowsOfA, panel, paddedK, (int*)output + (long)r0 * ldc + n0, ldc, init + n0);
                            continue;
                        }

                        Kernel(rows, rowsOfA, panel, paddedK, tile, nr, init + n0);
                        if (rowTerms is null && epilogue.Kind is Int8OutputKind.UInt8 or Int8OutputKind.Int8)
                        {
                            Int8GemmOutput.RequantizeTile(tile, nr, rows, columns, epilogue, epilogueOffset + n0, (byte*)output + (long)r0 * ldc + n0, ldc);
                            continue;
                        }

                        for (int r = 0; r < rows; r++)
                        {
                            var acc = new Span<int>(tile + r * nr, columns);
                            if (rowTerms is not null && rowTerms[r0 + r] != 0)
                                Int8GemmOutput.Correct(acc, rowTerms[r0 + r], w.ZeroPoints.AsSpan(n0, columns));
                            Int8GemmOutput.Write(acc, epilogue, epilogueOffset + n0, output, (long)(r0 + r) * ldc + n0);
                        }
                    }
                }
            }
        }

        private unsafe void Kernel(int rows, byte* a, byte* panel, int paddedK, int* tile, int tileStride, int* init)
        {
            if (unpacked)
                variant.KernelOnRows(rows, a, rowBytes, panel, paddedK, tile, tileStride, init);
            else
                variant.Kernel(rows, a, rowBytes, panel, paddedK, tile, tileStride, init);
        }
    }
}
