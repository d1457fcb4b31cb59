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

    /// <summary>[block of 4 output channels][quad][4 output channels]: four s8 weights (<c>w - zw</c>, zeros past the last input channel) as an int.</summary>
    private readonly int[] _packed;

    /// <summary>Per output channel, <c>Σ_k (w - zw)</c>.</summary>
    private readonly int[] _sums;

    private readonly VnniRequantizerCache _requantizers = new();

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
                packed[(co / Rows * quads + ci / 4) * Rows + co % Rows] |= (byte)(sbyte)w << (8 * (ci % 4));
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
        // Start values and requantizers per output channel, padded to whole tiles.
        var starts = new int[rowBlocks * Rows];
        var requantizers = _requantizers.For(epilogue, n);
        for (int co = 0; co < n; co++)
            starts[co] = unchecked(requantizers[co].Bias - za * _sums[co]);

        int[] interleaved = ArrayPool<int>.Shared.Rent(quads * padded);
        try
        {
            fixed (byte* px = input)
            fixed (TOut* py = output)
            fixed (int* pq = interleaved)
            fixed (int* pw = _packed)
            {
                nint x = (nint)px, y = (nint)py, q = (nint)pq, w = (nint)pw;
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
                        int p0 = chunk * ChunkPixels, p1 = Math.Min(pixels, p0 + ChunkPixels);
                        // A quad's run of the chunk: its interleaved pixels from p0, with the quad's weights of a tile.
                        int** runs = stackalloc int*[quads];
                        int* runWeights = stackalloc int[quads];
                        byte* spill = stackalloc byte[Rows * Block];
                        for (int k = 0; k < quads; k++)
                        {
                            runs[k] = (int*)q + (long)k * padded + p0;
                            runWeights[k] = k * Rows;
                        }

                        int firstBlock = group * blocksPerGroup, lastBlock = Math.Min(rowBlocks, firstBlock + blocksPerGroup);
                        for (int block = firstBlock; block < lastBlock; block++)
                        {
                            int co = block * Rows;
                            DirectConvVnni.Tile(runs, runWeights, quads, (int*)w + (long)block * quads * Rows, starts.AsSpan(co, Rows), requantizers, co,
                                Math.Min(Rows, n - co), p1 - p0, target + (long)co * pixels + p0, pixels, spill);
                        }
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
}
