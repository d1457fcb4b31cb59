using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Quantization.Kernels.Gemm;

namespace Quantization.Kernels.Conv;

/// <summary>
/// One output channel's requantization for the AVX-VNNI convolution kernels, fused after their sums:
/// <see cref="Int8GemmOutput"/>'s arithmetic, bit for bit. <c>(float)(acc + bias) * multiplier</c> rounded half to even,
/// plus the zero point, clamped in floats (so an overflowing product saturates), converted.
/// </summary>
internal readonly struct VnniRequantizer(Int8GemmEpilogue epilogue, int channel)
{
    /// <summary>The int32 bias, which the kernels add to their start value (integer sums wrap alike in any order).</summary>
    public int Bias { get; } = epilogue.IntBias?[channel] ?? 0;

    private Vector256<float> Multiplier { get; } = Vector256.Create(epilogue.Scales![channel]);

    private Vector256<float> ZeroPoint { get; } = Vector256.Create((float)epilogue.OutputZeroPoint);

    private Vector256<float> Min { get; } = Vector256.Create((float)epilogue.Min);

    private Vector256<float> Max { get; } = Vector256.Create((float)epilogue.Max);

    private bool Signed { get; } = epilogue.Kind == Int8OutputKind.Int8;

    /// <summary>Whether the epilogue requantizes, the only kind these kernels fuse.</summary>
    public static bool Fuses(Int8GemmEpilogue epilogue) => epilogue.Kind is Int8OutputKind.UInt8 or Int8OutputKind.Int8;

    /// <summary>Requantizes four vectors of sums (bias included) and stores them as 32 bytes at <paramref name="target"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Store(Vector256<int> s0, Vector256<int> s1, Vector256<int> s2, Vector256<int> s3, byte* target)
    {
        // The packs interleave 128-bit lanes; the permutation puts the four vectors back in order. Values are in range
        // already, so the saturating packs are exact.
        var low = Avx2.PackSignedSaturate(Apply(s0), Apply(s1));
        var high = Avx2.PackSignedSaturate(Apply(s2), Apply(s3));
        var bytes = Signed ? Avx2.PackSignedSaturate(low, high).AsInt32() : Avx2.PackUnsignedSaturate(low, high).AsInt32();
        Avx2.PermuteVar8x32(bytes, Vector256.Create(0, 4, 1, 5, 2, 6, 3, 7)).Store((int*)target);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private Vector256<int> Apply(Vector256<int> sum) =>
        Avx.ConvertToVector256Int32WithTruncation(Vector256.Min(Vector256.Max(
            Avx.RoundToNearestInteger(Avx.ConvertToVector256Single(sum) * Multiplier) + ZeroPoint, Min), Max));
}

/// <summary>
/// A kernel's requantizers, one per output channel, kept between calls with the epilogue they were built for: a layer's
/// epilogue is built once and reused (<see cref="Nn.Quantized.QuantizedConv2d"/>), and a wide layer's requantizers are
/// tens of KB that a call would otherwise allocate anew.
/// </summary>
internal sealed class VnniRequantizerCache
{
    private Entry? _entry;

    /// <summary>The requantizers of <paramref name="channels"/> output channels of <paramref name="epilogue"/>.</summary>
    public VnniRequantizer[] For(Int8GemmEpilogue epilogue, int channels)
    {
        // Callers on several threads at once may each build an entry; any of them is right.
        var entry = Volatile.Read(ref _entry);
        if (entry is null || !ReferenceEquals(entry.Epilogue, epilogue))
        {
            var requantizers = new VnniRequantizer[channels];
            for (int c = 0; c < channels; c++)
                requantizers[c] = new VnniRequantizer(epilogue, c);
            entry = new Entry(epilogue, requantizers);
            Volatile.Write(ref _entry, entry);
        }

        return entry.Requantizers;
    }

    private sealed record Entry(Int8GemmEpilogue Epilogue, VnniRequantizer[] Requantizers);
}
