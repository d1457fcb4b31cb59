using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Quantization.Kernels.Gemm;

/// <summary>
/// AVX2 without VNNI. <c>vpmaddubsw</c> would saturate to int16 when two u8×s8 products add past 32767, so both
/// operands are widened to s16 when packed and <c>vpmaddwd</c> multiplies pairs into int32 lanes exactly
/// (|2 × 255 × 128| &lt; 2^31).
/// </summary>
/// <remarks>
/// Micro-kernel 6×16: 12 accumulators. Per K pair: two 32-byte weight loads (16 columns × 2 k as s16), and per
/// row one broadcast of the activation pair (two s16 in each int32 lane), then two <c>vpmaddwd</c> + <c>vpaddd</c>.
/// </remarks>
internal sealed class Int8GemmAvx2 : Int8GemmVariant
{
    public static Int8GemmAvx2 Instance { get; } = new();

    public override string Name => "Avx2";

    public override bool IsSupported => Avx2.IsSupported;

    public override int PanelWidth => 16;

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
        Vector256<int> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<int> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        byte* end = a + 2 * paddedK;
        for (; a < end; a += 4, panel += 64)
        {
            var w0 = Avx.LoadVector256((short*)panel);
            var w1 = Avx.LoadVector256((short*)panel + 16);
            var b = Vector256.Create(Unsafe.ReadUnaligned<int>(a)).AsInt16();
            c00 += Avx2.MultiplyAddAdjacent(b, w0);
            c01 += Avx2.MultiplyAddAdjacent(b, w1);
            if (TRows.Value > 1)
            {
                b = Vector256.Create(Unsafe.ReadUnaligned<int>(a + aStride)).AsInt16();
                c10 += Avx2.MultiplyAddAdjacent(b, w0);
                c11 += Avx2.MultiplyAddAdjacent(b, w1);
            }

            if (TRows.Value > 2)
            {
                b = Vector256.Create(Unsafe.ReadUnaligned<int>(a + 2 * aStride)).AsInt16();
                c20 += Avx2.MultiplyAddAdjacent(b, w0);
                c21 += Avx2.MultiplyAddAdjacent(b, w1);
            }

            if (TRows.Value > 3)
            {
                b = Vector256.Create(Unsafe.ReadUnaligned<int>(a + 3 * aStride)).AsInt16();
                c30 += Avx2.MultiplyAddAdjacent(b, w0);
                c31 += Avx2.MultiplyAddAdjacent(b, w1);
            }

            if (TRows.Value > 4)
            {
                b = Vector256.Create(Unsafe.ReadUnaligned<int>(a + 4 * aStride)).AsInt16();
                c40 += Avx2.MultiplyAddAdjacent(b, w0);
                c41 += Avx2.MultiplyAddAdjacent(b, w1);
            }

            if (TRows.Value > 5)
            {
                b = Vector256.Create(Unsafe.ReadUnaligned<int>(a + 5 * aStride)).AsInt16();
                c50 += Avx2.MultiplyAddAdjacent(b, w0);
                c51 += Avx2.MultiplyAddAdjacent(b, w1);
            }
        }

        Avx.Store(tile, c00);
        Avx.Store(tile + 8, c01);
        if (TRows.Value > 1) { Avx.Store(tile + 16, c10); Avx.Store(tile + 24, c11); }
        if (TRows.Value > 2) { Avx.Store(tile + 32, c20); Avx.Store(tile + 40, c21); }
        if (TRows.Value > 3) { Avx.Store(tile + 48, c30); Avx.Store(tile + 56, c31); }
        if (TRows.Value > 4) { Avx.Store(tile + 64, c40); Avx.Store(tile + 72, c41); }
        if (TRows.Value > 5) { Avx.Store(tile + 80, c50); Avx.Store(tile + 88, c51); }
    }
}
