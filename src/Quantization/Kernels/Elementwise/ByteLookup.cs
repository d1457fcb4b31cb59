using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Quantization.Kernels.Elementwise;

/// <summary>
/// <c>destination[i] = table[codes[i]]</c> over a 256-entry table: how a quantized graph applies an elementwise
/// function to QUInt8 codes, into codes or into floats.
/// </summary>
internal static class ByteLookup
{
    /// <summary>Bytes: with AVX-512 VBMI 64 codes at a time, two 128-entry two-register permutes (the low seven bits index) and a blend on the top bit.</summary>
    public static void Apply(ReadOnlySpan<byte> table, ReadOnlySpan<byte> codes, Span<byte> destination)
    {
        if (table.Length != 256 || destination.Length < codes.Length)
            throw new ArgumentException("A byte lookup needs a 256-entry table and room for every code.");
        int i = 0;
        if (Avx512Vbmi.IsSupported && codes.Length >= Vector512<byte>.Count)
        {
            ref byte t = ref MemoryMarshal.GetReference(table);
            var t0 = Vector512.LoadUnsafe(ref t);
            var t1 = Vector512.LoadUnsafe(ref t, 64);
            var t2 = Vector512.LoadUnsafe(ref t, 128);
            var t3 = Vector512.LoadUnsafe(ref t, 192);
            ref byte src = ref MemoryMarshal.GetReference(codes);
            ref byte dst = ref MemoryMarshal.GetReference(destination);
            var top = Vector512.Create((byte)0x80);
            for (; i <= codes.Length - Vector512<byte>.Count; i += Vector512<byte>.Count)
            {
                var index = Vector512.LoadUnsafe(ref src, (nuint)i);
                var low = Avx512Vbmi.PermuteVar64x8x2(t0, index, t1);
                var high = Avx512Vbmi.PermuteVar64x8x2(t2, index, t3);
                var upper = Vector512.Equals(index & top, top);
                Vector512.ConditionalSelect(upper, high, low).StoreUnsafe(ref dst, (nuint)i);
            }
        }

        for (; i < codes.Length; i++)
            destination[i] = table[codes[i]];
    }

    /// <summary>Floats: with AVX2, 8 codes at a time, zero-extended to the indices of one gather.</summary>
    public static unsafe void Apply(ReadOnlySpan<float> table, ReadOnlySpan<byte> codes, Span<float> destination)
    {
        if (table.Length != 256 || destination.Length < codes.Length)
            throw new ArgumentException("A lookup needs a 256-entry table and room for every code.");
        int i = 0;
        if (Avx2.IsSupported && codes.Length >= Vector256<float>.Count)
        {
            fixed (float* t = table)
            fixed (byte* src = codes)
            {
                ref float dst = ref MemoryMarshal.GetReference(destination);
                for (; i <= codes.Length - Vector256<float>.Count; i += Vector256<float>.Count)
                {
                    var index = Avx2.ConvertToVector256Int32(src + i);
                    Avx2.GatherVector256(t, index, sizeof(float)).StoreUnsafe(ref dst, (nuint)i);
                }
            }
        }

        for (; i < codes.Length; i++)
            destination[i] = table[codes[i]];
    }
}
