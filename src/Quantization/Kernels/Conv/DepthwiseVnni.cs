using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Quantization.Kernels.Gemm;
using Quantization.Kernels.Threading;

namespace Quantization.Kernels.Conv;

/// <summary>
/// The INT8 depthwise plane kernel on AVX-VNNI: four taps of a kernel row per <c>vpdpbusd</c>, u8 inputs times s8
/// weights, where <see cref="DepthwiseConv.Int8{TOut}"/> widens every input to int32 and multiplies tap by tap. The
/// same sums, bit for bit.
/// </summary>
/// <remarks>
/// Each input row is padded with <c>za</c> and expanded once into windows: int32 lane j holds the four bytes a run of
/// four taps reads for output pixel j (<c>x[s·j .. s·j + 3]</c> for stride s), so taps 4k .. 4k + 3 of a kernel row are
/// one dot product of that expansion, shifted by <c>4k / s</c>, with the weights of those taps (zeros past the row's
/// end). The expansions are kept while later output rows read them. Kernel rows wholly in the padding are skipped, and
/// the start value <c>-za · Σ w</c> over the rows taken removes what the <c>za</c> columns add, so the padding
/// contributes nothing, as in the other kernels. Takes strides 1 and 2 across (any down), no dilation across, and
/// weights that fit s8 once their zero point is subtracted.
/// </remarks>
internal sealed class DepthwiseVnni
{
    private const int Lanes = 8;

    /// <summary>Output pixels per block of sums: four vectors.</summary>
    private const int Block = 4 * Lanes;

    /// <summary>About how many raw sums go through a non-requantizing epilogue per call.</summary>
    private const int ChunkValues = 512;

    private readonly Conv2dGeometry _geometry;

    /// <summary>Per channel and kernel row, <see cref="_groups"/> runs of four s8 weights as ints.</summary>
    private readonly int[] _packed;

    /// <summary>Per channel and kernel row, the sum of its weights.</summary>
    private readonly int[] _rowSums;

    private readonly int _groups;

    private DepthwiseVnni(Conv2dGeometry geometry, int[] packed, int[] rowSums, int groups)
    {
        _geometry = geometry;
        _packed = packed;
        _rowSums = rowSums;
        _groups = groups;
    }

    /// <summary>Whether this CPU runs the kernel.</summary>
    public static bool IsSupported => AvxVnni.IsSupported;

    /// <summary>
    /// Whether this kernel beats the others on a layer it takes: wherever <see cref="DepthwiseConv.Int8{TOut}"/> would
    /// run (it was 1.5-2.3× as fast on every layer measured), and on output rows of 48 pixels or more. Shorter rows
    /// cost it a fixed few dozen nanoseconds each, which the channels-last kernel spreads over all channels (one
    /// thread, u8 output: 3×3 on 192 channels of 40×40 0.52 ms against 0.28, but 5×5 on 200 channels of 2×96 0.035
    /// against 0.067, 3×3 on 48 channels of 160×160 0.60 against 1.2).
    /// </summary>
    public static bool Prefers(Conv2dGeometry g, int width) =>
        g.OutputWidth(width) >= 48 || !DepthwiseConv.PrefersChannelsLast(g, width);

    /// <summary>
    /// Packs <paramref name="weights"/> (<c>w - zw</c>, [channel, tap]) for a depthwise <paramref name="geometry"/>, or
    /// returns null when the kernel cannot take it (stride across above 2, dilation across, a weight outside s8).
    /// </summary>
    public static DepthwiseVnni? TryCreate(Conv2dGeometry geometry, ReadOnlySpan<int> weights)
    {
        if (!geometry.IsDepthwise || geometry.StrideW > 2 || geometry.DilationW != 1)
            return null;
        foreach (int w in weights)
        {
            if (w is < sbyte.MinValue or > sbyte.MaxValue)
                return null;
        }

        int channels = geometry.InChannels, kh = geometry.KernelH, kw = geometry.KernelW, groups = (kw + 3) / 4;
        var packed = new int[channels * kh * groups];
        var rowSums = new int[channels * kh];
        for (int c = 0; c < channels; c++)
        {
            for (int r = 0; r < kh; r++)
            {
                for (int t = 0; t < kw; t++)
                {
                    int w = weights[(c * kh + r) * kw + t];
                    packed[(c * kh + r) * groups + t / 4] |= (byte)(sbyte)w << (8 * (t % 4));
                    rowSums[c * kh + r] += w;
                }
            }
        }

        return new DepthwiseVnni(geometry, packed, rowSums, groups);
    }

    /// <summary>
    /// <c>acc[n, c] = Σ_taps (x - za) * (w[c, tap] - zw[c])</c> over u8 NCHW planes, then the epilogue with channel c's
    /// entries.
    /// </summary>
    public unsafe void Run<TOut>(ReadOnlySpan<byte> input, int batch, int height, int width, int za, Int8GemmEpilogue epilogue, Span<TOut> output, int maxThreads)
        where TOut : unmanaged
    {
        var g = _geometry;
        int channels = g.InChannels, oh = g.OutputHeight(height), ow = g.OutputWidth(width), sw = g.StrideW, groups = _groups;
        int vectorWidth = (ow + Lanes - 1) / Lanes * Lanes, blockWidth = (ow + Block - 1) / Block * Block;
        // Window j + 4k / s serves the last group of output j; expansions are built a vector at a time.
        int windows = (vectorWidth + (groups - 1) * 4 / sw + Lanes - 1) / Lanes * Lanes;
        // The padded row: every byte a window reads, plus the loads' overreach.
        int paddedLength = Math.Max(sw * windows, g.PadLeft + width) + 64;
        // Slots for the input rows an output row reads, a power of two so that the slot is a mask away.
        int span = (g.KernelH - 1) * g.DilationH + 1, slots = (int)BitOperations.RoundUpToPowerOf2((uint)span), rowCount = g.KernelH * groups;
        bool requantized = VnniRequantizer.Fuses(epilogue);
        // Requantized rows are written straight to the output; other kinds go through the epilogue about ChunkValues at a
        // time, since a call per short row cost as much as its sums.
        int chunkRows = requantized ? 1 : Math.Clamp(ChunkValues / ow, 1, oh), chunkLength = (chunkRows - 1) * ow + blockWidth;
        fixed (byte* px = input)
        fixed (TOut* py = output)
        fixed (int* pw = _packed)
        fixed (int* ps = _rowSums)
        {
            nint x = (nint)px, y = (nint)py, packed = (nint)pw, sums = (nint)ps;
            // Tasks of several planes, so that small planes share one setup of the buffers.
            int planes = batch * channels, threads = maxThreads > 0 ? maxThreads : Parallelism.ThreadCount;
            int planesPerTask = Math.Max(1, planes / (4 * threads)), tasks = (planes + planesPerTask - 1) / planesPerTask;
            KernelParallel.For(tasks, (long)planes * oh * ow * g.KernelH * groups * 4, task =>
            {
                // The expanded rows (slot ih mod slots), a chunk of output rows, the padded row.
                int[] buffer = ArrayPool<int>.Shared.Rent(slots * windows + chunkLength + paddedLength / 4 + 1);
                int* held = stackalloc int[slots];
                int** runs = stackalloc int*[rowCount];
                int* runWeights = stackalloc int[rowCount];
                fixed (int* rows = buffer)
                {
                    int* result = rows + slots * windows;
                    byte* padded = (byte*)(result + chunkLength);
                    // Rows are copied into the middle; the padding stays za.
                    new Span<byte>(padded, paddedLength).Fill((byte)za);
                    for (int plane = task * planesPerTask; plane < Math.Min(planes, (task + 1) * planesPerTask); plane++)
                    {
                        int c = plane % channels;
                        new Span<int>(held, slots).Fill(-1);
                        byte* source = (byte*)x + (long)plane * height * width;
                        int* weights = (int*)packed + c * g.KernelH * groups, rowSums = (int*)sums + c * g.KernelH;
                        var sink = requantized ? new VnniRequantizer(epilogue, c) : default;
                        for (int i = 0; i < oh; i++)
                        {
                            int count = 0, start = 0;
                            for (int kh = 0; kh < g.KernelH; kh++)
                            {
                                int ih = i * g.StrideH - g.PadTop + kh * g.DilationH;
                                if ((uint)ih >= (uint)height)
                                    continue;
                                int* row = ExpandedRow(source, ih, width, g.PadLeft, sw, windows, slots, rows, held, padded);

                                start -= za * rowSums[kh];
                                for (int k = 0; k < groups; k++)
                                {
                                    runs[count] = row + (4 * k >> (sw - 1));
                                    runWeights[count++] = weights[kh * groups + k];
                                }
                            }

                            long offset = (long)plane * oh * ow + (long)i * ow;
                            if (requantized)
                            {
                                // Blocks of 32 bytes run past the row into the next one, which overwrites them; the plane's
                                // last rows go through the buffer, since the next plane may belong to another thread.
                                bool inside = (long)i * ow + blockWidth <= (long)oh * ow;
                                byte* target = inside ? (byte*)y + offset : (byte*)result;
                                Dot(runs, runWeights, count, start + sink.Bias, vectorWidth, new ByteSink(target, sink));
                                if (!inside)
                                    new ReadOnlySpan<byte>(result, ow).CopyTo(new Span<byte>((byte*)y + offset, ow));
                                continue;
                            }

                            // Each row is computed in blocks; the next row overwrites the excess.
                            int first = i - i % chunkRows;
                            Dot(runs, runWeights, count, start, vectorWidth, new IntSink(result + (i - first) * ow));
                            if (i - first == chunkRows - 1 || i == oh - 1)
                                Int8GemmOutput.WriteChannel(new Span<int>(result, (i - first + 1) * ow), epilogue, c, y, offset - (long)(i - first) * ow);
                        }
                    }
                }

                ArrayPool<int>.Shared.Return(buffer);
            }, maxThreads);
        }
    }

    /// <summary>
    /// The window expansion of row <paramref name="ih"/> of a u8 plane, kept in slot <c>ih mod slots</c> (a power of
    /// two) of <paramref name="rows"/>, <paramref name="windows"/> ints each: made (the row copied into the middle of
    /// <paramref name="padded"/>, whose padding holds <c>za</c>, then <see cref="Expand"/>) only when the slot holds
    /// another row, which <paramref name="held"/> records per slot. Shared with <see cref="DirectConvVnni"/>.
    /// </summary>
    internal static unsafe int* ExpandedRow(byte* plane, int ih, int width, int padLeft, int stride, int windows, int slots, int* rows, int* held, byte* padded)
    {
        int slot = ih & (slots - 1);
        int* row = rows + (long)slot * windows;
        if (held[slot] != ih)
        {
            new ReadOnlySpan<byte>(plane + (long)ih * width, width).CopyTo(new Span<byte>(padded + padLeft, width));
            Expand(padded, stride, windows, row);
            held[slot] = ih;
        }

        return row;
    }

    /// <summary>
    /// <c>windows[j]</c> = the four bytes <c>padded[s·j .. s·j + 3]</c>, for j below <paramref name="count"/> (a multiple
    /// of 8): two 16-byte loads per vector, each shuffled into four overlapping windows.
    /// </summary>
    private static unsafe void Expand(byte* padded, int stride, int count, int* windows)
    {
        var pattern = stride == 1
            ? Vector256.Create((byte)0, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5, 3, 4, 5, 6, 0, 1, 2, 3, 1, 2, 3, 4, 2, 3, 4, 5, 3, 4, 5, 6)
            : Vector256.Create((byte)0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7, 8, 9, 0, 1, 2, 3, 2, 3, 4, 5, 4, 5, 6, 7, 6, 7, 8, 9);
        int half = 4 * stride;
        for (int j = 0; j < count; j += Lanes)
        {
            byte* p = padded + stride * j;
            var pair = Vector256.Create(Vector128.Load(p), Vector128.Load(p + half));
            Avx2.Shuffle(pair, pattern).AsInt32().Store(windows + j);
        }
    }

    /// <summary>
    /// <c>acc[j] = start + Σ_r dot4(runs[r][j], weights[r])</c> for j below <paramref name="count"/> (a multiple of 8),
    /// handed to <paramref name="sink"/> four vectors at a time (the last block may be short; its unused vectors
    /// hold the start value), so the dot products' latency overlaps.
    /// </summary>
    private static unsafe void Dot<TSink>(int** runs, int* weights, int runCount, int start, int count, TSink sink)
        where TSink : struct, ISink
    {
        var origin = Vector256.Create(start);
        for (int j = 0; j < count; j += Block)
        {
            int left = count - j;
            Vector256<int> s0 = origin, s1 = origin, s2 = origin, s3 = origin;
            if (left >= Block)
            {
                for (int r = 0; r < runCount; r++)
                {
                    int* run = runs[r] + j;
                    var w = Vector256.Create(weights[r]).AsSByte();
                    s0 = AvxVnni.MultiplyWideningAndAdd(s0, Vector256.Load(run).AsByte(), w);
                    s1 = AvxVnni.MultiplyWideningAndAdd(s1, Vector256.Load(run + Lanes).AsByte(), w);
                    s2 = AvxVnni.MultiplyWideningAndAdd(s2, Vector256.Load(run + 2 * Lanes).AsByte(), w);
                    s3 = AvxVnni.MultiplyWideningAndAdd(s3, Vector256.Load(run + 3 * Lanes).AsByte(), w);
                }
            }
            else
            {
                // One to three vectors, as independent sums too (short rows are all tail).
                for (int r = 0; r < runCount; r++)
                {
                    int* run = runs[r] + j;
                    var w = Vector256.Create(weights[r]).AsSByte();
                    s0 = AvxVnni.MultiplyWideningAndAdd(s0, Vector256.Load(run).AsByte(), w);
                    if (left > Lanes)
                        s1 = AvxVnni.MultiplyWideningAndAdd(s1, Vector256.Load(run + Lanes).AsByte(), w);
                    if (left > 2 * Lanes)
                        s2 = AvxVnni.MultiplyWideningAndAdd(s2, Vector256.Load(run + 2 * Lanes).AsByte(), w);
                }
            }

            sink.Store(s0, s1, s2, s3, j);
        }
    }

    /// <summary>Takes a block of four vectors of sums for output pixels j .. j + 31.</summary>
    private interface ISink
    {
        void Store(Vector256<int> s0, Vector256<int> s1, Vector256<int> s2, Vector256<int> s3, int j);
    }

    /// <summary>Stores the raw sums, for the epilogue to read (room for the whole block needed).</summary>
    private readonly unsafe struct IntSink(int* acc) : ISink
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Store(Vector256<int> s0, Vector256<int> s1, Vector256<int> s2, Vector256<int> s3, int j)
        {
            s0.Store(acc + j);
            s1.Store(acc + j + Lanes);
            s2.Store(acc + j + 2 * Lanes);
            s3.Store(acc + j + 3 * Lanes);
        }
    }

    /// <summary>Requantizes a block and stores it as 32 bytes (room for the whole block needed).</summary>
    private readonly unsafe struct ByteSink(byte* target, VnniRequantizer requantizer) : ISink
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Store(Vector256<int> s0, Vector256<int> s1, Vector256<int> s2, Vector256<int> s3, int j) =>
            requantizer.Store(s0, s1, s2, s3, target + j);
    }
}
