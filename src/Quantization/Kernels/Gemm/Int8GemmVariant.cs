using System.Runtime.InteropServices;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace Quantization.Kernels.Gemm;

/// <summary>
/// One instruction-set variant of the INT8 GEMM: its packed layouts and its micro-kernel, one unit.
/// </summary>
/// <remarks>
/// <para>Weight layout: panels of <see cref="PanelWidth"/> (NR) columns. Within a panel, K is split into groups of
/// <see cref="KStep"/> consecutive rows; group <c>g</c> stores, for each column <c>j</c>, its KStep weights
/// <c>W[g*KStep + t, n0 + j]</c>, as s8 or widened to s16 (<see cref="WeightElementSize"/>). Element index:
/// <c>(g * NR + j) * KStep + t</c>. K and N are zero padded; zero weights add nothing.</para>
/// <para>Activation layout: each row of A copied with K padded to a multiple of KStep, as u8 or widened to s16
/// (<see cref="ActivationElementSize"/>), minus <see cref="ActivationOffset"/> (128 for kernels whose dot product
/// is signed × signed); a variant may interleave the rows of each <see cref="MaxRows"/> tile instead
/// (<see cref="PackActivations"/>). Where <see cref="ReadsRows"/>, nothing is packed: <see cref="KernelOnRows"/>
/// reads A's rows where they are. The micro-kernel returns <c>Σ_k (A[m, k] - offset) * W[k, n]</c> plus the start
/// values the driver passes (the column zero-point terms); the driver applies the row terms.</para>
/// </remarks>
internal abstract class Int8GemmVariant : IKernelVariant
{
    public abstract string Name { get; }

    public abstract bool IsSupported { get; }

    /// <summary>Columns per panel (NR).</summary>
    public abstract int PanelWidth { get; }

    /// <summary>Rows per micro-kernel call (MR).</summary>
    public abstract int MaxRows { get; }

    /// <summary>Consecutive K values one lane multiplies and adds at once (4 for dot-product instructions, 2 for pmaddwd).</summary>
    public abstract int KStep { get; }

    /// <summary>1 for s8 weights in the panel, 2 for s16.</summary>
    public abstract int WeightElementSize { get; }

    /// <summary>1 for u8/s8 activations in the packed rows, 2 for s16.</summary>
    public abstract int ActivationElementSize { get; }

    /// <summary>Subtracted from every u8 activation while packing (0, or 128 to make it s8).</summary>
    public virtual int ActivationOffset => 0;

    /// <summary>The variant of the same kind to pack weights with <paramref name="n"/> columns for: this one, or one with narrower panels that pad N less.</summary>
    public virtual Int8GemmVariant ForColumns(int n) => this;

    public int PaddedK(int k) => (k + KStep - 1) / KStep * KStep;

    public int PanelBytes(int k) => PaddedK(k) * PanelWidth * WeightElementSize;

    /// <summary>Bytes of one packed activation row.</summary>
    public int ActivationRowBytes(int k) => PaddedK(k) * ActivationElementSize;

    /// <summary>
    /// Packs columns [<paramref name="n0"/>, n0 + NR) of <paramref name="w"/> (K×N row-major, or N×K when
    /// <paramref name="transposed"/>) into <paramref name="panel"/> (see the class remarks).
    /// </summary>
    public void PackPanel(ReadOnlySpan<sbyte> w, int k, int n, bool transposed, int n0, Span<byte> panel)
    {
        int nr = PanelWidth, step = KStep;
        int groups = PaddedK(k) / step;
        panel.Clear();
        for (int g = 0; g < groups; g++)
        {
            for (int j = 0; j < nr && n0 + j < n; j++)
            {
                for (int t = 0; t < step; t++)
                {
                    int row = g * step + t;
                    if (row >= k)
                        break;
                    sbyte value = transposed ? w[(n0 + j) * k + row] : w[row * n + n0 + j];
                    int index = (g * nr + j) * step + t;
                    if (WeightElementSize == 1)
                        panel[index] = (byte)value;
                    else
                        Unsafe.WriteUnaligned(ref panel[2 * index], (short)value);
                }
            }
        }
    }

    /// <summary>
    /// Packs one activation row: <c>(a ^ flip) - offset</c> per element, K padded with zeros. A flip of 0x80 turns
    /// s8 activations into u8 ones (the caller adds 128 to the zero point).
    /// </summary>
    public void PackActivationRow(ReadOnlySpan<byte> row, byte flip, Span<byte> destination)
    {
        int k = row.Length;
        // Offset 128 is a flip of the top bit too: (a ^ f) - 128 as s8 == (a ^ f ^ 0x80) as a byte.
        byte mask = (byte)(flip ^ (ActivationOffset == 128 ? 0x80 : 0));
        if (ActivationElementSize == 1)
        {
            Span<byte> body = destination[..k];
            if (mask == 0)
                row.CopyTo(body);
            else
                TensorPrimitives.Xor(row, mask, body);
            destination[k..ActivationRowBytes(k)].Clear();
            return;
        }

        Span<short> wide = MemoryMarshal.Cast<byte, short>(destination[..ActivationRowBytes(k)]);
        bool signedValues = ActivationOffset == 128;
        for (int p = 0; p < k; p++)
        {
            byte v = (byte)(row[p] ^ mask);
            wide[p] = signedValues ? (sbyte)v : v;
        }

        wide[k..].Clear();
    }

    /// <summary>
    /// Packs <paramref name="m"/> rows of A (row stride <paramref name="lda"/>) into <paramref name="packed"/>, which
    /// holds <c>m × ActivationRowBytes(k)</c> bytes: by default row after row (see <see cref="PackActivationRow"/>);
    /// a variant may lay out each tile of <see cref="MaxRows"/> rows differently within that tile's bytes.
    /// </summary>
    public virtual void PackActivations(ReadOnlySpan<byte> a, int m, int k, int lda, byte flip, Span<byte> packed)
    {
        int rowBytes = ActivationRowBytes(k);
        for (int i = 0; i < m; i++)
            PackActivationRow(a.Slice(i * lda, k), flip, packed.Slice(i * rowBytes, rowBytes));
    }

    /// <summary>
    /// Whether <see cref="KernelOnRows"/> can read A's rows where they are (stride <paramref name="lda"/>) for this
    /// K and flip, so the driver need not pack them: by default where packing would copy each row unchanged (bytes,
    /// no offset or flip, K whole steps).
    /// </summary>
    public virtual bool ReadsRows(int k, int lda, byte flip) => ActivationElementSize == 1 && ActivationOffset == 0 && flip == 0 && k % KStep == 0 && lda >= k;

    /// <summary>
    /// <see cref="Kernel(int, byte*, int, byte*, int, int*, int, int*)"/> on A's rows where they are, <paramref name="aStride"/>
    /// bytes apart, for shapes where <see cref="ReadsRows"/>: by default the same kernel, whose packed rows are the rows themselves.
    /// </summary>
    public virtual unsafe void KernelOnRows(int rows, byte* a, int aStride, byte* panel, int paddedK, int* tile, int tileStride, int* init) =>
        Kernel(rows, a, aStride, panel, paddedK, tile, tileStride, init);

    /// <summary>
    /// <see cref="Kernel(int, byte*, int, byte*, int, int*)"/> plus start values, into rows <paramref name="tileStride"/>
    /// ints apart: <c>tile[r * tileStride + j] = init[j] + Σ_k …</c>, wrapping. The driver passes the column zero-point
    /// terms as start values, which a variant may fold into its accumulators, and may pass the output itself as the tile.
    /// </summary>
    public virtual unsafe void Kernel(int rows, byte* a, int aStride, byte* panel, int paddedK, int* tile, int tileStride, int* init)
    {
        int nr = PanelWidth;
        int* scratch = stackalloc int[tileStride == nr ? 0 : MaxRows * nr];
        int* sums = tileStride == nr ? tile : scratch;
        Kernel(rows, a, aStride, panel, paddedK, sums);
        var start = new ReadOnlySpan<int>(init, nr);
        for (int r = 0; r < rows; r++)
            TensorPrimitives.Add(new ReadOnlySpan<int>(sums + r * nr, nr), start, new Span<int>(tile + (long)r * tileStride, nr));
    }

    /// <summary>
    /// Computes <c>tile[r * NR + j] = Σ_k a[r][k] * panel[k][j]</c> for <paramref name="rows"/> ≤ MR rows and all NR
    /// columns, over packed operands.
    /// </summary>
    /// <param name="rows">Rows to compute, 1..MR.</param>
    /// <param name="a">The first packed activation row.</param>
    /// <param name="aStride">Bytes from one packed activation row to the next.</param>
    /// <param name="panel">The packed weight panel.</param>
    /// <param name="paddedK">K rounded up to a multiple of <see cref="KStep"/>.</param>
    /// <param name="tile">MR × NR int32 results, row stride NR.</param>
    public abstract unsafe void Kernel(int rows, byte* a, int aStride, byte* panel, int paddedK, int* tile);
}
