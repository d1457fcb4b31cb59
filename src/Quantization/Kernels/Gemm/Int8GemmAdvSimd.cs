using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;

namespace Quantization.Kernels.Gemm;

/// <summary>
/// ARM without the dot-product extension: both operands widened to s16 when packed, then <c>SMLAL</c>/<c>SMLAL2</c>
/// multiply 4 s16 pairs into int32 lanes and add them exactly.
/// </summary>
/// <remarks>
/// K step 1: for each k the panel holds 16 columns as s16 (two vectors). Micro-kernel 4×16: 16 accumulators; per k
/// one broadcast of the activation per row and four widening multiply-adds.
/// </remarks>
internal sealed class Int8GemmAdvSimd : Int8GemmVariant
{
    public static Int8GemmAdvSimd Instance { get; } = new();

    public override string Name => "AdvSimd";

    public override bool IsSupported => AdvSimd.Arm64.IsSupported;

    public override int PanelWidth => 16;

    public override int MaxRows => 4;

    public override int KStep => 1;

    public override int WeightElementSize => 2;

    public override int ActivationElementSize => 2;

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
        byte* end = a + 2 * paddedK;
        for (; a < end; a += 2, panel += 32)
        {
            var w0 = AdvSimd.LoadVector128((short*)panel);
            var w1 = AdvSimd.LoadVector128((short*)panel + 8);
            Accumulate(Unsafe.ReadUnaligned<short>(a), w0, w1, ref c00, ref c01, ref c02, ref c03);
            if (TRows.Value > 1)
                Accumulate(Unsafe.ReadUnaligned<short>(a + aStride), w0, w1, ref c10, ref c11, ref c12, ref c13);
            if (TRows.Value > 2)
                Accumulate(Unsafe.ReadUnaligned<short>(a + 2 * aStride), w0, w1, ref c20, ref c21, ref c22, ref c23);
            if (TRows.Value > 3)
                Accumulate(Unsafe.ReadUnaligned<short>(a + 3 * aStride), w0, w1, ref c30, ref c31, ref c32, ref c33);
        }

        Store(tile, c00, c01, c02, c03);
        if (TRows.Value > 1) Store(tile + 16, c10, c11, c12, c13);
        if (TRows.Value > 2) Store(tile + 32, c20, c21, c22, c23);
        if (TRows.Value > 3) Store(tile + 48, c30, c31, c32, c33);
    }

    /// <summary>Columns 0-3, 4-7, 8-11, 12-15 += activation × weights, widened to int32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate(short activation, Vector128<short> w0, Vector128<short> w1,
        ref Vector128<int> c0, ref Vector128<int> c1, ref Vector128<int> c2, ref Vector128<int> c3)
    {
        var b = Vector128.Create(activation);
        c0 = AdvSimd.MultiplyWideningLowerAndAdd(c0, w0.GetLower(), b.GetLower());
        c1 = AdvSimd.MultiplyWideningUpperAndAdd(c1, w0, b);
        c2 = AdvSimd.MultiplyWideningLowerAndAdd(c2, w1.GetLower(), b.GetLower());
        c3 = AdvSimd.MultiplyWideningUpperAndAdd(c3, w1, b);
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
