using System.Buffers;
using System.Numerics;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Quantization.Kernels.Gemm;
using Quantization.Kernels.Threading;

namespace Quantization.Kernels.Conv;

/// <summary>
/// A regular (ungrouped) INT8 convolution on AVX-VNNI straight on the NCHW planes, requantized output only, built
/// like <see cref="DepthwiseVnni"/>: every input row of every channel is padded with <c>za</c> and expanded once into
/// four-tap windows, and an output row of four output channels sums, per input channel and kernel row, one
/// <c>vpdpbusd</c> per vector of 8 pixels and run of four taps. No im2col, no NHWC transposes, no packing of the image:
/// the GEMM path's costs that dominate layers with few output channels or few input channels. The same sums, bit for bit.
/// </summary>
/// <remarks>
/// A tile is four output channels by 32 pixels, 16 sums in registers; each step loads four vectors of windows and
/// broadcasts four weights. Output rows are split across threads in bands, each with its own ring of expanded rows.
/// Takes strides 1 and 2 across, no dilation across, and weights that fit s8 once their zero point is subtracted.
/// </remarks>
internal sealed class DirectConvVnni
{
    private const int Lanes = 8;

    /// <summary>Output pixels per tile: four vectors.</summary>
    private const int Block = 4 * Lanes;

    /// <summary>Output channels per tile.</summary>
    private const int Rows = 4;

    private readonly Conv2dGeometry _geometry;

    /// <summary>Runs of four taps per kernel row.</summary>
    private readonly int _groups;

    /// <summary>[co block][ci][kernel row][run][4 output channels]: four s8 weights (<c>w - zw</c>) as an int.</summary>
    private readonly int[] _packed;

    /// <summary>[co][ci][kernel row]: the sum of that row's weights.</summary>
    private readonly int[] _rowSums;

    private readonly VnniRequantizerCache _requantizers = new();

    private DirectConvVnni(Conv2dGeometry geometry, int groups, int[] packed, int[] rowSums)
    {
        _geometry = geometry;
        _groups = groups;
        _packed = packed;
        _rowSums = rowSums;
    }

    /// <summary>Whether this CPU runs the kernel.</summary>
    public static bool IsSupported => AvxVnni.IsSupported;

    /// <summary>
    /// Whether this kernel beats the GEMM path on an ungrouped layer: with up to 16 input channels, where im2col rows are
    /// short and the GEMM path's layout work outweighs its arithmetic (one thread, u8 output: 3 → 8 channels 3×3 stride 2
    /// over 48×192 0.012 ms against 0.085, 3 → 16 over 640×640 0.70 against 4.2, 16 → 16 3×3 over 160×160 0.81 against
    /// 1.5). With more input channels the GEMM's 512-bit kernels catch up and then win: 96 → 24 3×3 over 160×160 4.8
    /// against 5.0, over 80×80 1.6 against 1.1; 64 → 64 over 40×40 1.5 against 0.36.
    /// </summary>
    public static bool Prefers(Conv2dGeometry g) => g.Groups == 1 && !g.IsPointwise && g.InChannels <= 16;

    /// <summary>
    /// Packs the weights (s8 [outChannels, inChannels, kernelH, kernelW], one zero point or one per output channel) of an
    /// ungrouped convolution, or returns null when the kernel cannot take it (groups, stride across above 2, dilation
    /// across, a weight outside s8 once its zero point is subtracted).
    /// </summary>
    public static DirectConvVnni? TryCreate(Conv2dGeometry geometry, ReadOnlySpan<sbyte> weights, ReadOnlySpan<int> weightZeroPoints)
    {
        if (geometry.Groups != 1 || geometry.StrideW > 2 || geometry.DilationW != 1)
            return null;
        int co = geometry.OutChannels, ci = geometry.InChannels, kh = geometry.KernelH, kw = geometry.KernelW, groups = (kw + 3) / 4;
        var packed = new int[(co + Rows - 1) / Rows * ci * kh * groups * Rows];
        var rowSums = new int[co * ci * kh];
        for (int o = 0; o < co; o++)
        {
            int zw = weightZeroPoints.Length == 1 ? weightZeroPoints[0] : weightZeroPoints[o];
            for (int c = 0; c < ci; c++)
            {
                for (int r = 0; r < kh; r++)
                {
                    for (int t = 0; t < kw; t++)
                    {
                        int w = weights[((o * ci + c) * kh + r) * kw + t] - zw;
                        if (w is < sbyte.MinValue or > sbyte.MaxValue)
                            return null;
                        int run = (((o / Rows * ci + c) * kh + r) * groups + t / 4) * Rows + o % Rows;
                        packed[run] |= (byte)(sbyte)w << (8 * (t % 4));
                        rowSums[(o * ci + c) * kh + r] += w;
                    }
                }
            }
        }

        return new DirectConvVnni(geometry, groups, packed, rowSums);
    }

    /// <summary>
    /// <c>y[n, co] = requantize(Σ_{ci, taps} (x - za) · (w - zw[co]))</c> over u8 NCHW images;
    /// <paramref name="epilogue"/> must requantize (<see cref="VnniRequantizer.Fuses"/>).
    /// </summary>
    public unsafe void Run<TOut>(ReadOnlySpan<byte> input, int batch, int height, int width, int za, Int8GemmEpilogue epilogue, Span<TOut> output, int maxThreads)
        where TOut : unmanaged
    {
        var g = _geometry;
        int ci = g.InChannels, co = g.OutChannels, oh = g.OutputHeight(height), ow = g.OutputWidth(width), sw = g.StrideW, groups = _groups;
        int vectorWidth = (ow + Block - 1) / Block * Block;
        int windows = (vectorWidth + (groups - 1) * 4 / sw + Lanes - 1) / Lanes * Lanes;
        int paddedLength = Math.Max(sw * windows, g.PadLeft + width) + 64;
        int span = (g.KernelH - 1) * g.DilationH + 1, slots = (int)BitOperations.RoundUpToPowerOf2((uint)span);
        int runCapacity = ci * g.KernelH * groups;
        var requantizers = _requantizers.For(epilogue, co);
        int threads = KernelParallel.ThreadsFor((long)batch * co * oh * ow * runCapacity * 4, oh, maxThreads > 0 ? maxThreads : Parallelism.ThreadCount);
        // A few bands per thread balance the load; each band re-expands the rows its first output row reads.
        int bands = threads <= 1 ? 1 : Math.Min(oh, 4 * threads), bandRows = (oh + bands - 1) / bands;
        fixed (byte* px = input)
        fixed (TOut* py = output)
        fixed (int* pw = _packed)
        fixed (int* ps = _rowSums)
        {
            nint x = (nint)px, y = (nint)py, packed = (nint)pw, sums = (nint)ps;
            for (int image = 0; image < batch; image++)
            {
                byte* source = (byte*)x + (long)image * ci * height * width;
                byte* target = (byte*)y + (long)image * co * oh * ow;
                KernelParallel.For(bands, (long)co * oh * ow * runCapacity * 4, band =>
                {
                    // Per input channel, the expanded rows (slot ih mod slots); then the padded row, then a spill row per tile row.
                    int[] buffer = ArrayPool<int>.Shared.Rent(ci * slots * windows + paddedLength / 4 + 1 + Rows * Block / 4);
                    int[] heldRows = ArrayPool<int>.Shared.Rent(ci * slots);
                    int** runs = stackalloc int*[runCapacity];
                    int* runWeights = stackalloc int[runCapacity];
                    int* runSums = stackalloc int[runCapacity];
                    Span<int> starts = stackalloc int[Rows];
                    heldRows.AsSpan(0, ci * slots).Fill(-1);
                    fixed (int* rows = buffer, held = heldRows)
                    {
                        byte* padded = (byte*)(rows + ci * slots * windows);
                        byte* spill = padded + (paddedLength / 4 + 1) * 4;
                        new Span<byte>(padded, paddedLength).Fill((byte)za);
                        for (int i = band * bandRows; i < Math.Min(oh, (band + 1) * bandRows); i++)
                        {
                            int count = 0;
                            for (int c = 0; c < ci; c++)
                            {
                                for (int kh = 0; kh < g.KernelH; kh++)
                                {
                                    int ih = i * g.StrideH - g.PadTop + kh * g.DilationH;
                                    if ((uint)ih >= (uint)height)
                                        continue;
                                    int* row = DepthwiseVnni.ExpandedRow(source + (long)c * height * width, ih, width, g.PadLeft, sw, windows, slots,
                                        rows + (long)c * slots * windows, held + c * slots, padded);

                                    for (int k = 0; k < groups; k++)
                                    {
                                        runs[count] = row + (4 * k >> (sw - 1));
                                        runWeights[count] = ((c * g.KernelH + kh) * groups + k) * Rows;
                                        runSums[count++] = k == 0 ? c * g.KernelH + kh : -1;
                                    }
                                }
                            }

                            for (int o = 0; o < co; o += Rows)
                            {
                                int* w = (int*)packed + (long)o / Rows * runCapacity * Rows;
                                for (int r = 0; r < Rows && o + r < co; r++)
                                {
                                    int* rowSums = (int*)sums + (long)(o + r) * ci * g.KernelH;
                                    int start = requantizers[o + r].Bias;
                                    for (int run = 0; run < count; run++)
                                    {
                                        if (runSums[run] >= 0)
                                            start -= za * rowSums[runSums[run]];
                                    }

                                    starts[r] = start;
                                }

                                Tile(runs, runWeights, count, w, starts, requantizers, o, Math.Min(Rows, co - o), ow, target + ((long)o * oh + i) * ow, (long)oh * ow, spill);
                            }
                        }
                    }

                    ArrayPool<int>.Shared.Return(buffer);
                    ArrayPool<int>.Shared.Return(heldRows);
                }, maxThreads);
            }
        }
    }

    /// <summary>
    /// One output row of up to four output channels (<paramref name="rows"/>, from <paramref name="o"/>; planes
    /// <paramref name="planeStride"/> bytes apart), <paramref name="ow"/> pixels, 32 at a time: each sum starts from its
    /// channel's entry of <paramref name="starts"/> (four, used or not) and adds, per run r, the dot products of
    /// <c>runs[r]</c> with the four weights at <c>weights + runWeights[r]</c>. The last, partial block goes through
    /// <paramref name="spill"/>, since the bytes after a row belong to the next row or plane. <see cref="PointwiseVnni"/>
    /// runs its tiles here too, its runs being fours of input channels.
    /// </summary>
    internal static unsafe void Tile(int** runs, int* runWeights, int count, int* weights, ReadOnlySpan<int> starts, VnniRequantizer[] requantizers,
        int o, int rows, int ow, byte* target, long planeStride, byte* spill)
    {
        var o0 = Vector256.Create(starts[0]);
        var o1 = Vector256.Create(starts[1]);
        var o2 = Vector256.Create(starts[2]);
        var o3 = Vector256.Create(starts[3]);
        for (int p = 0; p < ow; p += Block)
        {
            Vector256<int> s00 = o0, s01 = o0, s02 = o0, s03 = o0, s10 = o1, s11 = o1, s12 = o1, s13 = o1;
            Vector256<int> s20 = o2, s21 = o2, s22 = o2, s23 = o2, s30 = o3, s31 = o3, s32 = o3, s33 = o3;
            for (int r = 0; r < count; r++)
            {
                int* x = runs[r] + p;
                int* w = weights + runWeights[r];
                var x0 = Vector256.Load(x).AsByte();
                var x1 = Vector256.Load(x + Lanes).AsByte();
                var x2 = Vector256.Load(x + 2 * Lanes).AsByte();
                var x3 = Vector256.Load(x + 3 * Lanes).AsByte();
                var w0 = Vector256.Create(w[0]).AsSByte();
                s00 = AvxVnni.MultiplyWideningAndAdd(s00, x0, w0);
                s01 = AvxVnni.MultiplyWideningAndAdd(s01, x1, w0);
                s02 = AvxVnni.MultiplyWideningAndAdd(s02, x2, w0);
                s03 = AvxVnni.MultiplyWideningAndAdd(s03, x3, w0);
                var w1 = Vector256.Create(w[1]).AsSByte();
                s10 = AvxVnni.MultiplyWideningAndAdd(s10, x0, w1);
                s11 = AvxVnni.MultiplyWideningAndAdd(s11, x1, w1);
                s12 = AvxVnni.MultiplyWideningAndAdd(s12, x2, w1);
                s13 = AvxVnni.MultiplyWideningAndAdd(s13, x3, w1);
                var w2 = Vector256.Create(w[2]).AsSByte();
                s20 = AvxVnni.MultiplyWideningAndAdd(s20, x0, w2);
                s21 = AvxVnni.MultiplyWideningAndAdd(s21, x1, w2);
                s22 = AvxVnni.MultiplyWideningAndAdd(s22, x2, w2);
                s23 = AvxVnni.MultiplyWideningAndAdd(s23, x3, w2);
                var w3 = Vector256.Create(w[3]).AsSByte();
                s30 = AvxVnni.MultiplyWideningAndAdd(s30, x0, w3);
                s31 = AvxVnni.MultiplyWideningAndAdd(s31, x1, w3);
                s32 = AvxVnni.MultiplyWideningAndAdd(s32, x2, w3);
                s33 = AvxVnni.MultiplyWideningAndAdd(s33, x3, w3);
            }

            bool whole = p + Block <= ow;
            byte* at = whole ? target + p : spill;
            long stride = whole ? planeStride : Block;
            requantizers[o].Store(s00, s01, s02, s03, at);
            if (rows > 1)
                requantizers[o + 1].Store(s10, s11, s12, s13, at + stride);
            if (rows > 2)
                requantizers[o + 2].Store(s20, s21, s22, s23, at + 2 * stride);
            if (rows > 3)
                requantizers[o + 3].Store(s30, s31, s32, s33, at + 3 * stride);
            if (!whole)
            {
                for (int r = 0; r < rows; r++)
                    new ReadOnlySpan<byte>(spill + r * Block, ow - p).CopyTo(new Span<byte>(target + r * planeStride + p, ow - p));
            }
        }
    }
}
