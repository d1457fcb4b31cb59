using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Quantization.Kernels.Gemm;

/// <summary>
/// AVX-512BW without VNNI: like <see cref="Int8GemmAvx2"/> (s16 operands, <c>vpmaddwd</c>, exact int32 sums) on
/// 512-bit vectors, 32 columns per panel.
/// </summary>
/// <remarks>
/// Micro-kernel 6×32: 12 accumulators of 16 lanes. Per K pair: two 64-byte weight loads and per row one broadcast
/// of the activation pair, then two <c>vpmaddwd</c> + <c>vpaddd</c>.
/// </remarks>
internal sealed class Int8GemmAvx512BW : Int8GemmVariant
{
    public static Int8GemmAvx512BW Instance { get; } = new();

    public override string Name => "Avx512BW";

    public override bool IsSupported => Avx512BW.IsSupported;

    public override int PanelWidth => 32;

    public override int MaxRows => 6;

    public override int KStep => 2;

    public override int WeightElementSize => 2;

    public override int ActivationElementSize => 2;

    public override unsafe void Kernel(int rows, byte* a, int aStride, byte* panel, int paddedK, int* tile)
    {
        switch (rows)
        {
            case 1: Kernel<Rows1>(a, aStride, panel, paddedK, tile); break;
            case 2: Kernel<Rows2>(a, aStride, panel, paddedK, tile); break;
            case 3: Kernel<Rows3>(a, aStride, panel, paddedK, tile); break;
            case 4: Kernel<Rows4>(a, aStride, panel, paddedK, tile); break;
            case 5: Kernel<Rows5>(a, aStride, panel, paddedK, tile); break;
            default: Kernel<Rows6>(a, aStride, panel, paddedK, tile); break;
        }
    }

    private static unsafe void Kernel<TRows>(byte* a, int aStride, byte* panel, int paddedK, int* tile)
        where TRows : struct, IRowCount
    {
        Vector512<int> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<int> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        byte* end = a + 2 * paddedK;
        for (; a < end; a += 4, panel += 128)
        {
            var w0 = Avx512F.LoadVector512((short*)panel);
            var w1 = Avx512F.LoadVector512((short*)panel + 32);
            var b = Vector512.Create(Unsafe.ReadUnaligned<int>(a)).AsInt16();
            c00 += Avx512BW.MultiplyAddAdjacent(b, w0);
            c01 += Avx512BW.MultiplyAddAdjacent(b, w1);
            if (TRows.Value > 1)
            {
                b = Vector512.Create(Unsafe.ReadUnaligned<int>(a + aStride)).AsInt16();
                c10 += Avx512BW.MultiplyAddAdjacent(b, w0);
                c11 += Avx512BW.MultiplyAddAdjacent(b, w1);
            }

            if (TRows.Value > 2)
            {
                b = Vector512.Create(Unsafe.ReadUnaligned<int>(a + 2 * aStride)).AsInt16();
                c20 += Avx512BW.MultiplyAddAdjacent(b, w0);
                c21 += Avx512BW.MultiplyAddAdjacent(b, w1);
            }

            if (TRows.Value > 3)
            {
                b = Vector512.Create(Unsafe.ReadUnaligned<int>(a + 3 * aStride)).AsInt16();
                c30 += Avx512BW.MultiplyAddAdjacent(b, w0);
                c31 += Avx512BW.MultiplyAddAdjacent(b, w1);
            }

            if (TRows.Value > 4)
            {
                b = Vector512.Create(Unsafe.ReadUnaligned<int>(a + 4 * aStride)).AsInt16();
                c40 += Avx512BW.MultiplyAddAdjacent(b, w0);
                c41 += Avx512BW.MultiplyAddAdjacent(b, w1);
            }

            if (TRows.Value > 5)
            {
                b = Vector512.Create(Unsafe.ReadUnaligned<int>(a + 5 * aStride)).AsInt16();
                c50 += Avx512BW.MultiplyAddAdjacent(b, w0);
                c51 += Avx512BW.MultiplyAddAdjacent(b, w1);
            }
        }

        Avx512F.Store(tile, c00);
        Avx512F.Store(tile + 16, c01);
        if (TRows.Value > 1) { Avx512F.Store(tile + 32, c10); Avx512F.Store(tile + 48, c11); }
        if (TRows.Value > 2) { Avx512F.Store(tile + 64, c20); Avx512F.Store(tile + 80, c21); }
        if (TRows.Value > 3) { Avx512F.Store(tile + 96, c30); Avx512F.Store(tile + 112, c31); }
        if (TRows.Value > 4) { Avx512F.Store(tile + 128, c40); Avx512F.Store(tile + 144, c41); }
        if (TRows.Value > 5) { Avx512F.Store(tile + 160, c50); Avx512F.Store(tile + 176, c51); }
    }
}
