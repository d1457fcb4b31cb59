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
/// 15 of the 16 VEX-addressable registers. With one or two rows that leaves only two or four dependency chains,
/// and <c>vpdpbusd</c>'s latency would idle the units, so those kernels split K over independent accumulators
/// (8 chains) and add them at the end.
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
            case 1: KernelOneRow(a, panel, paddedK, tile); break;
            case 2: KernelTwoRows(a, aStride, panel, paddedK, tile); break;
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
    /// <summary>One row × 16 columns; K groups split four ways so eight accumulator chains run in parallel.</summary>
    private static unsafe void KernelOneRow(byte* a, byte* panel, int paddedK, int* tile)
    {
        Vector256<int> c0 = default, c1 = default, d0 = default, d1 = default, e0 = default, e1 = default, f0 = default, f1 = default;
        byte* end = a + paddedK;
        for (; a + 16 <= end; a += 16, panel += 256)
        {
            c0 = AvxVnni.MultiplyWideningAndAdd(c0, Broadcast(a), Avx.LoadVector256((sbyte*)panel));
            c1 = AvxVnni.MultiplyWideningAndAdd(c1, Broadcast(a), Avx.LoadVector256((sbyte*)panel + 32));
            d0 = AvxVnni.MultiplyWideningAndAdd(d0, Broadcast(a + 4), Avx.LoadVector256((sbyte*)panel + 64));
            d1 = AvxVnni.MultiplyWideningAndAdd(d1, Broadcast(a + 4), Avx.LoadVector256((sbyte*)panel + 96));
            e0 = AvxVnni.MultiplyWideningAndAdd(e0, Broadcast(a + 8), Avx.LoadVector256((sbyte*)panel + 128));
            e1 = AvxVnni.MultiplyWideningAndAdd(e1, Broadcast(a + 8), Avx.LoadVector256((sbyte*)panel + 160));
            f0 = AvxVnni.MultiplyWideningAndAdd(f0, Broadcast(a + 12), Avx.LoadVector256((sbyte*)panel + 192));
            f1 = AvxVnni.MultiplyWideningAndAdd(f1, Broadcast(a + 12), Avx.LoadVector256((sbyte*)panel + 224));
        }

        for (; a < end; a += 4, panel += 64)
        {
            c0 = AvxVnni.MultiplyWideningAndAdd(c0, Broadcast(a), Avx.LoadVector256((sbyte*)panel));
            c1 = AvxVnni.MultiplyWideningAndAdd(c1, Broadcast(a), Avx.LoadVector256((sbyte*)panel + 32));
        }

        Avx.Store(tile, (c0 + d0) + (e0 + f0));
        Avx.Store(tile + 8, (c1 + d1) + (e1 + f1));
    }

    /// <summary>Two rows × 16 columns; K groups split two ways for eight accumulator chains.</summary>
    private static unsafe void KernelTwoRows(byte* a, int aStride, byte* panel, int paddedK, int* tile)
    {
        Vector256<int> c00 = default, c01 = default, c10 = default, c11 = default;
        Vector256<int> d00 = default, d01 = default, d10 = default, d11 = default;
        byte* a1 = a + aStride;
        byte* end = a + paddedK;
        for (; a + 8 <= end; a += 8, a1 += 8, panel += 128)
        {
            var w0 = Avx.LoadVector256((sbyte*)panel);
            var w1 = Avx.LoadVector256((sbyte*)panel + 32);
            var w2 = Avx.LoadVector256((sbyte*)panel + 64);
            var w3 = Avx.LoadVector256((sbyte*)panel + 96);
            c00 = AvxVnni.MultiplyWideningAndAdd(c00, Broadcast(a), w0);
            c01 = AvxVnni.MultiplyWideningAndAdd(c01, Broadcast(a), w1);
            c10 = AvxVnni.MultiplyWideningAndAdd(c10, Broadcast(a1), w0);
            c11 = AvxVnni.MultiplyWideningAndAdd(c11, Broadcast(a1), w1);
            d00 = AvxVnni.MultiplyWideningAndAdd(d00, Broadcast(a + 4), w2);
            d01 = AvxVnni.MultiplyWideningAndAdd(d01, Broadcast(a + 4), w3);
            d10 = AvxVnni.MultiplyWideningAndAdd(d10, Broadcast(a1 + 4), w2);
            d11 = AvxVnni.MultiplyWideningAndAdd(d11, Broadcast(a1 + 4), w3);
        }

        if (a < end)
        {
            var w0 = Avx.LoadVector256((sbyte*)panel);
            var w1 = Avx.LoadVector256((sbyte*)panel + 32);
            c00 = AvxVnni.MultiplyWideningAndAdd(c00, Broadcast(a), w0);
            c01 = AvxVnni.MultiplyWideningAndAdd(c01, Broadcast(a), w1);
            c10 = AvxVnni.MultiplyWideningAndAdd(c10, Broadcast(a1), w0);
            c11 = AvxVnni.MultiplyWideningAndAdd(c11, Broadcast(a1), w1);
        }

        Avx.Store(tile, c00 + d00);
        Avx.Store(tile + 8, c01 + d01);
        Avx.Store(tile + 16, c10 + d10);
        Avx.Store(tile + 24, c11 + d11);
    }

    /// <summary>Four activation bytes repeated in every int32 lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe Vector256<byte> Broadcast(byte* a) => Vector256.Create(Unsafe.ReadUnaligned<int>(a)).AsByte();
}
