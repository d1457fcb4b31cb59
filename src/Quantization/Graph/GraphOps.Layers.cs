using System.Numerics;
using System.Runtime.InteropServices;
using Quantization.Kernels.Conv;
using Quantization.Nn;

namespace Quantization.Graph;

/// <summary>How a layer node hands its input to the module and shapes the result back.</summary>
internal enum LayerInput
{
    /// <summary>The input as it is.</summary>
    AsIs,

    /// <summary>[..., K] viewed as [rows, K] for a fully connected layer, and [rows, N] back to [..., N].</summary>
    Rows,

    /// <summary>A 1-D convolution's [N, C, L] viewed as [N, C, 1, L] for a 2-D convolution, and back.</summary>
    Conv1d,
}

internal static partial class GraphOps
{
    /// <summary>Runs the child module <paramref name="moduleName"/> of the graph on input 0 (looked up per call, so swaps take effect).</summary>
    public static GraphKernel Layer(string moduleName, LayerInput mode) => (inputs, scope) =>
    {
        Tensor x = Required(inputs, 0);
        Module layer = scope.Owner.Layer(moduleName);
        switch (mode)
        {
            case LayerInput.Rows:
            {
                int k = x.Shape[^1];
                Tensor y = layer.Forward(new Variable(x.Reshape(-1, k))).Value;
                int[] shape = [.. x.Shape[..^1], y.Shape[^1]];
                return [y.Reshape(shape)];
            }

            case LayerInput.Conv1d:
            {
                if (x.Rank != 3)
                    throw new ArgumentException($"A 1-D convolution needs an input [N, C, L], not {Tensor.FormatShape(x.Shape)}.");
                Tensor y = layer.Forward(new Variable(x.Reshape(x.Shape[0], x.Shape[1], 1, x.Shape[2]))).Value;
                return [y.Reshape(y.Shape[0], y.Shape[1], y.Shape[3])];
            }

            default:
                return [layer.Forward(new Variable(x)).Value];
        }
    };

    /// <summary>
    /// Runs a quantized layer node on float or quantized input and keeps its QUInt8 output, shaping as
    /// <see cref="Layer"/> does: a MatMul's rows, a 1-D convolution's [N, C, L].
    /// </summary>
    public static QuantizedTensor QuantizedLayer(string opType, Nn.Quantized.QdqLayer layer, Variable input)
    {
        int[] shape = input.Shape.ToArray();
        if (opType == "MatMul")
        {
            var y = layer.ForwardQuantized(Reshaped(input, [Ops.Shapes.Count(shape) / shape[^1], shape[^1]]));
            return y.Reshape([.. shape[..^1], y.Shape[^1]]);
        }

        if (opType == "Conv" && shape.Length == 3)
        {
            var y = layer.ForwardQuantized(Reshaped(input, [shape[0], shape[1], 1, shape[2]]));
            return y.Reshape([y.Shape[0], y.Shape[1], y.Shape[3]]);
        }

        return layer.ForwardQuantized(input);
    }

    private static Variable Reshaped(Variable input, int[] shape) =>
        input.Quantized is { } q ? new Variable(q.Reshape(shape)) : new Variable(input.Value.Reshape(shape));

    /// <summary>A transposed 2-D convolution with constant weights (packed once) and optional bias.</summary>
    public static GraphKernel ConvTranspose(Fp32ConvTranspose2d conv, float[]? bias) => (inputs, _) =>
    {
        Tensor x = Required(inputs, 0);
        var g = conv.Geometry;
        if (x.Rank != 4 || x.Shape[1] != g.InChannels)
            throw new ArgumentException($"ConvTranspose needs an input (N, {g.InChannels}, H, W), not {Tensor.FormatShape(x.Shape)}.");
        int n = x.Shape[0], h = x.Shape[2], w = x.Shape[3];
        g.ValidateInput(h, w, "input");
        // Run writes every output value.
        var y = Tensor.Uninitialized(n, g.OutChannels, g.OutputHeight(h), g.OutputWidth(w));
        conv.Run(x.AsSpan(), n, h, w, bias, y.AsSpan());
        return [y];
    };

    /// <summary>
    /// ONNX <c>MaxPool</c> over NCHW: windows of <c>kernel</c> taps spaced by <c>dilation</c>, padding that never wins,
    /// output length <c>floor</c> (or with <paramref name="ceilMode"/> <c>ceil</c>) of
    /// <c>(in + pads − dilation · (k − 1) − 1) / stride + 1</c>, dropping a last window that would start in the end padding.
    /// </summary>
    public static GraphKernel MaxPool(int[] kernel, int[] strides, int[] pads, int[] dilations, bool ceilMode) => (inputs, _) =>
    {
        Tensor x = Required(inputs, 0);
        var y = new Tensor(PoolShape(x.Shape, kernel, strides, pads, dilations, ceilMode));
        MaxPoolPlanes<float>(x.AsSpan(), x.Shape, y.Shape, kernel, strides, pads, dilations, float.NegativeInfinity, y.AsSpan());
        return [y];
    };

    /// <summary><see cref="MaxPool"/> on QUInt8 codes: the largest code is the code of the largest value.</summary>
    public static QuantizedKernel MaxPoolCodes(int[] kernel, int[] strides, int[] pads, int[] dilations, bool ceilMode) => (x, _) =>
    {
        int[] shape = PoolShape(x.Shape, kernel, strides, pads, dilations, ceilMode);
        byte[] codes = TensorArena.RentBytes(Ops.Shapes.Count(shape));
        MaxPoolPlanes<byte>(x.AsUInt8Span(), x.Shape, shape, kernel, strides, pads, dilations, byte.MinValue, codes);
        return QuantizedTensor.Wrap(codes, shape, x.QParams);
    };

    private static int[] PoolShape(ReadOnlySpan<int> shape, int[] kernel, int[] strides, int[] pads, int[] dilations, bool ceilMode)
    {
        if (shape.Length != 4)
            throw new ArgumentException($"MaxPool supports 2-D pooling of (N, C, H, W), not {Tensor.FormatShape(shape)}.");
        int oh = PoolLength(shape[2], kernel[0], strides[0], pads[0], pads[2], dilations[0], ceilMode);
        int ow = PoolLength(shape[3], kernel[1], strides[1], pads[1], pads[3], dilations[1], ceilMode);
        if (oh <= 0 || ow <= 0)
            throw new ArgumentException($"An input of {shape[2]}×{shape[3]} is too small for a {kernel[0]}×{kernel[1]} pooling window.");
        return [shape[0], shape[1], oh, ow];
    }

    /// <summary>
    /// Max pooling plane by plane; <paramref name="lowest"/> is what a window of padding only gives. Per output row, the
    /// window's input rows are reduced to one row with vector maxima first (NaN wins, as in the window loop), then each
    /// output takes the maximum of its columns in that row.
    /// </summary>
    private static void MaxPoolPlanes<T>(ReadOnlySpan<T> xs, ReadOnlySpan<int> inShape, ReadOnlySpan<int> outShape, int[] kernel, int[] strides, int[] pads, int[] dilations, T lowest, Span<T> ys)
        where T : unmanaged, INumber<T>
    {
        int h = inShape[2], w = inShape[3], oh = outShape[2], ow = outShape[3];
        T[] columnMax = System.Buffers.ArrayPool<T>.Shared.Rent(w);
        Span<T> rowMax = columnMax.AsSpan(0, w);
        for (int plane = 0; plane < outShape[0] * outShape[1]; plane++)
        {
            var input = xs.Slice(plane * h * w, h * w);
            var output = ys.Slice(plane * oh * ow, oh * ow);
            for (int i = 0; i < oh; i++)
            {
                bool any = false;
                for (int ki = 0; ki < kernel[0]; ki++)
                {
                    int ih = i * strides[0] - pads[0] + ki * dilations[0];
                    if ((uint)ih >= (uint)h)
                        continue;
                    var row = input.Slice(ih * w, w);
                    if (any)
                        System.Numerics.Tensors.TensorPrimitives.Max(rowMax, row, rowMax);
                    else
                        row.CopyTo(rowMax);
                    any = true;
                }

                var target = output.Slice(i * ow, ow);
                int j = 0;
                if (typeof(T) == typeof(byte) && any && kernel[1] == 2 && strides[1] == 2 && dilations[1] == 1 && pads[1] == 0)
                    j = PairMaxima(MemoryMarshal.Cast<T, byte>(rowMax), MemoryMarshal.Cast<T, byte>(target));
                for (; j < ow; j++)
                {
                    T best = lowest;
                    for (int kj = 0; any && kj < kernel[1]; kj++)
                    {
                        int iw = j * strides[1] - pads[1] + kj * dilations[1];
                        if ((uint)iw < (uint)w && (rowMax[iw] > best || T.IsNaN(rowMax[iw])))
                            best = rowMax[iw];
                    }

                    target[j] = best;
                }
            }
        }

        System.Buffers.ArrayPool<T>.Shared.Return(columnMax);
    }

    /// <summary>
    /// <c>target[j] = max(row[2j], row[2j + 1])</c> for codes, 32 at a time (each pair read as one 16-bit lane): the 2×2
    /// stride-2 window of most CNNs, whose column loop cost more than the rows' vector maxima. Returns how many outputs
    /// it wrote; the caller's loop takes the rest.
    /// </summary>
    private static int PairMaxima(ReadOnlySpan<byte> row, Span<byte> target)
    {
        int j = 0, lanes = Vector<ushort>.Count;
        if (!Vector.IsHardwareAccelerated)
            return 0;
        var pairs = MemoryMarshal.Cast<byte, ushort>(row);
        var low = new Vector<ushort>(0xFF);
        for (; j + 2 * lanes <= target.Length && j + 2 * lanes <= pairs.Length; j += 2 * lanes)
        {
            var a = new Vector<ushort>(pairs.Slice(j, lanes));
            var b = new Vector<ushort>(pairs.Slice(j + lanes, lanes));
            Vector.Narrow(Vector.Max(a & low, Vector.ShiftRightLogical(a, 8)), Vector.Max(b & low, Vector.ShiftRightLogical(b, 8))).CopyTo(target.Slice(j));
        }

        return j;
    }

    private static int PoolLength(int length, int kernel, int stride, int padBegin, int padEnd, int dilation, bool ceilMode)
    {
        int span = length + padBegin + padEnd - dilation * (kernel - 1) - 1;
        if (span < 0)
            return 0;
        int result = (ceilMode ? (span + stride - 1) / stride : span / stride) + 1;
        if (ceilMode && (result - 1) * stride >= length + padBegin)
            result--;
        return result;
    }
}
