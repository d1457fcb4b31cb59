using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace Quantization.Kernels.Gemm;

/// <summary>
/// ARM with the dot-product extension: <c>SDOT</c> multiplies 4 s8 by 4 s8 per int32 lane and adds the four
/// products exactly. SDOT is signed × signed, so activations are packed as <c>a - 128</c> (a flip of the top bit)
/// and the driver adds back <c>128 × Σ_k W[k, n]</c>.
/// </summary>
/// <remarks>
/// Same K4 s8 weight layout as <see cref="Int8GemmAvxVnni"/>. Micro-kernel 4×16: 16 accumulators (4 rows × 4
/// vectors of 4 columns), 4 weight loads and per row one broadcast of 4 activation bytes per K group.
/// </remarks>
internal sealed class Int8GemmAdvSimdDp : Int8GemmVariant
{
    public static Int8GemmAdvSimdDp Instance { get; } = new();

    public override string Name => "AdvSimdDp";

    public override bool IsSupported => Dp.IsSupported && AdvSimd.Arm64.IsSupported;

    public override int PanelWidth => 16;

    public override int MaxRows => 4;

    public override int KStep => 4;

    public override int WeightElementSize => 1;

    public override int ActivationElementSize => 1;

    public override int ActivationOffset => 128;

    public override unsafe void Kernel(int rows, byte* a, int aStride, byte* panel, int paddedK, int* tile)
    {
        switch (rows)
        {
            case 1: Kernel<Rows1>(a, aStride, panel, paddedK, tile); break;
            case 2: Kernel<Rows2>(a, aStride, panel, paddedK, tile); break;
            case 3: Kernel<Rows3>(a, aStride, panel, paddedK, tile); break;
            default: Kernel<Rows4>(a, aStride, panel, paddedK, tile); break;
        }
    }

    private static unsafe void Kernel<TRows>(byte* a, int aStride, byte* panel, int paddedK, int* tile)
        where TRows : struct, IRowCount
    {
        Vector128<int> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector128<int> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector128<int> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector128<int> c30 = default, c31 = default, c32 = default, c33 = default;
        byte* end = a + paddedK;
        for (; a < end; a += 4, panel += 64)
        {
            var w0 = AdvSimd.LoadVector128((sbyte*)panel);
            var w1 = AdvSimd.LoadVector128((sbyte*)panel + 16);
            var w2 = AdvSimd.LoadVector128((sbyte*)panel + 32);
            var w3 = AdvSimd.LoadVector128((sbyte*)panel + 48);
            var b = Vector128.Create(Unsafe.ReadUnaligned<int>(a)).AsSByte();
            c00 = Dp.DotProduct(c00, w0, b);
            c01 = Dp.DotProduct(c01, w1, b);
            c02 = Dp.DotProduct(c02, w2, b);
            c03 = Dp.DotProduct(c03, w3, b);
            if (TRows.Value > 1)
            {
                b = Vector128.Create(Unsafe.ReadUnaligned<int>(a + aStride)).AsSByte();
                c10 = Dp.DotProduct(c10, w0, b);
                c11 = Dp.DotProduct(c11, w1, b);
                c12 = Dp.DotProduct(c12, w2, b);
                c13 = Dp.DotProduct(c13, w3, b);
            }

            if (TRows.Value > 2)
            {
                b = Vector128.Create(Unsafe.ReadUnaligned<int>(a + 2 * aStride)).AsSByte();
                c20 = Dp.DotProduct(c20, w0, b);
                c21 = Dp.DotProduct(c21, w1, b);
                c22 = Dp.DotProduct(c22, w2, b);
                c23 = Dp.DotProduct(c23, w3, b);
            }

            if (TRows.Value > 3)
            {
                b = Vector128.Create(Unsafe.ReadUnaligned<int>(a + 3 * aStride)).AsSByte();
                c30 = Dp.DotProduct(c30, w0, b);
                c31 = Dp.DotProduct(c31, w1, b);
                c32 = Dp.DotProduct(c32, w2, b);
                c33 = Dp.DotProduct(c33, w3, b);
            }
        }

        Store(tile, c00, c01, c02, c03);
        if (TRows.Value > 1) Store(tile + 16, c10, c11, c12, c13);
        if (TRows.Value > 2) Store(tile + 32, c20, c21, c22, c23);
        if (TRows.Value > 3) Store(tile + 48, c30, c31, c32, c33);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Store(int* row, Vector128<int> c0, Vector128<int> c1, Vector128<int> c2, Vector128<int> c3)
    {
        AdvSimd.Store(row, c0);
        AdvSimd.Store(row + 4, c1);
        AdvSimd.Store(row + 8, c2);
        AdvSimd.Store(row + 12, c3);
    }
}
