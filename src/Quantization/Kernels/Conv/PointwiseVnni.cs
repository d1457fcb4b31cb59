using System.Buffers;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Quantization.Kernels.Gemm;
using Quantization.Kernels.Threading;

namespace Quantization.Kernels.Conv;

/// <summary>
/// A 1×1 INT8 convolution on AVX-VNNI straight on the NCHW planes, requantized output only: each output channel's
/// plane is a row of <c>Σ_k w[co, k] · x[k, pixels]</c>, summed four input channels per <c>vpdpbusd</c>, where the GEMM
/// path transposes the image to NHWC and back and packs its rows. The same sums, bit for bit.
/// </summary>
/// <remarks>
/// The input is first interleaved by fours of channels (int32 lane p holds pixel p of channels 4q .. 4q + 3, zeros past
/// the last channel), so one load serves eight pixels of four channels; a tile is four output channels by 32 pixels,
/// 16 sums in registers, each step one load per vector and one weight broadcast per channel. The start value
/// <c>bias - za · Σ_k w</c> takes <c>x - za</c>'s zero point out. Takes weights that fit s8 once their zero point is
/// subtracted.
/// </remarks>
internal sealed class PointwiseVnni
{
    private const int Lanes = 8;

    /// <summary>Pixels per tile: four vectors.</summary>
    private const int Block = 4 * Lanes;

    /// <summary>Output channels per tile.</summary>
    private const int Rows = 4;

    /// <summary>Pixels per task: the interleaved input of a task stays in L2 while every output channel reads it.</summary>
    private const int ChunkPixels = 1024;

    private readonly int _inChannels;

    private readonly int _outChannels;

    private readonly int _quads;

    /// <summary>[output channel, rounded up to 4][quad]: four s8 weights (<c>w - zw</c>, zeros past the last input channel) as an int.</summary>
    private readonly int[] _packed;

    /// <summary>Per output channel, <c>Σ_k (w - zw)</c>.</summary>
    private readonly int[] _sums;

    private PointwiseVnni(int inChannels, int outChannels, int[] packed, int[] sums)
    {
        _inChannels = inChannels;
        _outChannels = outChannels;
        _quads = (inChannels + 3) / 4;
        _packed = packed;
        _sums = sums;
    }

    /// <summary>Whether this CPU runs the kernel.</summary>
    public static bool IsSupported => AvxVnni.IsSupported;

    /// <summary>
    /// Whether this kernel beats the GEMM path on a 1×1 convolution without groups: when input × output channels is at
    /// most 16384, where the GEMM path's transposes and packing weigh most (one thread, u8 output: 8 → 8 channels over
    /// 24×96 pixels 0.0058 ms against 0.048, 48 → 12 over 160×160 0.24 against 1.4, 32 → 200 over 2×96 0.023 against
    /// 0.044). With more channels the GEMM's 512-bit kernels win: 384 → 96 over 20×20 0.15 against 0.095.
    /// </summary>
    public static bool Prefers(Conv2dGeometry g) => g.IsPointwise && g.Groups == 1 && (long)g.InChannels * g.OutChannels <= 16384;

    /// <summary>
    /// Packs the weights of a 1×1 convolution without groups (s8 [outChannels, inChannels], one zero point or one per
    /// output channel), or returns null when some <c>w - zw</c> falls outside s8.
    /// </summary>
    public static PointwiseVnni? TryCreate(Conv2dGeometry geometry, ReadOnlySpan<sbyte> weights, ReadOnlySpan<int> weightZeroPoints)
    {
        if (!geometry.IsPointwise || geometry.Groups != 1)
            return null;
        int k = geometry.InChannels, n = geometry.OutChannels, quads = (k + 3) / 4;
        var packed = new int[(n + Rows - 1) / Rows * Rows * quads];
        var sums = new int[n];
        for (int co = 0; co < n; co++)
        {
            int zw = weightZeroPoints.Length == 1 ? weightZeroPoints[0] : weightZeroPoints[co];
            for (int ci = 0; ci < k; ci++)
            {
                int w = weights[co * k + ci] - zw;
                if (w is < sbyte.MinValue or > sbyte.MaxValue)
                    return null;
                packed[co * quads + ci / 4] |= (byte)(sbyte)w << (8 * (ci % 4));
                sums[co] += w;
            }
        }

        return new PointwiseVnni(k, n, packed, sums);
    }

    /// <summary>
    /// <c>y[n, co, p] = requantize(Σ_k (x[n, k, p] - za) · (w[co, k] - zw[co]))</c> over u8 NCHW images of
    /// <paramref name="pixels"/> pixels; <paramref name="epilogue"/> must requantize (<see cref="VnniRequantizer.Fuses"/>).
    /// </summary>
    public unsafe void Run<TOut>(ReadOnlySpan<byte> input, int batch, int pixels, int za, Int8GemmEpilogue epilogue, Span<TOut> output, int maxThreads)
        where TOut : unmanaged
    {
        int quads = _quads, n = _outChannels, rowBlocks = (n + Rows - 1) / Rows;
        int padded = (pixels + Block - 1) / Block * Block, chunks = (padded + ChunkPixels - 1) / ChunkPixels;
        var starts = new int[n];
        for (int co = 0; co < n; co++)
            starts[co] = unchecked(new VnniRequantizer(epilogue, co).Bias - za * _sums[co]);
        int[] interleaved = ArrayPool<int>.Shared.Rent(quads * padded);
        try
        {
            fixed (byte* px = input)
            fixed (TOut* py = output)
            fixed (int* pq = interleaved)
            fixed (int* pw = _packed)
            fixed (int* ps = starts)
            {
                nint x = (nint)px, y = (nint)py, q = (nint)pq, w = (nint)pw, s = (nint)ps;
                for (int image = 0; image < batch; image++)
                {
                    byte* source = (byte*)x + (long)image * _inChannels * pixels;
                    byte* target = (byte*)y + (long)image * n * pixels;
                    KernelParallel.For(quads, (long)quads * padded * 4, quad => Interleave(source, pixels, padded, quad, (int*)q), maxThreads);
                    // Tasks: a chunk of pixels by a group of output channels, so that small images still split.
                    int groups = Math.Max(1, Math.Min(rowBlocks, (maxThreads > 0 ? maxThreads : Parallelism.ThreadCount) * 2 / chunks));
                    int blocksPerGroup = (rowBlocks + groups - 1) / groups;
                    KernelParallel.For(chunks * groups, (long)n * padded * quads * 4, task =>
                    {
                        int chunk = task / groups, group = task % groups;
                        int p0 = chunk * ChunkPixels, p1 = Math.Min(padded, p0 + ChunkPixels);
                        int firstBlock = group * blocksPerGroup, lastBlock = Math.Min(rowBlocks, firstBlock + blocksPerGroup);
                        for (int block = firstBlock; block < lastBlock; block++)
                            Tile((int*)q, padded, quads, (int*)w, (int*)s, block * Rows, p0, p1, pixels, epilogue, target);
                    }, maxThreads);
                }
            }
        }
        finally
        {
            ArrayPool<int>.Shared.Return(interleaved);
        }
    }

    /// <summary>
    /// Quad <paramref name="quad"/> of the interleaved input: lane p holds the bytes of channels 4q .. 4q + 3 at pixel p,
    /// zeros for channels past the last and for pixels past <paramref name="pixels"/> up to <paramref name="padded"/>.
    /// </summary>
    private unsafe void Interleave(byte* source, int pixels, int padded, int quad, int* interleaved)
    {
        int* target = interleaved + (long)quad * padded;
        int channels = Math.Min(4, _inChannels - 4 * quad);
        byte* r0 = source + (long)4 * quad * pixels;
        int p = 0;
        if (channels == 4)
        {
            byte* r1 = r0 + pixels, r2 = r1 + pixels, r3 = r2 + pixels;
            for (; p + Block <= pixels; p += Block)
            {
                var a0 = Vector256.Load(r0 + p);
                var a1 = Vector256.Load(r1 + p);
                var a2 = Vector256.Load(r2 + p);
                var a3 = Vector256.Load(r3 + p);
                var low01 = Avx2.UnpackLow(a0, a1).AsInt16();
                var low23 = Avx2.UnpackLow(a2, a3).AsInt16();
                var high01 = Avx2.UnpackHigh(a0, a1).AsInt16();
                var high23 = Avx2.UnpackHigh(a2, a3).AsInt16();
                // Each 128-bit lane of v0 .. v3 holds pixels 0-3, 4-7, 8-11, 12-15 of that lane's 16.
                var v0 = Avx2.UnpackLow(low01, low23).AsInt32();
                var v1 = Avx2.UnpackHigh(low01, low23).AsInt32();
                var v2 = Avx2.UnpackLow(high01, high23).AsInt32();
                var v3 = Avx2.UnpackHigh(high01, high23).AsInt32();
                Avx2.Permute2x128(v0, v1, 0x20).Store(target + p);
                Avx2.Permute2x128(v2, v3, 0x20).Store(target + p + Lanes);
                Avx2.Permute2x128(v0, v1, 0x31).Store(target + p + 2 * Lanes);
                Avx2.Permute2x128(v2, v3, 0x31).Store(target + p + 3 * Lanes);
            }
        }

        for (; p < pixels; p++)
        {
            int value = 0;
            for (int c = 0; c < channels; c++)
                value |= r0[(long)c * pixels + p] << (8 * c);
            target[p] = value;
        }

        new Span<int>(target + pixels, padded - pixels).Clear();
    }

    /// <summary>
    /// Output channels <paramref name="co0"/> .. co0 + 3 over pixels [<paramref name="p0"/>, <paramref name="p1"/>), 32
    /// at a time; a block past the image's last pixel goes through a buffer, since the bytes after a plane belong to the
    /// next channel.
    /// </summary>
    private unsafe void Tile(int* interleaved, int padded, int quads, int* weights, int* starts, int co0, int p0, int p1, int pixels,
        Int8GemmEpilogue epilogue, byte* output)
    {
        int rows = Math.Min(Rows, _outChannels - co0);
        var r0 = new VnniRequantizer(epilogue, co0);
        var r1 = rows > 1 ? new VnniRequantizer(epilogue, co0 + 1) : r0;
        var r2 = rows > 2 ? new VnniRequantizer(epilogue, co0 + 2) : r0;
        var r3 = rows > 3 ? new VnniRequantizer(epilogue, co0 + 3) : r0;
        var o0 = Vector256.Create(starts[co0]);
        var o1 = rows > 1 ? Vector256.Create(starts[co0 + 1]) : o0;
        var o2 = rows > 2 ? Vector256.Create(starts[co0 + 2]) : o0;
        var o3 = rows > 3 ? Vector256.Create(starts[co0 + 3]) : o0;
        int* w = weights + co0 * quads;
        byte* spill = stackalloc byte[Rows * Block];
        for (int p = p0; p < p1; p += Block)
        {
            Vector256<int> s00 = o0, s01 = o0, s02 = o0, s03 = o0, s10 = o1, s11 = o1, s12 = o1, s13 = o1;
            Vector256<int> s20 = o2, s21 = o2, s22 = o2, s23 = o2, s30 = o3, s31 = o3, s32 = o3, s33 = o3;
            int* x = interleaved + p;
            for (int q = 0; q < quads; q++, x += padded)
            {
                var x0 = Vector256.Load(x).AsByte();
                var x1 = Vector256.Load(x + Lanes).AsByte();
                var x2 = Vector256.Load(x + 2 * Lanes).AsByte();
                var x3 = Vector256.Load(x + 3 * Lanes).AsByte();
                var w0 = Vector256.Create(w[q]).AsSByte();
                s00 = AvxVnni.MultiplyWideningAndAdd(s00, x0, w0);
                s01 = AvxVnni.MultiplyWideningAndAdd(s01, x1, w0);
                s02 = AvxVnni.MultiplyWideningAndAdd(s02, x2, w0);
                s03 = AvxVnni.MultiplyWideningAndAdd(s03, x3, w0);
                var w1 = Vector256.Create(w[quads + q]).AsSByte();
                s10 = AvxVnni.MultiplyWideningAndAdd(s10, x0, w1);
                s11 = AvxVnni.MultiplyWideningAndAdd(s11, x1, w1);
                s12 = AvxVnni.MultiplyWideningAndAdd(s12, x2, w1);
                s13 = AvxVnni.MultiplyWideningAndAdd(s13, x3, w1);
                var w2 = Vector256.Create(w[2 * quads + q]).AsSByte();
                s20 = AvxVnni.MultiplyWideningAndAdd(s20, x0, w2);
                s21 = AvxVnni.MultiplyWideningAndAdd(s21, x1, w2);
                s22 = AvxVnni.MultiplyWideningAndAdd(s22, x2, w2);
                s23 = AvxVnni.MultiplyWideningAndAdd(s23, x3, w2);
                var w3 = Vector256.Create(w[3 * quads + q]).AsSByte();
                s30 = AvxVnni.MultiplyWideningAndAdd(s30, x0, w3);
                s31 = AvxVnni.MultiplyWideningAndAdd(s31, x1, w3);
                s32 = AvxVnni.MultiplyWideningAndAdd(s32, x2, w3);
                s33 = AvxVnni.MultiplyWideningAndAdd(s33, x3, w3);
            }

            bool whole = p + Block <= pixels;
            byte* target = whole ? output + (long)co0 * pixels + p : spill;
            long stride = whole ? pixels : Block;
            r0.Store(s00, s01, s02, s03, target);
            if (rows > 1)
                r1.Store(s10, s11, s12, s13, target + stride);
            if (rows > 2)
                r2.Store(s20, s21, s22, s23, target + 2 * stride);
            if (rows > 3)
                r3.Store(s30, s31, s32, s33, target + 3 * stride);
            if (!whole)
            {
                for (int r = 0; r < rows; r++)
                    new ReadOnlySpan<byte>(spill + r * Block, pixels - p).CopyTo(new Span<byte>(output + (long)(co0 + r) * pixels + p, pixels - p));
            }
        }
    }
}
