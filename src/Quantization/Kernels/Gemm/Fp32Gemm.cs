using System.Buffers;
using System.Diagnostics;
using System.Numerics;
using System.Runtime.InteropServices;
using Quantization.Kernels.Threading;

namespace Quantization.Kernels.Gemm;

/// <summary>The activation fused into the FP32 GEMM's output.</summary>
internal enum Fp32Activation
{
    None,
    Relu,
    Clamp,
}

/// <summary>B (K×N) packed once into a variant's panels.</summary>
internal sealed class Fp32PackedB(Fp32GemmVariant variant, int k, int n, float[] data)
{
    public Fp32GemmVariant Variant { get; } = variant;

    public int K { get; } = k;

    public int N { get; } = n;

    public float[] Data { get; } = data;

    public int PanelCount => (N + Variant.PanelWidth - 1) / Variant.PanelWidth;

    public int PanelLength => K * Variant.PanelWidth;
}

/// <summary>
/// The FP32 GEMM: <c>C = act(A × B + bias)</c>, B packed once into panels that the register-blocked micro-kernel of
/// the chosen variant streams while A is broadcast element by element. The honest baseline for every INT8 speedup.
/// </summary>
/// <remarks>
/// Tasks are (a block of <see cref="RowBlock"/> rows × a run of panels); inside a task each panel stays in cache while it
/// meets every row tile. Each output element is one dot product summed in k order by one variant, so the result
/// does not depend on the thread count.
/// </remarks>
internal static class Fp32Gemm
{
    internal const int RowBlock = 96;
    private const int PanelsPerTask = 2;

    /// <summary>The variants, best first; <c>QUANTIZATION_FP32_GEMM</c> forces one by name.</summary>
    public static KernelRegistry<Fp32GemmVariant> Registry { get; } = new("QUANTIZATION_FP32_GEMM",
        Fp32GemmAvx512.Instance, Fp32GemmAvx2.Instance, Fp32GemmAdvSimd.Instance, Fp32GemmScalar.Instance);

    /// <summary>Packs B (K×N row-major, or N×K row-major — PyTorch's Linear weight — when <paramref name="transposed"/>).</summary>
    public static Fp32PackedB Pack(ReadOnlySpan<float> b, int k, int n, bool transposed, Fp32GemmVariant? variant = null)
    {
        variant ??= Registry.Best;
        Debug.Assert(variant.IsSupported && k > 0 && n > 0);
        if (b.Length < (long)k * n)
            throw new ArgumentException($"B holds {b.Length} values; K×N = {k}×{n} needs {(long)k * n}.", nameof(b));
        int panels = (n + variant.PanelWidth - 1) / variant.PanelWidth, length = k * variant.PanelWidth;
        var data = new float[(long)panels * length];
        for (int p = 0; p < panels; p++)
            variant.PackPanel(b, k, n, transposed, p * variant.PanelWidth, data.AsSpan(p * length, length));
        return new Fp32PackedB(variant, k, n, data);
    }

    /// <summary>
    /// <c>C[m, n] = act(Σ_k A[m, k] B[k, n] + bias[n])</c>; A is M×K with row stride <paramref name="lda"/>, C is M×N
    /// with row stride <paramref name="ldc"/>; <paramref name="bias"/> is empty or has N entries; the clamp bounds
    /// apply to <see cref="Fp32Activation.Clamp"/>.
    /// </summary>
    public static unsafe void Multiply(ReadOnlySpan<float> a, int m, int lda, Fp32PackedB b, ReadOnlySpan<float> bias, Span<float> c, int ldc,
        Fp32Activation activation = Fp32Activation.None, float clampMin = float.NegativeInfinity, float clampMax = float.PositiveInfinity, int maxThreads = 0)
    {
        int k = b.K, n = b.N;
        if (m <= 0)
            return;
        if (lda < k || a.Length < (long)(m - 1) * lda + k)
            throw new ArgumentException($"A holds {a.Length} values; M = {m} rows of K = {k} with stride {lda} need {(long)(m - 1) * lda + k}.", nameof(a));
        if (ldc < n || c.Length < (long)(m - 1) * ldc + n)
            throw new ArgumentException($"C holds {c.Length} values; M×N = {m}×{n} with stride {ldc} needs {(long)(m - 1) * ldc + n}.", nameof(c));
        if (!bias.IsEmpty && bias.Length != n)
            throw new ArgumentException($"Expected {n} biases but got {bias.Length}.", nameof(bias));
        (float lo, float hi) = Bounds(activation, clampMin, clampMax);

        int panelTasks = (b.PanelCount + PanelsPerTask - 1) / PanelsPerTask, rowTasks = (m + RowBlock - 1) / RowBlock;
        fixed (float* pa = a)
        fixed (float* pc = c)
        fixed (float* pbias = bias)
        {
            var job = new Job(b, (nint)pa, lda, m, (nint)pbias, bias.IsEmpty ? 0 : n, (nint)pc, ldc, lo, hi, activation != Fp32Activation.None);
            KernelParallel.For(rowTasks * panelTasks, (long)m * n * k, t => job.Run(t / panelTasks, t % panelTasks), maxThreads);
        }
    }

    /// <summary>A × B for a B that is not constant (activations times activations): packs B into a pooled buffer, then multiplies.</summary>
    public static void MultiplyUnpacked(ReadOnlySpan<float> a, int m, int k, ReadOnlySpan<float> b, int n, Span<float> c, int maxThreads = 0, Fp32GemmVariant? variant = null)
    {
        variant ??= Registry.Best;
        int panels = (n + variant.PanelWidth - 1) / variant.PanelWidth, length = k * variant.PanelWidth;
        float[] buffer = ArrayPool<float>.Shared.Rent(panels * length);
        try
        {
            for (int p = 0; p < panels; p++)
                variant.PackPanel(b, k, n, transposed: false, p * variant.PanelWidth, buffer.AsSpan(p * length, length));
            Multiply(a, m, k, new Fp32PackedB(variant, k, n, buffer), default, c, n, maxThreads: maxThreads);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(buffer);
        }
    }

    /// <summary>The clamp bounds an activation stands for.</summary>
    internal static (float Lo, float Hi) Bounds(Fp32Activation activation, float clampMin, float clampMax) => activation switch
    {
        Fp32Activation.Relu => (0f, float.PositiveInfinity),
        Fp32Activation.Clamp => (clampMin, clampMax),
        _ => (float.NegativeInfinity, float.PositiveInfinity),
    };

    /// <summary><c>row[j] = clamp(row[j] + bias[j], lo, hi)</c>, vectorized; the same operations as the scalar tail.</summary>
    internal static void Epilogue(Span<float> row, ReadOnlySpan<float> bias, float lo, float hi, bool clamp)
    {
        int j = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var vlo = new Vector<float>(lo);
            var vhi = new Vector<float>(hi);
            ref float r = ref MemoryMarshal.GetReference(row);
            for (; j <= row.Length - Vector<float>.Count; j += Vector<float>.Count)
            {
                var y = Vector.LoadUnsafe(ref r, (nuint)j);
                if (!bias.IsEmpty)
                    y += Vector.LoadUnsafe(ref MemoryMarshal.GetReference(bias), (nuint)j);
                if (clamp)
                    y = Vector.Min(Vector.Max(y, vlo), vhi);
                y.StoreUnsafe(ref r, (nuint)j);
            }
        }

        for (; j < row.Length; j++)
        {
            float y = bias.IsEmpty ? row[j] : row[j] + bias[j];
            row[j] = clamp ? MathF.Min(MathF.Max(y, lo), hi) : y;
        }
    }

    private sealed class Job(Fp32PackedB b, nint a, int lda, int m, nint bias, int biasLength, nint c, int ldc, float lo, float hi, bool clamp)
    {
        public unsafe void Run(int rowTask, int panelTask)
        {
            var variant = b.Variant;
            int nr = variant.PanelWidth, mr = variant.MaxRows;
            int rowStart = rowTask * RowBlock, rowEnd = Math.Min(m, rowStart + RowBlock);
            int panelStart = panelTask * PanelsPerTask, panelEnd = Math.Min(b.PanelCount, panelStart + PanelsPerTask);
            float* tile = stackalloc float[mr * nr];
            var biasSpan = new ReadOnlySpan<float>((float*)bias, biasLength);
            fixed (float* packed = b.Data)
            {
                for (int p = panelStart; p < panelEnd; p++)
                {
                    int n0 = p * nr, columns = Math.Min(nr, b.N - n0);
                    for (int r0 = rowStart; r0 < rowEnd; r0 += mr)
                    {
                        int rows = Math.Min(mr, rowEnd - r0);
                        variant.Kernel(rows, (float*)a + (long)r0 * lda, lda, packed + (long)p * b.PanelLength, b.K, tile);
                        for (int r = 0; r < rows; r++)
                        {
                            var destination = new Span<float>((float*)c + (long)(r0 + r) * ldc + n0, columns);
                            new ReadOnlySpan<float>(tile + r * nr, columns).CopyTo(destination);
                            Epilogue(destination, biasLength == 0 ? default : biasSpan.Slice(n0, columns), lo, hi, clamp);
                        }
                    }
                }
            }
        }
    }
}
