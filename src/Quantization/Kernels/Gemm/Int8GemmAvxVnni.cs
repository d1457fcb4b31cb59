using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Quantization.Kernels.Gemm;

/// <summary>
/// AVX-VNNI: <c>vpdpbusd</c> on 256-bit vectors multiplies 4 u8 activations by 4 s8 weights per int32 lane and adds
/// the four products to the lane, exactly (no intermediate saturation: this is the non-saturating form).
/// </summary>
/// <remarks>
/// Micro-kernel 6×16: 12 accumulators (6 rows × 2 vectors of 8 columns). Per K group of 4: two 32-byte weight loads
/// (16 columns × 4 k), and per row one broadcast of 4 activation bytes to every lane, then two <c>vpdpbusd</c>.
/// 15 of the 16 VEX-addressable registers.
/// </remarks>
internal sealed class Int8GemmAvxVnni : Int8GemmVariant
{
    public static Int8GemmAvxVnni Instance { get; } = new();

    public override string Name => "AvxVnni";

    public override bool IsSupported => AvxVnni.IsSupported;

    public override int PanelWidth => 16;

    public override int MaxRows => 6;

    public override int KStep => 4;

    public override int WeightElementSize => 1;

    public override int ActivationElementSize => 1;

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
        byte* end = a + paddedK;
        for (; a < end; a += 4, panel += 64)
        {
            var w0 = Avx.LoadVector256((sbyte*)panel);
            var w1 = Avx.LoadVector256((sbyte*)panel + 32);
            var b = Vector256.Create(Unsafe.ReadUnaligned<int>(a)).AsByte();
            c00 = AvxVnni.MultiplyWideningAndAdd(c00, b, w0);
            c01 = AvxVnni.MultiplyWideningAndAdd(c01, b, w1);
            if (TRows.Value > 1)
            {
                b = Vector256.Create(Unsafe.ReadUnaligned<int>(a + aStride)).AsByte();
                c10 = AvxVnni.MultiplyWideningAndAdd(c10, b, w0);
                c11 = AvxVnni.MultiplyWideningAndAdd(c11, b, w1);
            }

            if (TRows.Value > 2)
            {
                b = Vector256.Create(Unsafe.ReadUnaligned<int>(a + 2 * aStride)).AsByte();
                c20 = AvxVnni.MultiplyWideningAndAdd(c20, b, w0);
                c21 = AvxVnni.MultiplyWideningAndAdd(c21, b, w1);
            }

            if (TRows.Value > 3)
            {
                b = Vector256.Create(Unsafe.ReadUnaligned<int>(a + 3 * aStride)).AsByte();
                c30 = AvxVnni.MultiplyWideningAndAdd(c30, b, w0);
                c31 = AvxVnni.MultiplyWideningAndAdd(c31, b, w1);
            }

            if (TRows.Value > 4)
            {
                b = Vector256.Create(Unsafe.ReadUnaligned<int>(a + 4 * aStride)).AsByte();
                c40 = AvxVnni.MultiplyWideningAndAdd(c40, b, w0);
                c41 = AvxVnni.MultiplyWideningAndAdd(c41, b, w1);
            }

            if (TRows.Value > 5)
            {
                b = Vector256.Create(Unsafe.ReadUnaligned<int>(a + 5 * aStride)).AsByte();
                c50 = AvxVnni.MultiplyWideningAndAdd(c50, b, w0);
                c51 = AvxVnni.MultiplyWideningAndAdd(c51, b, w1);
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
