using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Quantization.Kernels.Gemm;
using Quantization.Kernels.Threading;

namespace Quantization.Kernels.Conv;

/// <summary>
/// Depthwise convolutions (one filter per channel), FP32 and INT8, by two kernels each. The plane kernels work on the
/// NCHW planes with no layout change: each input row is copied once into a zero-padded buffer split into column
/// phases, so every tap of an output row is a contiguous run, and each vector of output pixels sums its taps in a
/// register; planes are split across threads. The channels-last kernels vectorize across the channels of a padded
/// NHWC copy and win where rows are short or channels many (<see cref="PrefersChannelsLastFp32"/>,
/// <see cref="PrefersChannelsLast"/>).
/// </summary>
internal static class DepthwiseConv
{
    /// <summary>
    /// FP32: <c>y[n, c] = act(bias[c] + Σ_taps w[c, tap] x[n, c, shifted by the tap])</c>; weights [channels, kh·kw] as
    /// PyTorch stores them. Each output is summed in tap order, starting from 0 (a tap in the padding adds 0 · w), then
    /// the bias is added: the sums of <see cref="Fp32ChannelsLast"/>, bit for bit.
    /// </summary>
    /// <remarks>
    /// Each input row a plane's output rows read is copied once into a zero-padded buffer, split into its column phases
    /// when the stride is above 1 (<see cref="ConvLayout.Phases"/>), and kept while later output rows read it. A tap of
    /// an output row is then a contiguous run of that buffer, and each vector of output pixels sums all its taps in a
    /// register: one store per output instead of a read and a write of the row per tap. Rows are computed to a whole
    /// number of vectors and only their first <c>ow</c> pixels copied out, so there is no tail.
    /// </remarks>
    public static unsafe void Fp32(ReadOnlySpan<float> input, int batch, int height, int width, Conv2dGeometry g, float[] weights,
        ReadOnlySpan<float> bias, float lo, float hi, bool clamp, Span<float> output, int maxThreads)
    {
        int channels = g.InChannels, oh = g.OutputHeight(height), ow = g.OutputWidth(width), taps = g.KernelH * g.KernelW;
        int lanes = Vector512.IsHardwareAccelerated ? Vector512<float>.Count : Vector<float>.Count;
        int sw = g.StrideW, vectorWidth = (ow + lanes - 1) / lanes * lanes;
        // A phase holds the padded row's every sw-th column and must reach the last vector of the farthest tap.
        int phase = Math.Max((width + g.PadLeft + sw - 1) / sw, vectorWidth + (g.KernelW - 1) * g.DilationW / sw);
        int rowFloats = sw * phase, span = (g.KernelH - 1) * g.DilationH + 1;
        var biases = new float[channels];
        bias.CopyTo(biases);
        fixed (float* px = input)
        fixed (float* py = output)
        fixed (float* pw = weights)
        fixed (float* pb = biases)
        {
            nint x = (nint)px, y = (nint)py, w = (nint)pw, b = (nint)pb;
            KernelParallel.For(batch * channels, (long)batch * channels * oh * ow * taps, plane =>
            {
                int c = plane % channels;
                float* target = (float*)y + (long)plane * oh * ow;
                // The span input rows one output row reads (slot ih mod span), a zero row, and one output row.
                float[] buffer = ArrayPool<float>.Shared.Rent((span + 1) * rowFloats + vectorWidth);
                int* held = stackalloc int[span];
                float** tapRows = stackalloc float*[taps];
                int* columns = stackalloc int[g.KernelW];
                TapColumns(g, phase, columns);
                new Span<int>(held, span).Fill(-1);
                fixed (float* rows = buffer)
                {
                    float* zero = rows + span * rowFloats, result = zero + rowFloats;
                    new Span<float>(zero, rowFloats).Clear();
                    var source = new FloatRows((float*)x + (long)plane * height * width, width);
                    for (int i = 0; i < oh; i++)
                    {
                        TapRows(ref source, g, i, height, width, phase, span, rows, held, zero, columns, tapRows);
                        Fp32Row(tapRows, taps, (float*)w + c * taps, vectorWidth, ((float*)b)[c], lo, hi, clamp, result);
                        new ReadOnlySpan<float>(result, ow).CopyTo(new Span<float>(target + (long)i * ow, ow));
                    }
                }

                ArrayPool<float>.Shared.Return(buffer);
            }, maxThreads);
        }
    }

    /// <summary>
    /// Points <paramref name="tapRows"/> at the taps of output row <paramref name="i"/>: each input row it reads is made
    /// once (<typeparamref name="TRows"/>), copied into slot <c>ih mod span</c> of <paramref name="rows"/> zero-padded and
    /// split into column phases (<see cref="ConvLayout.Phases"/>), and kept while later output rows read it
    /// (<paramref name="held"/> says which input row each slot holds); rows in the padding read <paramref name="zero"/>.
    /// Values are 32 bits: floats, or ints that only move.
    /// </summary>
    private static unsafe void TapRows<TRows>(ref TRows source, Conv2dGeometry g, int i, int height, int width, int phase, int span,
        float* rows, int* held, float* zero, int* columns, float** tapRows)
        where TRows : struct, IInputRows
    {
        int sw = g.StrideW, rowLength = sw * phase, kernelW = g.KernelW;
        for (int kh = 0; kh < g.KernelH; kh++)
        {
            int ih = i * g.StrideH - g.PadTop + kh * g.DilationH;
            float* row = zero;
            if ((uint)ih < (uint)height)
            {
                int slot = ih % span;
                row = rows + slot * rowLength;
                if (held[slot] != ih)
                {
                    ConvLayout.Phases(source.Row(ih), width, g.PadLeft, sw, phase, row);
                    held[slot] = ih;
                }
            }

            for (int kw = 0; kw < kernelW; kw++)
                tapRows[kh * kernelW + kw] = row + columns[kw];
        }
    }

    /// <summary>
    /// Where tap column <c>kw</c> starts in a phase-split row (see <see cref="TapRows"/>): the same for every row, so
    /// computed once per plane rather than with two divisions per tap and row.
    /// </summary>
    private static unsafe void TapColumns(Conv2dGeometry g, int phase, int* columns)
    {
        for (int kw = 0; kw < g.KernelW; kw++)
        {
            int offset = kw * g.DilationW;
            columns[kw] = offset % g.StrideW * phase + offset / g.StrideW;
        }
    }

    /// <summary>
    /// One tap of up to four independent sums: <c>s_k += x[k · step ..] · weight</c> for k below <paramref name="count"/>
    /// (separate multiply and add, as every FP32 depthwise kernel sums, so their results agree bit for bit).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Accumulate(float* x, long step, Vector512<float> weight, int count,
        ref Vector512<float> s0, ref Vector512<float> s1, ref Vector512<float> s2, ref Vector512<float> s3)
    {
        s0 += Vector512.Load(x) * weight;
        if (count > 1)
            s1 += Vector512.Load(x + step) * weight;
        if (count > 2)
            s2 += Vector512.Load(x + 2 * step) * weight;
        if (count > 3)
            s3 += Vector512.Load(x + 3 * step) * weight;
    }

    /// <summary>Input row <c>ih</c> of one plane as 32-bit values.</summary>
    private interface IInputRows
    {
        unsafe float* Row(int ih);
    }

    /// <summary>An FP32 plane's rows, as they are.</summary>
    private readonly unsafe struct FloatRows(float* plane, int width) : IInputRows
    {
        public float* Row(int ih) => plane + (long)ih * width;
    }

    /// <summary>A u8 plane's rows widened to <c>x - za</c> into one scratch row (ints, handed on as their bits).</summary>
    private readonly unsafe struct WidenedRows(byte* plane, int width, int za, int* scratch) : IInputRows
    {
        public float* Row(int ih)
        {
            Subtract(new ReadOnlySpan<byte>(plane + (long)ih * width, width), za, new Span<int>(scratch, width));
            return (float*)scratch;
        }
    }

    /// <summary>
    /// <c>y[j] = act(Σ_t tapRows[t][j] · w[t] + bias)</c> for j below <paramref name="count"/>, a multiple of the vector
    /// width: up to four vectors at a time, so each tap's weight and row pointer are loaded once for all of them and
    /// four sums (each in tap order) hide the latency of the additions.
    /// </summary>
    private static unsafe void Fp32Row(float** tapRows, int taps, float* w, int count, float bias, float lo, float hi, bool clamp, float* y)
    {
        int j = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            const int Lanes = 16;
            for (; j < count; j += 4 * Lanes)
            {
                int vectors = Math.Min(4, (count - j) / Lanes);
                Vector512<float> s0 = Vector512<float>.Zero, s1 = s0, s2 = s0, s3 = s0;
                for (int t = 0; t < taps; t++)
                    Accumulate(tapRows[t] + j, Lanes, Vector512.Create(w[t]), vectors, ref s0, ref s1, ref s2, ref s3);

                Finish(s0, y + j);
                if (vectors > 1)
                    Finish(s1, y + j + Lanes);
                if (vectors > 2)
                    Finish(s2, y + j + 2 * Lanes);
                if (vectors > 3)
                    Finish(s3, y + j + 3 * Lanes);
            }

            return;
        }

        int lanes = Vector<float>.Count;
        for (; j < count; j += lanes)
        {
            var s = Vector<float>.Zero;
            for (int t = 0; t < taps; t++)
                s += Vector.Load(tapRows[t] + j) * new Vector<float>(w[t]);
            s += new Vector<float>(bias);
            (clamp ? Vector.Min(Vector.Max(s, new Vector<float>(lo)), new Vector<float>(hi)) : s).Store(y + j);
        }

        void Finish(Vector512<float> sum, float* target)
        {
            sum += Vector512.Create(bias);
            (clamp ? Vector512.Min(Vector512.Max(sum, Vector512.Create(lo)), Vector512.Create(hi)) : sum).Store(target);
        }
    }

    /// <summary>
    /// INT8: <c>acc[n, c] = Σ_taps (x - za) * (w[c, tap] - zw[c])</c> over u8 NCHW planes, then the epilogue with channel
    /// c's entries. <paramref name="weights"/> hold <c>w - zw</c>, [channels, kh·kw]; padding contributes nothing.
    /// </summary>
    /// <remarks>
    /// As <see cref="Fp32"/>: each input row an output row reads is widened once to <c>x - za</c> in a zero-padded,
    /// phase-split buffer kept while later rows read it, and each vector of output pixels sums its taps in a register.
    /// </remarks>
    public static unsafe void Int8<TOut>(ReadOnlySpan<byte> input, int batch, int height, int width, int za, Conv2dGeometry g, int[] weights,
        Int8GemmEpilogue epilogue, Span<TOut> output, int maxThreads)
        where TOut : unmanaged
    {
        int channels = g.InChannels, oh = g.OutputHeight(height), ow = g.OutputWidth(width), taps = g.KernelH * g.KernelW;
        int lanes = Vector512.IsHardwareAccelerated ? Vector512<int>.Count : Vector<int>.Count;
        int sw = g.StrideW, vectorWidth = (ow + lanes - 1) / lanes * lanes;
        int phase = Math.Max((width + g.PadLeft + sw - 1) / sw, vectorWidth + (g.KernelW - 1) * g.DilationW / sw);
        int rowInts = sw * phase, span = (g.KernelH - 1) * g.DilationH + 1;
        fixed (byte* px = input)
        fixed (TOut* py = output)
        fixed (int* pw = weights)
        {
            nint x = (nint)px, y = (nint)py, w = (nint)pw;
            KernelParallel.For(batch * channels, (long)batch * channels * oh * ow * taps, plane =>
            {
                int c = plane % channels;
                // The span widened input rows (slot ih mod span), a zero row, one output row, and one row before its phases.
                int[] buffer = ArrayPool<int>.Shared.Rent((span + 1) * rowInts + vectorWidth + width);
                int* held = stackalloc int[span];
                int** tapRows = stackalloc int*[taps];
                int* columns = stackalloc int[g.KernelW];
                TapColumns(g, phase, columns);
                new Span<int>(held, span).Fill(-1);
                fixed (int* rows = buffer)
                {
                    int* zero = rows + span * rowInts, result = zero + rowInts, widened = result + vectorWidth;
                    new Span<int>(zero, rowInts).Clear();
                    var source = new WidenedRows((byte*)x + (long)plane * height * width, width, za, widened);
                    for (int i = 0; i < oh; i++)
                    {
                        TapRows(ref source, g, i, height, width, phase, span, (float*)rows, held, (float*)zero, columns, (float**)tapRows);
                        Int8Row(tapRows, taps, (int*)w + c * taps, vectorWidth, result);
                        Int8GemmOutput.WriteChannel(new Span<int>(result, ow), epilogue, c, y, (long)plane * oh * ow + (long)i * ow);
                    }
                }

                ArrayPool<int>.Shared.Return(buffer);
            }, maxThreads);
        }
    }

    /// <summary><c>acc[j] = Σ_t tapRows[t][j] · w[t]</c> (wrapping) for j below <paramref name="count"/>, a multiple of the vector width.</summary>
    private static unsafe void Int8Row(int** tapRows, int taps, int* w, int count, int* acc)
    {
        if (Vector512.IsHardwareAccelerated)
        {
            for (int j = 0; j < count; j += Vector512<int>.Count)
            {
                var sum = Vector512<int>.Zero;
                for (int t = 0; t < taps; t++)
                    sum += Vector512.Load(tapRows[t] + j) * Vector512.Create(w[t]);
                sum.Store(acc + j);
            }

            return;
        }

        for (int j = 0; j < count; j += Vector<int>.Count)
        {
            var sum = Vector<int>.Zero;
            for (int t = 0; t < taps; t++)
                sum += Vector.Load(tapRows[t] + j) * new Vector<int>(w[t]);
            sum.Store(acc + j);
        }
    }
    /// <summary>
    /// FP32 on x86 (see <see cref="PrefersChannelsLastFp32"/>): the sums of <see cref="Fp32"/>, bit for bit (tap order from
    /// 0, separate multiply and add, then the bias), vectorized across the channels of a zero-padded NHWC copy, 16 at a
    /// time where 512-bit vectors are fast, else 8.
    /// <paramref name="tapMajor"/> holds the weights as [tap, channel].
    /// </summary>
    public static unsafe void Fp32ChannelsLast(ReadOnlySpan<float> input, int batch, int height, int width, Conv2dGeometry g, float[] tapMajor,
        ReadOnlySpan<float> bias, float lo, float hi, bool clamp, Span<float> output, int maxThreads)
    {
        var biasValues = new float[g.InChannels];
        bias.CopyTo(biasValues);
        fixed (float* pw = tapMajor)
        fixed (float* pb = biasValues)
        {
            nint weights = (nint)pw, biases = (nint)pb;
            ChannelsLast<float, float>(input, batch, height, width, g, 0f, output, maxThreads, (image, paddedWidth, i, ow, y) =>
                Fp32ChannelsLastRow((float*)image, paddedWidth, g, i, ow, (float*)weights, (float*)biases, lo, hi, clamp, (float*)y));
        }
    }

    /// <summary>Output row <paramref name="i"/> of the FP32 channels-last kernel, written NHWC.</summary>
    private static unsafe void Fp32ChannelsLastRow(float* image, int paddedWidth, Conv2dGeometry g, int i, int ow, float* weights, float* bias, float lo, float hi, bool clamp, float* output)
    {
        int channels = g.InChannels, taps = g.KernelH * g.KernelW, vectorChannels = channels - channels % Vector256<float>.Count;
        int* offsets = stackalloc int[taps];
        TapOffsets(g, paddedWidth, channels, offsets);
        var vlo = Vector256.Create(lo);
        var vhi = Vector256.Create(hi);
        long pixelStep = (long)g.StrideW * channels;
        for (int j0 = 0; j0 < ow; j0 += 4)
        {
            // Four pixels at a time share each tap's weight vector, and their four sums hide the additions' latency.
            int pixels = Math.Min(4, ow - j0), c0 = 0;
            float* origin0 = image + ((long)i * g.StrideH * paddedWidth + (long)j0 * g.StrideW) * channels;
            float* target0 = output + ((long)i * ow + j0) * channels;
            if (Vector512.IsHardwareAccelerated)
            {
                for (; c0 + 16 <= channels; c0 += 16)
                {
                    Vector512<float> s0 = Vector512<float>.Zero, s1 = s0, s2 = s0, s3 = s0;
                    for (int t = 0; t < taps; t++)
                        Accumulate(origin0 + offsets[t] + c0, pixelStep, Vector512.Load(weights + t * channels + c0), pixels, ref s0, ref s1, ref s2, ref s3);

                    var b = Vector512.Load(bias + c0);
                    Finish(s0 + b, target0 + c0);
                    if (pixels > 1)
                        Finish(s1 + b, target0 + channels + c0);
                    if (pixels > 2)
                        Finish(s2 + b, target0 + 2 * channels + c0);
                    if (pixels > 3)
                        Finish(s3 + b, target0 + 3 * channels + c0);
                }
            }

            for (int p = 0; p < pixels; p++)
            {
                float* origin = origin0 + p * pixelStep;
                float* target = target0 + p * channels;
                int c = c0;
                for (; c < vectorChannels; c += Vector256<float>.Count)
                {
                    var sum = Vector256<float>.Zero;
                    for (int t = 0; t < taps; t++)
                        sum += Vector256.Load(origin + offsets[t] + c) * Vector256.Load(weights + t * channels + c);
                    sum += Vector256.Load(bias + c);
                    (clamp ? Vector256.Min(Vector256.Max(sum, vlo), vhi) : sum).Store(target + c);
                }

                for (; c < channels; c++)
                {
                    float sum = 0f;
                    for (int t = 0; t < taps; t++)
                        sum += origin[offsets[t] + c] * weights[t * channels + c];
                    sum += bias[c];
                    target[c] = clamp ? MathF.Min(MathF.Max(sum, lo), hi) : sum;
                }
            }
        }

        void Finish(Vector512<float> sum, float* target) =>
            (clamp ? Vector512.Min(Vector512.Max(sum, Vector512.Create(lo)), Vector512.Create(hi)) : sum).Store(target);
    }

    /// <summary>Computes output row <paramref name="i"/> (NHWC, <paramref name="ow"/> pixels) from the padded NHWC image.</summary>
    private delegate void ChannelsLastRowKernel(nint image, int paddedWidth, int i, int ow, nint output);

    /// <summary>
    /// The frame of both channels-last kernels: each image goes to NHWC inside a buffer whose border holds
    /// <paramref name="padValue"/> (filled once: every image overwrites the same interior), output rows are computed in
    /// parallel by <paramref name="row"/>, and the NHWC result is transposed back to NCHW.
    /// </summary>
    private static unsafe void ChannelsLast<TIn, TOut>(ReadOnlySpan<TIn> input, int batch, int height, int width, Conv2dGeometry g, TIn padValue,
        Span<TOut> output, int maxThreads, ChannelsLastRowKernel row)
        where TIn : unmanaged
        where TOut : unmanaged
    {
        int channels = g.InChannels, oh = g.OutputHeight(height), ow = g.OutputWidth(width);
        int paddedHeight = height + g.PadTop + g.PadBottom, paddedWidth = width + g.PadLeft + g.PadRight;
        TIn[] hwc = ArrayPool<TIn>.Shared.Rent(height * width * channels);
        TIn[] padded = ArrayPool<TIn>.Shared.Rent(paddedHeight * paddedWidth * channels);
        TOut[] result = ArrayPool<TOut>.Shared.Rent(oh * ow * channels);
        try
        {
            fixed (TIn* pp = padded)
            fixed (TOut* pr = result)
            {
                nint image = (nint)pp, y = (nint)pr;
                padded.AsSpan(0, paddedHeight * paddedWidth * channels).Fill(padValue);
                for (int n = 0; n < batch; n++)
                {
                    ConvLayout.ChannelsLast(input.Slice(n * channels * height * width, channels * height * width), channels, height * width, hwc);
                    for (int i = 0; i < height; i++)
                        hwc.AsSpan(i * width * channels, width * channels).CopyTo(padded.AsSpan(((i + g.PadTop) * paddedWidth + g.PadLeft) * channels));
                    KernelParallel.For(oh, (long)oh * ow * channels * g.KernelH * g.KernelW, i => row(image, paddedWidth, i, ow, y), maxThreads);
                    ConvLayout.ChannelsFirst<TOut>(result.AsSpan(0, oh * ow * channels), oh * ow, channels, output.Slice(n * channels * oh * ow, channels * oh * ow));
                }
            }
        }
        finally
        {
            ArrayPool<TIn>.Shared.Return(hwc);
            ArrayPool<TIn>.Shared.Return(padded);
            ArrayPool<TOut>.Shared.Return(result);
        }
    }

    /// <summary>Each tap's offset from the window's first pixel, in elements of the padded NHWC image.</summary>
    private static unsafe void TapOffsets(Conv2dGeometry g, int paddedWidth, int channels, int* offsets)
    {
        for (int kh = 0; kh < g.KernelH; kh++)
        {
            for (int kw = 0; kw < g.KernelW; kw++)
                offsets[kh * g.KernelW + kw] = (kh * g.DilationH * paddedWidth + kw * g.DilationW) * channels;
        }
    }

    /// <summary>
    /// INT8 on x86 (see <see cref="PrefersChannelsLast"/>), the same sums as <see cref="Int8{TOut}"/> vectorized
    /// across channels: the image goes to NHWC once, into a buffer padded with <paramref name="za"/> (whose taps then add
    /// <c>za · w</c>, which the start value <c>-za · Σ_taps w</c> takes back), and each output pixel is eight channels
    /// per vector times the tap's weights, with no edge cases at all. <paramref name="tapMajor"/> holds <c>w - zw</c>
    /// as [tap, channel].
    /// </summary>
    public static unsafe void Int8ChannelsLast<TOut>(ReadOnlySpan<byte> input, int batch, int height, int width, int za, Conv2dGeometry g, int[] tapMajor,
        Int8GemmEpilogue epilogue, Span<TOut> output, int maxThreads)
        where TOut : unmanaged
    {
        int channels = g.InChannels, taps = g.KernelH * g.KernelW;
        var start = new int[channels];
        for (int t = 0; t < taps; t++)
        {
            for (int c = 0; c < channels; c++)
                start[c] = unchecked(start[c] - za * tapMajor[t * channels + c]);
        }

        fixed (int* pw = tapMajor)
        fixed (int* ps = start)
        {
            nint weights = (nint)pw, starts = (nint)ps;
            ChannelsLast(input, batch, height, width, g, (byte)za, output, maxThreads, (image, paddedWidth, i, ow, y) =>
                ChannelsLastRow((byte*)image, paddedWidth, g, i, ow, (int*)weights, (int*)starts, epilogue, y));
        }
    }

    /// <summary>
    /// Whether <see cref="Int8ChannelsLast{TOut}"/> is the faster INT8 kernel: on x86 with AVX2 when the channels fill a
    /// vector, and the layer has more than 48 channels or output rows under 64 pixels. The plane kernel wins on large
    /// planes with few channels, most with two threads, since the channels-last copies are serial (one / two threads,
    /// u8 output: 3×3 on 16 channels of 320×320 1.4 / 1.1 ms against 2.7 / 2.5; 3×3 on 48 channels of 160×160 1.2 / 0.70
    /// against 1.4 / 1.3) and loses on many small ones (5×5 on 192 channels of 40×40 1.7 / 0.83 against 0.67 / 0.55).
    /// </summary>
    public static bool PrefersChannelsLast(Conv2dGeometry g, int width) =>
        Avx2.IsSupported && g.InChannels >= 8 && (g.InChannels > 48 || g.OutputWidth(width) < 64);

    /// <summary>
    /// Whether <see cref="Fp32ChannelsLast"/> is the faster FP32 kernel: on x86 with AVX2 when the channels fill a vector
    /// and output rows are under 32 pixels, which the plane kernel would compute to a whole vector width and more.
    /// Elsewhere the plane kernel wins, most on large strided layers, where the channels-last copies cost more than the
    /// arithmetic (one / two threads, 512-bit vectors: 3×3 stride 2 on 32 channels of 320×320 0.89 / 0.47 ms against
    /// 4.2 / 4.8; 3×3 on 48 channels of 160×160 0.94 / 0.53 against 2.4 / 2.7). With rows of 20 it loses: 5×5 on 384
    /// channels of 20×20 0.93 / 0.63 against 0.58 / 0.55, 5×5 stride 2 on 192 channels of 40×40 0.55 / 0.55 against 0.31 / 0.31.
    /// </summary>
    public static bool PrefersChannelsLastFp32(Conv2dGeometry g, int width) =>
        Avx2.IsSupported && g.InChannels >= 8 && g.OutputWidth(width) < 32;

    /// <summary>Output row <paramref name="i"/> of the channels-last kernel, written NHWC through the epilogue.</summary>
    private static unsafe void ChannelsLastRow(byte* image, int paddedWidth, Conv2dGeometry g, int i, int ow, int* weights, int* start, Int8GemmEpilogue epilogue, nint output)
    {
        int channels = g.InChannels, taps = g.KernelH * g.KernelW, vectorChannels = channels - channels % 8;
        int* offsets = stackalloc int[taps];
        TapOffsets(g, paddedWidth, channels, offsets);

        int[] buffer = ArrayPool<int>.Shared.Rent(channels);
        fixed (int* acc = buffer)
        {
            for (int j = 0; j < ow; j++)
            {
                byte* origin = image + ((long)i * g.StrideH * paddedWidth + (long)j * g.StrideW) * channels;
                int c = 0;
                if (Avx512F.IsSupported)
                {
                    // 16 channels per 512-bit vector, two vectors at a time.
                    for (; c + 32 <= vectorChannels; c += 32)
                    {
                        var sum0 = Vector512.Load(start + c);
                        var sum1 = Vector512.Load(start + c + 16);
                        for (int t = 0; t < taps; t++)
                        {
                            byte* x = origin + offsets[t] + c;
                            int* w = weights + t * channels + c;
                            sum0 += Avx512F.ConvertToVector512Int32(Vector128.Load(x)) * Vector512.Load(w);
                            sum1 += Avx512F.ConvertToVector512Int32(Vector128.Load(x + 16)) * Vector512.Load(w + 16);
                        }

                        sum0.Store(acc + c);
                        sum1.Store(acc + c + 16);
                    }
                }

                // Two vectors of channels at a time: two independent sums per tap.
                for (; c + 16 <= vectorChannels; c += 16)
                {
                    var sum0 = Vector256.Load(start + c);
                    var sum1 = Vector256.Load(start + c + 8);
                    for (int t = 0; t < taps; t++)
                    {
                        byte* x = origin + offsets[t] + c;
                        int* w = weights + t * channels + c;
                        sum0 += Avx2.ConvertToVector256Int32(x) * Vector256.Load(w);
                        sum1 += Avx2.ConvertToVector256Int32(x + 8) * Vector256.Load(w + 8);
                    }

                    sum0.Store(acc + c);
                    sum1.Store(acc + c + 8);
                }

                for (; c < vectorChannels; c += 8)
                {
                    var sum = Vector256.Load(start + c);
                    for (int t = 0; t < taps; t++)
                        sum += Avx2.ConvertToVector256Int32(origin + offsets[t] + c) * Vector256.Load(weights + t * channels + c);
                    sum.Store(acc + c);
                }

                for (; c < channels; c++)
                {
                    int sum = start[c];
                    for (int t = 0; t < taps; t++)
                        sum = unchecked(sum + origin[offsets[t] + c] * weights[t * channels + c]);
                    acc[c] = sum;
                }

                Int8GemmOutput.Write(buffer.AsSpan(0, channels), epilogue, 0, output, ((long)i * ow + j) * channels);
            }
        }

        ArrayPool<int>.Shared.Return(buffer);
    }

    /// <summary><c>shifted[i] = x[i] - za</c>, widening bytes to int32 lanes.</summary>
    private static void Subtract(ReadOnlySpan<byte> x, int za, Span<int> shifted)
    {
        int i = 0;
        if (Vector.IsHardwareAccelerated)
        {
            var zero = new Vector<int>(za);
            ref byte xr = ref MemoryMarshal.GetReference(x);
            ref int sr = ref MemoryMarshal.GetReference(shifted);
            for (; i <= x.Length - Vector<byte>.Count; i += Vector<byte>.Count)
            {
                Vector.Widen(Vector.LoadUnsafe(ref xr, (nuint)i), out Vector<ushort> low, out Vector<ushort> high);
                Vector.Widen(low, out Vector<uint> q0, out Vector<uint> q1);
                Vector.Widen(high, out Vector<uint> q2, out Vector<uint> q3);
                (Vector.AsVectorInt32(q0) - zero).StoreUnsafe(ref sr, (nuint)i);
                (Vector.AsVectorInt32(q1) - zero).StoreUnsafe(ref sr, (nuint)(i + Vector<int>.Count));
                (Vector.AsVectorInt32(q2) - zero).StoreUnsafe(ref sr, (nuint)(i + 2 * Vector<int>.Count));
                (Vector.AsVectorInt32(q3) - zero).StoreUnsafe(ref sr, (nuint)(i + 3 * Vector<int>.Count));
            }
        }

        for (; i < x.Length; i++)
            shifted[i] = x[i] - za;
    }
}
