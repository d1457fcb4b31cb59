namespace Quantization.Kernels.Jit;

/// <summary>
/// Generates 512-bit <c>vpdpbusd</c> GEMM micro-kernels: <c>void kernel(byte* a, byte* panel, int* tile, int* init)</c>
/// computing <c>tile[r * S + j] = init[j] + Σ_k A[r, k] (u8) × W[k, j] (s8)</c> for a fixed row count, K and tile row
/// stride S, over the 16, 32 or 64 columns (one, two or four vectors) of one panel. Everything variable is baked in as
/// immediates, so a kernel exists per (vectors, rows, padded K, stride): a layer uses a few.
/// </summary>
/// <remarks>
/// <para>Weight panel: the K4 s8 layout of <see cref="Gemm.Int8GemmVariant"/> with 16 columns per vector: group g
/// holds one 64-byte vector per 16 columns.</para>
/// <para>Activations: a tile of <c>rows</c> rows interleaved by K group — group g of row r is the 4 bytes at
/// <c>(g * rows + r) * 4</c> — so the kernel reads one sequential stream and every broadcast fits a one-byte
/// displacement; or A's rows where they are, a fixed stride apart (each broadcast then carries its row's offset as a
/// four-byte displacement), which saves packing: a third of a 96→24 3×3 convolution's time at 160×160.</para>
/// <para>Registers, all caller-saved under both System V and Windows x64, so the kernel saves nothing: the top ones
/// hold the accumulators (row r, vector v), zmm0.. the weight vectors of a group, and the rest take turns as the
/// broadcast activation so consecutive rows do not wait on one register. The loop runs four groups per iteration.
/// When rows × vectors is under 12 K is split over two or four accumulator sets, so at least eight dependency chains
/// hide the instruction's latency, and the sets are added at the end, exactly (int32 addition wraps the same way in
/// any order).</para>
/// </remarks>
internal static class VnniKernelGenerator
{
    /// <summary>The most weight vectors (16 columns each) per group.</summary>
    public const int MaxVectors = 4;

    /// <summary>The widest panel's columns.</summary>
    public const int PanelWidth = MaxVectors * 16;

    /// <summary>
    /// Rows per kernel, whatever the width: with four vectors the accumulators, weight vectors and two broadcast
    /// registers fill the 32 zmm registers; narrower kernels keep the same activation tiles.
    /// </summary>
    public const int MaxRows = (32 - MaxVectors - 2) / MaxVectors;

    private const int Unroll = 4;

    /// <summary>How far ahead of its loads a one-row kernel prefetches weights, in bytes (tuned on Zen 5).</summary>
    private const int PrefetchDistance = 8192;

    /// <summary>Machine code for one kernel shape.</summary>
    /// <param name="rows">Rows of A, 1..<see cref="MaxRows"/>.</param>
    /// <param name="paddedK">K rounded up to a multiple of 4.</param>
    /// <param name="tileStride">Ints from one tile row to the next, at least the panel's width.</param>
    /// <param name="windowsAbi">Windows x64 passes arguments in rcx, rdx, r8, r9; System V in rdi, rsi, rdx, rcx.</param>
    /// <param name="vectors">Weight vectors per group, 1, 2 or 4: panels of 16, 32 or 64 columns.</param>
    /// <param name="rowStride">
    /// 0: A is a packed tile (see remarks); otherwise A's rows as they are, this many bytes apart (at least
    /// <paramref name="paddedK"/>), each broadcast addressed by its row's displacement, so A needs no packing.
    /// </param>
    public static byte[] Generate(int rows, int paddedK, int tileStride, bool windowsAbi, int vectors = MaxVectors, int rowStride = 0)
    {
        if (vectors is not (1 or 2 or 4) || rows is < 1 or > MaxRows || paddedK <= 0 || paddedK % 4 != 0 || tileStride < vectors * 16 || tileStride > int.MaxValue / 4 / MaxRows
            || rowStride != 0 && (rowStride < paddedK || (long)(MaxRows - 1) * rowStride + paddedK > int.MaxValue))
            throw new ArgumentOutOfRangeException(nameof(rows), $"No kernel for {vectors} vectors, {rows} rows, K {paddedK}, tile stride {tileStride} and row stride {rowStride}.");
        var (a, panel, tile, init) = windowsAbi ? (Gpr.Rcx, Gpr.Rdx, Gpr.R8, Gpr.R9) : (Gpr.Rdi, Gpr.Rsi, Gpr.Rdx, Gpr.Rcx);
        const Gpr Counter = Gpr.Rax;
        int chains = rows * vectors, splits = chains >= 12 ? 1 : chains >= 6 ? 2 : 4;
        var layout = new Layout(rows, splits, vectors, rowStride);
        int groupBytes = vectors * 64;
        int groups = paddedK / 4, iterations = groups / Unroll, remainder = groups % Unroll;

        var asm = new X64Assembler();
        for (int r = 0; r < rows; r++)
        {
            for (int v = 0; v < vectors; v++)
                asm.Vmovdqu32Load(layout.Accumulator(0, r, v), init, v * 64);
        }

        for (int q = 1; q < splits; q++)
        {
            for (int r = 0; r < rows; r++)
            {
                for (int v = 0; v < vectors; v++)
                    asm.Vpxord(layout.Accumulator(q, r, v), layout.Accumulator(q, r, v), layout.Accumulator(q, r, v));
            }
        }

        if (iterations > 0)
        {
            asm.MoveImmediate(Counter, iterations);
            int top = asm.Position;
            for (int g = 0; g < Unroll; g++)
                EmitGroup(asm, layout, a, panel, g, g % splits);
            if (rows == 1)
            {
                // One row streams its panel from memory (a matrix-vector product): fetch ahead of the loads.
                for (int line = 0; line < Unroll * groupBytes; line += 64)
                    asm.PrefetchT0(panel, PrefetchDistance + line);
            }
            asm.AddImmediate(a, Unroll * (rowStride == 0 ? rows : 1) * 4);
            asm.AddImmediate(panel, Unroll * groupBytes);
            asm.Decrement(Counter);
            asm.JumpIfNotZero(top);
        }

        for (int g = 0; g < remainder; g++)
            EmitGroup(asm, layout, a, panel, g, g % splits);

        for (int q = 1; q < splits; q++)
        {
            for (int r = 0; r < rows; r++)
            {
                for (int v = 0; v < vectors; v++)
                    asm.Vpaddd(layout.Accumulator(0, r, v), layout.Accumulator(0, r, v), layout.Accumulator(q, r, v));
            }
        }

        for (int r = 0; r < rows; r++)
        {
            for (int v = 0; v < vectors; v++)
                asm.Vmovdqu32Store(tile, (r * tileStride + v * 16) * 4, layout.Accumulator(0, r, v));
        }

        asm.Vzeroupper();
        asm.Ret();
        return asm.ToArray();
    }

    /// <summary>Group <paramref name="group"/> (counted from the current pointers) into accumulator set <paramref name="set"/>.</summary>
    private static void EmitGroup(X64Assembler asm, Layout layout, Gpr a, Gpr panel, int group, int set)
    {
        for (int v = 0; v < layout.Vectors; v++)
            asm.Vmovdqu32Load(v, panel, (group * layout.Vectors + v) * 64);
        for (int r = 0; r < layout.Rows; r++)
        {
            int broadcast = layout.Broadcast(group * layout.Rows + r);
            asm.VpbroadcastdLoad(broadcast, a, layout.ActivationOffset(group, r));
            for (int v = 0; v < layout.Vectors; v++)
                asm.Vpdpbusd(layout.Accumulator(set, r, v), broadcast, v);
        }
    }

    /// <summary>Register assignment: weights in zmm0.., accumulators from zmm31 down, broadcasts in between; where A's groups are.</summary>
    private readonly record struct Layout(int Rows, int Splits, int Vectors, int RowStride)
    {
        /// <summary>The bytes from the current A pointer to group <paramref name="group"/> of row <paramref name="row"/>.</summary>
        public int ActivationOffset(int group, int row) => RowStride == 0 ? (group * Rows + row) * 4 : row * RowStride + group * 4;

        private int AccumulatorCount => Splits * Rows * Vectors;

        private int BroadcastCount => 32 - Vectors - AccumulatorCount;

        public int Accumulator(int set, int row, int vector) => 31 - (((set * Rows) + row) * Vectors + vector);

        public int Broadcast(int index) => Vectors + index % BroadcastCount;
    }
}
