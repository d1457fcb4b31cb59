using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Quantization.Kernels.Gemm;

/// <summary>
/// AVX2 with FMA: micro-kernel 6×16, 12 accumulators of 8 floats (15 of the 16 registers with the two panel vectors
/// and the broadcast).
/// </summary>
internal sealed class Fp32GemmAvx2 : Fp32GemmVariant
{
    public static Fp32GemmAvx2 Instance { get; } = new();

    public override string Name => "Avx2";

    public override bool IsSupported => Fma.IsSupported && Avx2.IsSupported;

    public override int PanelWidth => 16;

    public override int MaxRows => 6;

    public override unsafe void Kernel(int rows, float* a, int lda, float* panel, int k, float* tile)
    {
        switch (rows)
        {
            case 1: Kernel<Rows1>(a, lda, panel, k, tile); break;
            case 2: Kernel<Rows2>(a, lda, panel, k, tile); break;
            case 3: Kernel<Rows3>(a, lda, panel, k, tile); break;
            case 4: Kernel<Rows4>(a, lda, panel, k, tile); break;
            case 5: Kernel<Rows5>(a, lda, panel, k, tile); break;
            default: Kernel<Rows6>(a, lda, panel, k, tile); break;
        }
    }

    private static unsafe void Kernel<TRows>(float* a, int lda, float* panel, int k, float* tile)
        where TRows : struct, IRowCount
    {
        Vector256<float> c00 = default, c01 = default;
        Vector256<float> c10 = default, c11 = default;
        Vector256<float> c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default;
        Vector256<float> c40 = default, c41 = default;
        Vector256<float> c50 = default, c51 = default;
        for (int p = 0; p < k; p++)
        {
            float* b = panel + p * 16;
            var b0 = Avx.LoadVector256(b);
            var b1 = Avx.LoadVector256(b + 8);

            {
                var x = Vector256.Create(a[p]);
                c00 = Fma.MultiplyAdd(x, b0, c00);
                c01 = Fma.MultiplyAdd(x, b1, c01);
            }

            if (TRows.Value > 1)
            {
                var x = Vector256.Create(a[lda + p]);
                c10 = Fma.MultiplyAdd(x, b0, c10);
                c11 = Fma.MultiplyAdd(x, b1, c11);
            }

            if (TRows.Value > 2)
            {
                var x = Vector256.Create(a[2 * lda + p]);
                c20 = Fma.MultiplyAdd(x, b0, c20);
                c21 = Fma.MultiplyAdd(x, b1, c21);
            }

            if (TRows.Value > 3)
            {
                var x = Vector256.Create(a[3 * lda + p]);
                c30 = Fma.MultiplyAdd(x, b0, c30);
                c31 = Fma.MultiplyAdd(x, b1, c31);
            }

            if (TRows.Value > 4)
            {
                var x = Vector256.Create(a[4 * lda + p]);
                c40 = Fma.MultiplyAdd(x, b0, c40);
                c41 = Fma.MultiplyAdd(x, b1, c41);
            }

            if (TRows.Value > 5)
            {
                var x = Vector256.Create(a[5 * lda + p]);
                c50 = Fma.MultiplyAdd(x, b0, c50);
                c51 = Fma.MultiplyAdd(x, b1, c51);
            }
        }

        Avx.Store(tile + 0, c00); Avx.Store(tile + 8, c01);
        if (TRows.Value > 1) { Avx.Store(tile + 16, c10); Avx.Store(tile + 24, c11); }
        if (TRows.Value > 2) { Avx.Store(tile + 32, c20); Avx.Store(tile + 40, c21); }
        if (TRows.Value > 3) { Avx.Store(tile + 48, c30); Avx.Store(tile + 56, c31); }
        if (TRows.Value > 4) { Avx.Store(tile + 64, c40); Avx.Store(tile + 72, c41); }
        if (TRows.Value > 5) { Avx.Store(tile + 80, c50); Avx.Store(tile + 88, c51); }
    }
}
