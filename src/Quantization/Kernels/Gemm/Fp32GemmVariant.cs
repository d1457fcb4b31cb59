namespace Quantization.Kernels.Gemm;

/// <summary>
/// One instruction-set variant of the FP32 GEMM: its panel width and its micro-kernel.
/// </summary>
/// <remarks>
/// Packed B: panels of <see cref="PanelWidth"/> (NR) columns; panel p holds, for k = 0..K-1, the NR values
/// <c>B[k, p * NR + j]</c> contiguously (zero padded past N), so the micro-kernel reads one or two whole vectors per k.
/// A is read in place (row-major, any leading dimension): one broadcast per row and k.
/// </remarks>
internal abstract class Fp32GemmVariant : IKernelVariant
{
    public abstract string Name { get; }

    public abstract bool IsSupported { get; }

    /// <summary>Columns per panel (NR).</summary>
    public abstract int PanelWidth { get; }

    /// <summary>Rows per micro-kernel call (MR).</summary>
    public abstract int MaxRows { get; }

    /// <summary>
    /// <c>tile[r * NR + j] = Σ_k a[r * lda + k] * panel[k * NR + j]</c> for <paramref name="rows"/> ≤ MR rows.
    /// </summary>
    public abstract unsafe void Kernel(int rows, float* a, int lda, float* panel, int k, float* tile);

    /// <summary>Packs columns [n0, n0 + NR) of B (K×N row-major, or N×K when <paramref name="transposed"/>).</summary>
    public void PackPanel(ReadOnlySpan<float> b, int k, int n, bool transposed, int n0, Span<float> panel)
    {
        int nr = PanelWidth;
        panel.Clear();
        for (int row = 0; row < k; row++)
        {
            for (int j = 0; j < nr && n0 + j < n; j++)
                panel[row * nr + j] = transposed ? b[(n0 + j) * k + row] : b[row * n + n0 + j];
        }
    }
}
