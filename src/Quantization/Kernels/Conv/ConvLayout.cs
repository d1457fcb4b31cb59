using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.Arm;
using System.Runtime.Intrinsics.X86;
using Quantization.Kernels.Threading;

namespace Quantization.Kernels.Conv;

/// <summary>
/// Layout changes around the GEMM. The public tensors are NCHW; inside, a convolution works on NHWC so that
/// an im2col row is a few contiguous channel runs (one per kernel tap) and a 1×1 convolution needs no im2col.
/// </summary>
internal static class ConvLayout
{
    /// <summary>One image: [C, H·W] → [H·W, C].</summary>
    public static void ChannelsLast<T>(ReadOnlySpan<T> chw, int channels, int pixels, Span<T> hwc) => Transpose(chw, channels, pixels, hwc);

    /// <summary>One image: [H·W, C] → [C, H·W].</summary>
    public static void ChannelsFirst<T>(ReadOnlySpan<T> hwc, int pixels, int channels, Span<T> chw) => Transpose(hwc, pixels, channels, chw);

    /// <summary>
    /// An input row, padded with zeros, as <paramref name="stride"/> phases of <paramref name="phase"/> values each:
    /// element j of the padded row goes to phase j mod stride, position j / stride.
    /// </summary>
    public static unsafe void Phases(float* row, int width, int padLeft, int stride, int phase, float* target)
    {
        var all = new Span<float>(target, stride * phase);
        if (stride == 1)
        {
            all.Clear();
            new ReadOnlySpan<float>(row, width).CopyTo(all[padLeft..]);
            return;
        }

        all.Clear();
        if (stride == 2)
        {
            // Even columns i = 2m sit at padded position 2m + padLeft, odd ones one further.
            Deinterleave(row, width, target + padLeft % 2 * phase + padLeft / 2, target + (padLeft + 1) % 2 * phase + (padLeft + 1) / 2);
            return;
        }

        // Padded position j = i + padLeft, walked as (phase r, position q) without a division per element.
        int r = padLeft % stride, q = padLeft / stride;
        for (int i = 0; i < width; i++)
        {
            target[r * phase + q] = row[i];
            if (++r == stride)
                (r, q) = (0, q + 1);
        }
    }

    /// <summary>Splits a row into its even columns (to <paramref name="evens"/>) and odd columns (to <paramref name="odds"/>).</summary>
    private static unsafe void Deinterleave(float* row, int width, float* evens, float* odds)
    {
        int i = 0;
        if (Avx2.IsSupported)
        {
            for (; i + 16 <= width; i += 16)
            {
                var a = Avx.LoadVector256(row + i);
                var b = Avx.LoadVector256(row + i + 8);
                // Within lanes: [a0 a2 b0 b2 | a4 a6 b4 b6]; the 64-bit permute puts a's pairs before b's.
                Avx.Store(evens + i / 2, Avx2.Permute4x64(Avx.Shuffle(a, b, 0b10_00_10_00).AsDouble(), 0b11_01_10_00).AsSingle());
                Avx.Store(odds + i / 2, Avx2.Permute4x64(Avx.Shuffle(a, b, 0b11_01_11_01).AsDouble(), 0b11_01_10_00).AsSingle());
            }
        }
        else if (AdvSimd.Arm64.IsSupported)
        {
            for (; i + 8 <= width; i += 8)
            {
                var a = AdvSimd.LoadVector128(row + i);
                var b = AdvSimd.LoadVector128(row + i + 4);
                AdvSimd.Store(evens + i / 2, AdvSimd.Arm64.UnzipEven(a, b));
                AdvSimd.Store(odds + i / 2, AdvSimd.Arm64.UnzipOdd(a, b));
            }
        }

        for (; i < width; i++)
        {
            if (i % 2 == 0)
                evens[i / 2] = row[i];
            else
                odds[i / 2] = row[i];
        }
    }

    /// <summary>
    /// im2col over one NHWC image for one group: row p = (oh, ow) holds, for each tap (kh, kw) in order, the group's
    /// channels at that input pixel, or <paramref name="padValue"/> where the tap falls in the padding. Row length
    /// <see cref="Conv2dGeometry.PatchSize"/>, column order (kh, kw, c) — the order the weights are packed in.
    /// </summary>
    public static void Im2Col<T>(ReadOnlySpan<T> hwc, int height, int width, int group, Conv2dGeometry g, T padValue, Span<T> columns) =>
        Im2Col(hwc, height, width, group, g, padValue, 0, g.OutputHeight(height) * g.OutputWidth(width), columns);

    /// <summary>A chunk's GEMM: <paramref name="rows"/> im2col rows of output pixels from <paramref name="first"/> in <paramref name="columns"/>.</summary>
    public delegate void PatchChunk<T>(int group, int first, int rows, T[] columns);

    /// <summary>
    /// im2col and a GEMM by chunks of about <paramref name="chunkElements"/> values (whole blocks of
    /// <paramref name="rowBlock"/> rows), so a chunk's rows stay in L2 while its GEMM reads them, chunks (per group) spread
    /// over the threads. Built whole, a 3×3 layer's im2col matrix is 9× its image (22 MB for 96 channels at 160×160), and
    /// writing it, packing it and reading it back would go to memory three times.
    /// </summary>
    public static void ByPatchChunks<T>(T[] hwc, int height, int width, Conv2dGeometry g, T padValue, int chunkElements, int rowBlock, int maxThreads, PatchChunk<T> gemm)
    {
        int outPixels = g.OutputHeight(height) * g.OutputWidth(width), patch = g.PatchSize;
        int chunkRows = Math.Max(1, chunkElements / patch / rowBlock) * rowBlock;
        int chunks = (outPixels + chunkRows - 1) / chunkRows;
        KernelParallel.For(g.Groups * chunks, (long)outPixels * patch * g.OutChannels, task =>
        {
            int group = task / chunks, first = task % chunks * chunkRows, rows = Math.Min(chunkRows, outPixels - first);
            T[] columns = ArrayPool<T>.Shared.Rent(rows * patch);
            Im2Col<T>(hwc.AsSpan(0, height * width * g.InChannels), height, width, group, g, padValue, first, rows, columns);
            gemm(group, first, rows, columns);
            ArrayPool<T>.Shared.Return(columns);
        }, maxThreads);
    }

    /// <summary>
    /// The im2col rows of output pixels [<paramref name="firstRow"/>, firstRow + <paramref name="rows"/>) only, from row 0
    /// of <paramref name="columns"/>. Without groups or column dilation, a kernel row's taps inside the image are one
    /// contiguous run of input pixels, copied at once (a 3-channel first layer would otherwise copy 3 values per tap).
    /// </summary>
    public static void Im2Col<T>(ReadOnlySpan<T> hwc, int height, int width, int group, Conv2dGeometry g, T padValue, int firstRow, int rows, Span<T> columns)
    {
        int ow = g.OutputWidth(width);
        int cig = g.InChannelsPerGroup, channels = g.InChannels, patch = g.PatchSize, runLength = g.KernelW * cig;
        bool runs = g.Groups == 1 && g.DilationW == 1;
        if (columns.Length < rows * patch || hwc.Length < height * width * channels)
            throw new ArgumentException($"im2col of {rows} rows needs {rows * patch} columns and a {height}×{width}×{channels} image.");
        ref T image = ref MemoryMarshal.GetReference(hwc);
        ref T target = ref MemoryMarshal.GetReference(columns);
        for (int p = firstRow; p < firstRow + rows; p++)
        {
            int i = p / ow, j = p % ow, iw0 = j * g.StrideW - g.PadLeft;
            ref T row = ref Unsafe.Add(ref target, (nint)(p - firstRow) * patch);
            for (int kh = 0; kh < g.KernelH; kh++)
            {
                int ih = i * g.StrideH - g.PadTop + kh * g.DilationH;
                ref T destination = ref Unsafe.Add(ref row, kh * runLength);
                if ((uint)ih >= (uint)height)
                {
                    MemoryMarshal.CreateSpan(ref destination, runLength).Fill(padValue);
                    continue;
                }

                if (runs && iw0 >= 0 && iw0 + g.KernelW <= width)
                {
                    Copy(ref Unsafe.Add(ref image, (nint)(ih * width + iw0) * channels), ref destination, runLength);
                    continue;
                }

                for (int kw = 0; kw < g.KernelW; kw++)
                {
                    int iw = iw0 + kw * g.DilationW;
                    ref T tap = ref Unsafe.Add(ref destination, kw * cig);
                    if ((uint)iw < (uint)width)
                        Copy(ref Unsafe.Add(ref image, (nint)(ih * width + iw) * channels + group * cig), ref tap, cig);
                    else
                        MemoryMarshal.CreateSpan(ref tap, cig).Fill(padValue);
                }
            }
        }

        static void Copy(ref T source, ref T destination, int count) =>
            Unsafe.CopyBlockUnaligned(ref Unsafe.As<T, byte>(ref destination), ref Unsafe.As<T, byte>(ref source), (uint)(count * Unsafe.SizeOf<T>()));
    }

    /// <summary>
    /// Reorders PyTorch weights [co, ci, kh, kw] of one group into rows [co, (kh, kw, ci)], the im2col column order.
    /// </summary>
    public static T[] WeightsToTapMajor<T>(ReadOnlySpan<T> weights, int group, Conv2dGeometry g)
    {
        int cog = g.OutChannelsPerGroup, cig = g.InChannelsPerGroup, taps = g.KernelH * g.KernelW;
        var result = new T[cog * g.PatchSize];
        for (int co = 0; co < cog; co++)
        {
            int source = (group * cog + co) * cig * taps;
            for (int c = 0; c < cig; c++)
            {
                for (int t = 0; t < taps; t++)
                    result[co * g.PatchSize + t * cig + c] = weights[source + c * taps + t];
            }
        }

        return result;
    }

    /// <summary>
    /// col2im for a transposed convolution: adds each input pixel's per-tap contributions (row p = input pixel, columns
    /// (tap, output channel of the group)) into the NHWC output pixels they land on.
    /// </summary>
    public static void ColumnsToImage<T>(ReadOnlySpan<T> contributions, int height, int width, int group, ConvTranspose2dGeometry g, Span<T> sums)
        where T : System.Numerics.IAdditionOperators<T, T, T>, System.Numerics.IAdditiveIdentity<T, T>
    {
        int oh = g.OutputHeight(height), ow = g.OutputWidth(width), cog = g.OutChannelsPerGroup, columns = g.Taps * cog;
        for (int i = 0; i < height; i++)
        {
            for (int j = 0; j < width; j++)
            {
                ReadOnlySpan<T> pixel = contributions.Slice((i * width + j) * columns, columns);
                for (int kh = 0; kh < g.KernelH; kh++)
                {
                    int o = i * g.StrideH - g.PadTop + kh * g.DilationH;
                    if ((uint)o >= (uint)oh)
                        continue;
                    for (int kw = 0; kw < g.KernelW; kw++)
                    {
                        int p = j * g.StrideW - g.PadLeft + kw * g.DilationW;
                        if ((uint)p >= (uint)ow)
                            continue;
                        Span<T> target = sums.Slice((o * ow + p) * g.OutChannels + group * cog, cog);
                        System.Numerics.Tensors.TensorPrimitives.Add(target, pixel.Slice((kh * g.KernelW + kw) * cog, cog), target);
                    }
                }
            }
        }
    }

    /// <summary>
    /// Transposes a rows × cols matrix. The layout changes around a convolution move as many bytes as a small layer's
    /// GEMM reads, so bytes go through 16×16 register transposes (edge blocks included, see <see cref="TransposeBytes"/>)
    /// and 4-byte elements through 4×4 ones; the 4-byte edges that do not fill a block, and other element sizes, take
    /// the scalar loop. Nothing past <c>rows × cols</c> of <paramref name="destination"/> is written.
    /// </summary>
    internal static void Transpose<T>(ReadOnlySpan<T> source, int rows, int cols, Span<T> destination)
    {
        if (source.Length < (long)rows * cols || destination.Length < (long)rows * cols)
            throw new ArgumentException($"A {rows}×{cols} transpose needs {(long)rows * cols} values in and out.");
        int block = Unsafe.SizeOf<T>() switch { 1 => 16, 4 => 4, _ => 0 };
        if (block == 0 || !(Sse2.IsSupported || AdvSimd.Arm64.IsSupported))
        {
            TransposeScalar(source, rows, cols, destination, 0, rows, 0, cols);
            return;
        }

        if (block == 16)
        {
            TransposeBytes(MemoryMarshal.CreateReadOnlySpan(ref Unsafe.As<T, byte>(ref MemoryMarshal.GetReference(source)), source.Length), rows, cols,
                MemoryMarshal.CreateSpan(ref Unsafe.As<T, byte>(ref MemoryMarshal.GetReference(destination)), destination.Length));
            return;
        }

        int fullRows = rows - rows % block, fullCols = cols - cols % block;
        ref byte src = ref Unsafe.As<T, byte>(ref MemoryMarshal.GetReference(source));
        ref byte dst = ref Unsafe.As<T, byte>(ref MemoryMarshal.GetReference(destination));
        if (rows <= cols)
        {
            // Long output columns are short here: block by block, reading along the source rows.
            for (int r = 0; r < fullRows; r += block)
            {
                for (int c = 0; c < fullCols; c += block)
                    Transpose4x4(ref Unsafe.Add(ref src, ((nint)r * cols + c) * 4), cols * 4, ref Unsafe.Add(ref dst, ((nint)c * rows + r) * 4), rows * 4);
            }
        }
        else
        {
            // A tall source (NHWC back to NCHW): output rows far apart, which 4 KiB multiples alias in the cache, so four
            // blocks down at a time through an L1 strip give each output row 64 contiguous bytes (see TransposeBytes).
            Span<byte> strip = stackalloc byte[4 * 64];
            for (int c = 0; c < fullCols; c += block)
            {
                int r = 0;
                for (; r + 16 <= fullRows; r += 16)
                {
                    for (int b = 0; b < 16; b += 4)
                        Transpose4x4(ref Unsafe.Add(ref src, ((nint)(r + b) * cols + c) * 4), cols * 4, ref strip[b * 4], 64);
                    for (int i = 0; i < 4; i++)
                        Unsafe.CopyBlockUnaligned(ref Unsafe.Add(ref dst, ((nint)(c + i) * rows + r) * 4), ref strip[i * 64], 64);
                }

                for (; r < fullRows; r += block)
                    Transpose4x4(ref Unsafe.Add(ref src, ((nint)r * cols + c) * 4), cols * 4, ref Unsafe.Add(ref dst, ((nint)c * rows + r) * 4), rows * 4);
            }
        }

        TransposeScalar(source, rows, cols, destination, 0, fullRows, fullCols, cols);
        TransposeScalar(source, rows, cols, destination, fullRows, rows, 0, cols);
    }

    /// <summary>
    /// The byte transpose in 16×16 blocks, edges included: channel counts such as 3, 12 or 24 leave most or part of
    /// an image in edge blocks, which a scalar loop made the slowest part of a small convolution. An edge block loads
    /// the rows it has (reading on into the next row is harmless), transposes a full block, and stores the columns it
    /// has as whole 16-byte rows: the bytes past a short row land in the next output rows' starts, which are written
    /// later (a row's edge block goes first, and stores go in increasing order), and the last stores, which would
    /// leave the matrix, go through a stack copy.
    /// </summary>
    private static void TransposeBytes(ReadOnlySpan<byte> source, int rows, int cols, Span<byte> destination)
    {
        int tailRows = rows % 16, fullRows = rows - tailRows;
        ref byte src = ref MemoryMarshal.GetReference(source);
        ref byte dst = ref MemoryMarshal.GetReference(destination);
        Span<byte> strip = stackalloc byte[16 * 64];
        for (int c = 0; c < cols; c += 16)
        {
            int width = Math.Min(16, cols - c);
            if (tailRows > 0)
                EdgeBlock(source, rows, cols, fullRows, tailRows, c, width, destination, strip);
            int r = 0;
            if (width == 16)
            {
                // Four blocks at a time through an L1 strip, so each output row gets 64 contiguous bytes at once: with
                // the row length a multiple of 4 KiB (320×320 pixels), 16 rows of partly written lines share one
                // cache set and evict each other.
                for (; r + 64 <= fullRows; r += 64)
                {
                    for (int b = 0; b < 64; b += 16)
                        Transpose16x16(ref Unsafe.Add(ref src, (nint)(r + b) * cols + c), cols, ref strip[b], 64);
                    for (int i = 0; i < 16; i++)
                        Unsafe.CopyBlockUnaligned(ref Unsafe.Add(ref dst, (nint)(c + i) * rows + r), ref strip[i * 64], 64);
                }
            }

            for (; r < fullRows; r += 16)
            {
                if (width == 16)
                    Transpose16x16(ref Unsafe.Add(ref src, (nint)r * cols + c), cols, ref Unsafe.Add(ref dst, (nint)c * rows + r), rows);
                else
                    EdgeBlock(source, rows, cols, r, 16, c, width, destination, strip);
            }
        }

        static void EdgeBlock(ReadOnlySpan<byte> source, int rows, int cols, int r0, int height, int c0, int width, Span<byte> destination, Span<byte> tile)
        {
            // Rows past the edge stay as they are: they become the lanes that spill over or are not copied.
            ref byte t = ref tile[0];
            ref byte src = ref MemoryMarshal.GetReference(source);
            ref byte dst = ref MemoryMarshal.GetReference(destination);
            for (int r = 0; r < height; r++)
            {
                int start = (r0 + r) * cols + c0;
                if (start + 16 <= source.Length)
                    Vector128.LoadUnsafe(ref src, (nuint)start).StoreUnsafe(ref t, (nuint)(r * 16));
                else
                    source.Slice(start, width).CopyTo(tile.Slice(r * 16, width));
            }

            Transpose16x16(ref t, 16, ref t, 16);
            int length = rows * cols;
            for (int c = 0; c < width; c++)
            {
                int start = (c0 + c) * rows + r0;
                if (start + 16 <= length)
                    Vector128.LoadUnsafe(ref t, (nuint)(c * 16)).StoreUnsafe(ref dst, (nuint)start);
                else
                    tile.Slice(c * 16, height).CopyTo(destination.Slice(start, height));
            }
        }
    }

    /// <summary>The scalar transpose of the sub-block [r0, r1) × [c0, c1), in 32×32 tiles.</summary>
    private static void TransposeScalar<T>(ReadOnlySpan<T> source, int rows, int cols, Span<T> destination, int r0, int r1, int c0, int c1)
    {
        const int Tile = 32;
        for (int rt = r0; rt < r1; rt += Tile)
        {
            for (int ct = c0; ct < c1; ct += Tile)
            {
                for (int c = ct; c < Math.Min(c1, ct + Tile); c++)
                {
                    for (int r = rt; r < Math.Min(r1, rt + Tile); r++)
                        destination[c * rows + r] = source[r * cols + c];
                }
            }
        }
    }

    /// <summary>
    /// 16×16 bytes: four rounds of interleaving pairs of registers at 8, 16, 32 and 64 bits. After round k each lane
    /// of 2^k bytes holds one column's values from 2^k consecutive rows; after the fourth a register is one column.
    /// </summary>
    private static void Transpose16x16(ref byte source, int sourceStride, ref byte destination, int destinationStride)
    {
        // Unrolled into locals so that all 16 rows stay in registers (32 on x64 with AVX-512, 32 on ARM64).
        var r0 = Vector128.LoadUnsafe(ref source);
        var r1 = Vector128.LoadUnsafe(ref source, (nuint)(1 * sourceStride));
        var r2 = Vector128.LoadUnsafe(ref source, (nuint)(2 * sourceStride));
        var r3 = Vector128.LoadUnsafe(ref source, (nuint)(3 * sourceStride));
        var r4 = Vector128.LoadUnsafe(ref source, (nuint)(4 * sourceStride));
        var r5 = Vector128.LoadUnsafe(ref source, (nuint)(5 * sourceStride));
        var r6 = Vector128.LoadUnsafe(ref source, (nuint)(6 * sourceStride));
        var r7 = Vector128.LoadUnsafe(ref source, (nuint)(7 * sourceStride));
        var r8 = Vector128.LoadUnsafe(ref source, (nuint)(8 * sourceStride));
        var r9 = Vector128.LoadUnsafe(ref source, (nuint)(9 * sourceStride));
        var r10 = Vector128.LoadUnsafe(ref source, (nuint)(10 * sourceStride));
        var r11 = Vector128.LoadUnsafe(ref source, (nuint)(11 * sourceStride));
        var r12 = Vector128.LoadUnsafe(ref source, (nuint)(12 * sourceStride));
        var r13 = Vector128.LoadUnsafe(ref source, (nuint)(13 * sourceStride));
        var r14 = Vector128.LoadUnsafe(ref source, (nuint)(14 * sourceStride));
        var r15 = Vector128.LoadUnsafe(ref source, (nuint)(15 * sourceStride));
        var a0 = ZipLow(r0, r1).AsUInt16();
        var a1 = ZipHigh(r0, r1).AsUInt16();
        var a2 = ZipLow(r2, r3).AsUInt16();
        var a3 = ZipHigh(r2, r3).AsUInt16();
        var a4 = ZipLow(r4, r5).AsUInt16();
        var a5 = ZipHigh(r4, r5).AsUInt16();
        var a6 = ZipLow(r6, r7).AsUInt16();
        var a7 = ZipHigh(r6, r7).AsUInt16();
        var a8 = ZipLow(r8, r9).AsUInt16();
        var a9 = ZipHigh(r8, r9).AsUInt16();
        var a10 = ZipLow(r10, r11).AsUInt16();
        var a11 = ZipHigh(r10, r11).AsUInt16();
        var a12 = ZipLow(r12, r13).AsUInt16();
        var a13 = ZipHigh(r12, r13).AsUInt16();
        var a14 = ZipLow(r14, r15).AsUInt16();
        var a15 = ZipHigh(r14, r15).AsUInt16();
        var b0 = ZipLow(a0, a2).AsUInt32();
        var b1 = ZipHigh(a0, a2).AsUInt32();
        var b2 = ZipLow(a1, a3).AsUInt32();
        var b3 = ZipHigh(a1, a3).AsUInt32();
        var b4 = ZipLow(a4, a6).AsUInt32();
        var b5 = ZipHigh(a4, a6).AsUInt32();
        var b6 = ZipLow(a5, a7).AsUInt32();
        var b7 = ZipHigh(a5, a7).AsUInt32();
        var b8 = ZipLow(a8, a10).AsUInt32();
        var b9 = ZipHigh(a8, a10).AsUInt32();
        var b10 = ZipLow(a9, a11).AsUInt32();
        var b11 = ZipHigh(a9, a11).AsUInt32();
        var b12 = ZipLow(a12, a14).AsUInt32();
        var b13 = ZipHigh(a12, a14).AsUInt32();
        var b14 = ZipLow(a13, a15).AsUInt32();
        var b15 = ZipHigh(a13, a15).AsUInt32();
        var c0 = ZipLow(b0, b4).AsUInt64();
        var c1 = ZipHigh(b0, b4).AsUInt64();
        var c2 = ZipLow(b1, b5).AsUInt64();
        var c3 = ZipHigh(b1, b5).AsUInt64();
        var c4 = ZipLow(b2, b6).AsUInt64();
        var c5 = ZipHigh(b2, b6).AsUInt64();
        var c6 = ZipLow(b3, b7).AsUInt64();
        var c7 = ZipHigh(b3, b7).AsUInt64();
        var c8 = ZipLow(b8, b12).AsUInt64();
        var c9 = ZipHigh(b8, b12).AsUInt64();
        var c10 = ZipLow(b9, b13).AsUInt64();
        var c11 = ZipHigh(b9, b13).AsUInt64();
        var c12 = ZipLow(b10, b14).AsUInt64();
        var c13 = ZipHigh(b10, b14).AsUInt64();
        var c14 = ZipLow(b11, b15).AsUInt64();
        var c15 = ZipHigh(b11, b15).AsUInt64();
        ZipLow(c0, c8).AsByte().StoreUnsafe(ref destination);
        ZipHigh(c0, c8).AsByte().StoreUnsafe(ref destination, (nuint)(1 * destinationStride));
        ZipLow(c1, c9).AsByte().StoreUnsafe(ref destination, (nuint)(2 * destinationStride));
        ZipHigh(c1, c9).AsByte().StoreUnsafe(ref destination, (nuint)(3 * destinationStride));
        ZipLow(c2, c10).AsByte().StoreUnsafe(ref destination, (nuint)(4 * destinationStride));
        ZipHigh(c2, c10).AsByte().StoreUnsafe(ref destination, (nuint)(5 * destinationStride));
        ZipLow(c3, c11).AsByte().StoreUnsafe(ref destination, (nuint)(6 * destinationStride));
        ZipHigh(c3, c11).AsByte().StoreUnsafe(ref destination, (nuint)(7 * destinationStride));
        ZipLow(c4, c12).AsByte().StoreUnsafe(ref destination, (nuint)(8 * destinationStride));
        ZipHigh(c4, c12).AsByte().StoreUnsafe(ref destination, (nuint)(9 * destinationStride));
        ZipLow(c5, c13).AsByte().StoreUnsafe(ref destination, (nuint)(10 * destinationStride));
        ZipHigh(c5, c13).AsByte().StoreUnsafe(ref destination, (nuint)(11 * destinationStride));
        ZipLow(c6, c14).AsByte().StoreUnsafe(ref destination, (nuint)(12 * destinationStride));
        ZipHigh(c6, c14).AsByte().StoreUnsafe(ref destination, (nuint)(13 * destinationStride));
        ZipLow(c7, c15).AsByte().StoreUnsafe(ref destination, (nuint)(14 * destinationStride));
        ZipHigh(c7, c15).AsByte().StoreUnsafe(ref destination, (nuint)(15 * destinationStride));
    }

    /// <summary>4×4 of 4-byte elements: interleave at 32 then 64 bits. Strides are in bytes.</summary>
    private static void Transpose4x4(ref byte source, int sourceStride, ref byte destination, int destinationStride)
    {
        var r0 = Vector128.LoadUnsafe(ref source).AsUInt32();
        var r1 = Vector128.LoadUnsafe(ref source, (nuint)sourceStride).AsUInt32();
        var r2 = Vector128.LoadUnsafe(ref source, (nuint)(2 * sourceStride)).AsUInt32();
        var r3 = Vector128.LoadUnsafe(ref source, (nuint)(3 * sourceStride)).AsUInt32();
        var a0 = ZipLow(r0, r1).AsUInt64();
        var a1 = ZipHigh(r0, r1).AsUInt64();
        var a2 = ZipLow(r2, r3).AsUInt64();
        var a3 = ZipHigh(r2, r3).AsUInt64();
        ZipLow(a0, a2).AsByte().StoreUnsafe(ref destination);
        ZipHigh(a0, a2).AsByte().StoreUnsafe(ref destination, (nuint)destinationStride);
        ZipLow(a1, a3).AsByte().StoreUnsafe(ref destination, (nuint)(2 * destinationStride));
        ZipHigh(a1, a3).AsByte().StoreUnsafe(ref destination, (nuint)(3 * destinationStride));
    }

    /// <summary>Interleaves the low halves' lanes: a0 b0 a1 b1 ... (x86 <c>punpckl*</c>, ARM <c>zip1</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<TLane> ZipLow<TLane>(Vector128<TLane> a, Vector128<TLane> b)
        where TLane : unmanaged
    {
        if (typeof(TLane) == typeof(byte))
            return (Sse2.IsSupported ? Sse2.UnpackLow(a.AsByte(), b.AsByte()) : AdvSimd.Arm64.ZipLow(a.AsByte(), b.AsByte())).As<byte, TLane>();
        if (typeof(TLane) == typeof(ushort))
            return (Sse2.IsSupported ? Sse2.UnpackLow(a.AsUInt16(), b.AsUInt16()) : AdvSimd.Arm64.ZipLow(a.AsUInt16(), b.AsUInt16())).As<ushort, TLane>();
        if (typeof(TLane) == typeof(uint))
            return (Sse2.IsSupported ? Sse2.UnpackLow(a.AsUInt32(), b.AsUInt32()) : AdvSimd.Arm64.ZipLow(a.AsUInt32(), b.AsUInt32())).As<uint, TLane>();
        return (Sse2.IsSupported ? Sse2.UnpackLow(a.AsUInt64(), b.AsUInt64()) : AdvSimd.Arm64.ZipLow(a.AsUInt64(), b.AsUInt64())).As<ulong, TLane>();
    }

    /// <summary>Interleaves the high halves' lanes (x86 <c>punpckh*</c>, ARM <c>zip2</c>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector128<TLane> ZipHigh<TLane>(Vector128<TLane> a, Vector128<TLane> b)
        where TLane : unmanaged
    {
        if (typeof(TLane) == typeof(byte))
            return (Sse2.IsSupported ? Sse2.UnpackHigh(a.AsByte(), b.AsByte()) : AdvSimd.Arm64.ZipHigh(a.AsByte(), b.AsByte())).As<byte, TLane>();
        if (typeof(TLane) == typeof(ushort))
            return (Sse2.IsSupported ? Sse2.UnpackHigh(a.AsUInt16(), b.AsUInt16()) : AdvSimd.Arm64.ZipHigh(a.AsUInt16(), b.AsUInt16())).As<ushort, TLane>();
        if (typeof(TLane) == typeof(uint))
            return (Sse2.IsSupported ? Sse2.UnpackHigh(a.AsUInt32(), b.AsUInt32()) : AdvSimd.Arm64.ZipHigh(a.AsUInt32(), b.AsUInt32())).As<uint, TLane>();
        return (Sse2.IsSupported ? Sse2.UnpackHigh(a.AsUInt64(), b.AsUInt64()) : AdvSimd.Arm64.ZipHigh(a.AsUInt64(), b.AsUInt64())).As<ulong, TLane>();
    }
}
