using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace Quantization.Kernels.Gemm;

/// <summary>
/// ARM AdvSimd: micro-kernel 4×16, 16 accumulators of 4 floats, fused multiply-adds (<c>FMLA</c>).
/// </summary>
internal sealed class Fp32GemmAdvSimd : Fp32GemmVariant
{
    public static Fp32GemmAdvSimd Instance { get; } = new();

    public override string Name => "AdvSimd";

    public override bool IsSupported => AdvSimd.Arm64.IsSupported;

    public override int PanelWidth => 16;

    public override int MaxRows => 4;

    public override unsafe void Kernel(int rows, float* a, int lda, float* panel, int k, float* tile)
    {
        switch (rows)
        {
            case 1: Kernel<Rows1>(a, lda, panel, k, tile); break;
            case 2: Kernel<Rows2>(a, lda, panel, k, tile); break;
            case 3: Kernel<Rows3>(a, lda, panel, k, tile); break;
            default: Kernel<Rows4>(a, lda, panel, k, tile); break;
        }
    }

    private static unsafe void Kernel<TRows>(float* a, int lda, float* panel, int k, float* tile)
        where TRows : struct, IRowCount
    {
        Vector128<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector128<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector128<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector128<float> c30 = default, c31 = default, c32 = default, c33 = default;
        for (int p = 0; p < k; p++)
        {
            float* b = panel + p * 16;
            var b0 = AdvSimd.LoadVector128(b);
            var b1 = AdvSimd.LoadVector128(b + 4);
            var b2 = AdvSimd.LoadVector128(b + 8);
            var b3 = AdvSimd.LoadVector128(b + 12);

            {
                var x = Vector128.Create(a[p]);
                c00 = AdvSimd.FusedMultiplyAdd(c00, x, b0);
                c01 = AdvSimd.FusedMultiplyAdd(c01, x, b1);
                c02 = AdvSimd.FusedMultiplyAdd(c02, x, b2);
                c03 = AdvSimd.FusedMultiplyAdd(c03, x, b3);
            }

            if (TRows.Value > 1)
            {
                var x = Vector128.Create(a[lda + p]);
                c10 = AdvSimd.FusedMultiplyAdd(c10, x, b0);
                c11 = AdvSimd.FusedMultiplyAdd(c11, x, b1);
                c12 = AdvSimd.FusedMultiplyAdd(c12, x, b2);
                c13 = AdvSimd.FusedMultiplyAdd(c13, x, b3);
            }

            if (TRows.Value > 2)
            {
                var x = Vector128.Create(a[2 * lda + p]);
                c20 = AdvSimd.FusedMultiplyAdd(c20, x, b0);
                c21 = AdvSimd.FusedMultiplyAdd(c21, x, b1);
                c22 = AdvSimd.FusedMultiplyAdd(c22, x, b2);
                c23 = AdvSimd.FusedMultiplyAdd(c23, x, b3);
            }

            if (TRows.Value > 3)
            {
                var x = Vector128.Create(a[3 * lda + p]);
                c30 = AdvSimd.FusedMultiplyAdd(c30, x, b0);
                c31 = AdvSimd.FusedMultiplyAdd(c31, x, b1);
                c32 = AdvSimd.FusedMultiplyAdd(c32, x, b2);
                c33 = AdvSimd.FusedMultiplyAdd(c33, x, b3);
            }
        }

        AdvSimd.Store(tile + 0, c00); AdvSimd.Store(tile + 4, c01); AdvSimd.Store(tile + 8, c02); AdvSimd.Store(tile + 12, c03);
        if (TRows.Value > 1) { AdvSimd.Store(tile + 16, c10); AdvSimd.Store(tile + 20, c11); AdvSimd.Store(tile + 24, c12); AdvSimd.Store(tile + 28, c13); }
        if (TRows.Value > 2) { AdvSimd.Store(tile + 32, c20); AdvSimd.Store(tile + 36, c21); AdvSimd.Store(tile + 40, c22); AdvSimd.Store(tile + 44, c23); }
        if (TRows.Value > 3) { AdvSimd.Store(tile + 48, c30); AdvSimd.Store(tile + 52, c31); AdvSimd.Store(tile + 56, c32); AdvSimd.Store(tile + 60, c33); }
    }
}
