using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Quantization.Kernels.Gemm;

/// <summary>
/// AVX-512F: micro-kernel 8×32, 16 accumulators of 16 floats; per k two 64-byte loads of the panel and, per row, one
/// broadcast and two fused multiply-adds. On AVX-512 hardware the JIT allocates all 32 vector registers.
/// </summary>
internal sealed class Fp32GemmAvx512 : Fp32GemmVariant
{
    public static Fp32GemmAvx512 Instance { get; } = new();

    public override string Name => "Avx512";

    public override bool IsSupported => Avx512F.IsSupported;

    public override int PanelWidth => 32;

    public override int MaxRows => 8;

    public override unsafe void Kernel(int rows, float* a, int lda, float* panel, int k, float* tile)
    {
        switch (rows)
        {
            case 1: Kernel<Rows1>(a, lda, panel, k, tile); break;
            case 2: Kernel<Rows2>(a, lda, panel, k, tile); break;
            case 3: Kernel<Rows3>(a, lda, panel, k, tile); break;
            case 4: Kernel<Rows4>(a, lda, panel, k, tile); break;
            case 5: Kernel<Rows5>(a, lda, panel, k, tile); break;
            case 6: Kernel<Rows6>(a, lda, panel, k, tile); break;
            case 7: Kernel<Rows7>(a, lda, panel, k, tile); break;
            default: Kernel<Rows8>(a, lda, panel, k, tile); break;
        }
    }

    private static unsafe void Kernel<TRows>(float* a, int lda, float* panel, int k, float* tile)
        where TRows : struct, IRowCount
    {
        Vector512<float> c00 = default, c01 = default;
        Vector512<float> c10 = default, c11 = default;
        Vector512<float> c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default;
        Vector512<float> c50 = default, c51 = default;
        Vector512<float> c60 = default, c61 = default;
        Vector512<float> c70 = default, c71 = default;
        for (int p = 0; p < k; p++)
        {
            float* b = panel + p * 32;
            var b0 = Avx512F.LoadVector512(b);
            var b1 = Avx512F.LoadVector512(b + 16);

            {
                var x = Vector512.Create(a[p]);
                c00 = Avx512F.FusedMultiplyAdd(x, b0, c00);
                c01 = Avx512F.FusedMultiplyAdd(x, b1, c01);
            }

            if (TRows.Value > 1)
            {
                var x = Vector512.Create(a[lda + p]);
                c10 = Avx512F.FusedMultiplyAdd(x, b0, c10);
                c11 = Avx512F.FusedMultiplyAdd(x, b1, c11);
            }

            if (TRows.Value > 2)
            {
                var x = Vector512.Create(a[2 * lda + p]);
                c20 = Avx512F.FusedMultiplyAdd(x, b0, c20);
                c21 = Avx512F.FusedMultiplyAdd(x, b1, c21);
            }

            if (TRows.Value > 3)
            {
                var x = Vector512.Create(a[3 * lda + p]);
                c30 = Avx512F.FusedMultiplyAdd(x, b0, c30);
                c31 = Avx512F.FusedMultiplyAdd(x, b1, c31);
            }

            if (TRows.Value > 4)
            {
                var x = Vector512.Create(a[4 * lda + p]);
                c40 = Avx512F.FusedMultiplyAdd(x, b0, c40);
                c41 = Avx512F.FusedMultiplyAdd(x, b1, c41);
            }

            if (TRows.Value > 5)
            {
                var x = Vector512.Create(a[5 * lda + p]);
                c50 = Avx512F.FusedMultiplyAdd(x, b0, c50);
                c51 = Avx512F.FusedMultiplyAdd(x, b1, c51);
            }

            if (TRows.Value > 6)
            {
                var x = Vector512.Create(a[6 * lda + p]);
                c60 = Avx512F.FusedMultiplyAdd(x, b0, c60);
                c61 = Avx512F.FusedMultiplyAdd(x, b1, c61);
            }

            if (TRows.Value > 7)
            {
                var x = Vector512.Create(a[7 * lda + p]);
                c70 = Avx512F.FusedMultiplyAdd(x, b0, c70);
                c71 = Avx512F.FusedMultiplyAdd(x, b1, c71);
            }
        }

        Avx512F.Store(tile + 0, c00); Avx512F.Store(tile + 16, c01);
        if (TRows.Value > 1) { Avx512F.Store(tile + 32, c10); Avx512F.Store(tile + 48, c11); }
        if (TRows.Value > 2) { Avx512F.Store(tile + 64, c20); Avx512F.Store(tile + 80, c21); }
        if (TRows.Value > 3) { Avx512F.Store(tile + 96, c30); Avx512F.Store(tile + 112, c31); }
        if (TRows.Value > 4) { Avx512F.Store(tile + 128, c40); Avx512F.Store(tile + 144, c41); }
        if (TRows.Value > 5) { Avx512F.Store(tile + 160, c50); Avx512F.Store(tile + 176, c51); }
        if (TRows.Value > 6) { Avx512F.Store(tile + 192, c60); Avx512F.Store(tile + 208, c61); }
        if (TRows.Value > 7) { Avx512F.Store(tile + 224, c70); Avx512F.Store(tile + 240, c71); }
    }
}
