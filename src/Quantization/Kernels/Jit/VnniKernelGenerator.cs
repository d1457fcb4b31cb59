namespace Quantization.Kernels.Jit;

/// <summary>
/// Generates 512-bit <c>vpdpbusd</c> GEMM micro-kernels: <c>void kernel(byte* a, byte* panel, int* tile)</c> computing
/// <c>tile[r * 32 + j] = Σ_k a[r * stride + k] (u8) × W[k, j] (s8)</c> for a fixed row count, activation stride and K.
/// Everything variable is baked in as immediates, so a kernel exists per (rows, stride, padded K): a layer uses one
/// or two.
/// </summary>
/// <remarks>
/// <para>Weight panel: the K4 s8 layout of <see cref="Gemm.Int8GemmVariant"/> with 32 columns: group g holds 128 bytes,
/// columns 0-15 in the first 64 and 16-31 in the next 64.</para>
/// <para>Registers, all caller-saved under both System V and Windows x64, so the kernel saves nothing: zmm16-31 hold
/// accumulators (row r, half h: two per row), zmm0/zmm1 the two weight vectors of a group, zmm2/zmm3 alternate as the
/// broadcast activation (so consecutive rows do not wait on one register). With one or two rows K is split over
/// four or two accumulator sets — eight dependency chains instead of two or four — and the sets are added at the
/// end, exactly (int32 addition wraps the same way in any order).</para>
/// </remarks>
internal static class VnniKernelGenerator
{
    public const int PanelWidth = 32;
    public const int MaxRows = 8;
    private const int GroupBytes = PanelWidth * 4;

    /// <summary>Machine code for one kernel shape.</summary>
    /// <param name="rows">Rows of A, 1..<see cref="MaxRows"/>.</param>
    /// <param name="stride">Bytes between packed activation rows.</param>
    /// <param name="paddedK">K rounded up to a multiple of 4.</param>
    /// <param name="windowsAbi">Windows x64 passes arguments in rcx, rdx, r8; System V in rdi, rsi, rdx.</param>
    public static byte[] Generate(int rows, int stride, int paddedK, bool windowsAbi)
    {
        if (rows is < 1 or > MaxRows || paddedK <= 0 || paddedK % 4 != 0 || stride < paddedK)
            throw new ArgumentOutOfRangeException(nameof(rows), $"No kernel for {rows} rows, stride {stride}, K {paddedK}.");
        var (a, panel, tile, counter) = windowsAbi ? (Gpr.Rcx, Gpr.Rdx, Gpr.R8, Gpr.R9) : (Gpr.Rdi, Gpr.Rsi, Gpr.Rdx, Gpr.Rcx);
        int splits = rows == 1 ? 4 : rows == 2 ? 2 : 1;
        int groups = paddedK / 4, iterations = groups / splits, remainder = groups % splits;

        var asm = new X64Assembler();
        for (int q = 0; q < splits; q++)
        {
            for (int r = 0; r < rows; r++)
            {
                asm.Vpxord(Accumulator(q, r, 0, rows), Accumulator(q, r, 0, rows), Accumulator(q, r, 0, rows));
                asm.Vpxord(Accumulator(q, r, 1, rows), Accumulator(q, r, 1, rows), Accumulator(q, r, 1, rows));
            }
        }

        if (iterations > 0)
        {
            asm.MoveImmediate(counter, iterations);
            int top = asm.Position;
            for (int q = 0; q < splits; q++)
                EmitGroup(asm, a, panel, q, q, rows, stride);
            asm.AddImmediate(a, 4 * splits);
            asm.AddImmediate(panel, GroupBytes * splits);
            asm.Decrement(counter);
            asm.JumpIfNotZero(top);
        }

        // Leftover groups when K/4 is not a multiple of the split, each into its own accumulator set.
        for (int q = 0; q < remainder; q++)
            EmitGroup(asm, a, panel, q, q, rows, stride);

        for (int q = 1; q < splits; q++)
        {
            for (int r = 0; r < rows; r++)
            {
                asm.Vpaddd(Accumulator(0, r, 0, rows), Accumulator(0, r, 0, rows), Accumulator(q, r, 0, rows));
                asm.Vpaddd(Accumulator(0, r, 1, rows), Accumulator(0, r, 1, rows), Accumulator(q, r, 1, rows));
            }
        }

        for (int r = 0; r < rows; r++)
        {
            asm.Vmovdqu32Store(tile, r * PanelWidth * 4, Accumulator(0, r, 0, rows));
            asm.Vmovdqu32Store(tile, r * PanelWidth * 4 + 64, Accumulator(0, r, 1, rows));
        }

        asm.Vzeroupper();
        asm.Ret();
        return asm.ToArray();
    }

    /// <summary>One K group (offset <paramref name="group"/> from the current pointers) into accumulator set <paramref name="set"/>.</summary>
    private static void EmitGroup(X64Assembler asm, Gpr a, Gpr panel, int group, int set, int rows, int stride)
    {
        asm.Vmovdqu32Load(0, panel, group * GroupBytes);
        asm.Vmovdqu32Load(1, panel, group * GroupBytes + 64);
        for (int r = 0; r < rows; r++)
        {
            int broadcast = 2 + ((set * rows + r) & 1);
            asm.VpbroadcastdLoad(broadcast, a, r * stride + group * 4);
            asm.Vpdpbusd(Accumulator(set, r, 0, rows), broadcast, 0);
            asm.Vpdpbusd(Accumulator(set, r, 1, rows), broadcast, 1);
        }
    }

    private static int Accumulator(int set, int row, int half, int rows) => 16 + ((set * rows + row) * 2) + half;
}
