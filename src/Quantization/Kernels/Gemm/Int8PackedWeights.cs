namespace Quantization.Kernels.Gemm;

/// <summary>
/// s8 weights (K×N) packed once, at convert or import time, into the layout of the variant that packed them,
/// with the per-column sums and zero points the zero-point corrections need. The variant is chosen here and
/// kept: every multiply with these weights uses it.
/// </summary>
internal sealed class Int8PackedWeights
{
    internal Int8PackedWeights(Int8GemmVariant variant, int k, int n, byte[] data, int[] columnSums, int[] zeroPoints)
    {
        Variant = variant;
        K = k;
        N = n;
        Data = data;
        ColumnSums = columnSums;
        ZeroPoints = zeroPoints;
        HasZeroPoints = Array.Exists(zeroPoints, z => z != 0);
    }

    /// <summary>The variant whose micro-kernel reads <see cref="Data"/>.</summary>
    public Int8GemmVariant Variant { get; }

    /// <summary>The inner dimension.</summary>
    public int K { get; }

    /// <summary>The number of output columns.</summary>
    public int N { get; }

    /// <summary>Panels of <see cref="Int8GemmVariant.PanelWidth"/> columns, in the variant's layout, zero padded.</summary>
    public byte[] Data { get; }

    /// <summary><c>Σ_k W[k, n]</c> per column.</summary>
    public int[] ColumnSums { get; }

    /// <summary>The weight zero point of every column (all zero for symmetric weights).</summary>
    public int[] ZeroPoints { get; }

    /// <summary>True when some weight zero point is not zero, so the activations' row sums are needed.</summary>
    public bool HasZeroPoints { get; }

    /// <summary>The number of column panels.</summary>
    public int PanelCount => (N + Variant.PanelWidth - 1) / Variant.PanelWidth;

    /// <summary>Bytes in one packed panel.</summary>
    public int PanelBytes => Variant.PanelBytes(K);
}
