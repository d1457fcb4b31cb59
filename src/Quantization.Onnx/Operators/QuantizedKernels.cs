using System.Numerics;
using System.Numerics.Tensors;
using Quantization.Graph;
using Quantization.Kernels.Conv;
using Quantization.Kernels.Elementwise;
using Quantization.Kernels.Gemm;
using Quantization.Kernels.Quantized;

namespace Quantization.Onnx.Operators;

/// <summary>
/// Quantization parameters of one ONNX value, read from constant inputs at import: one scale and zero point, or one
/// per channel along an axis; <see cref="Signed"/> says whether the quantized type is int8 (else uint8).
/// </summary>
internal sealed record QParams(float[] Scales, int[] ZeroPoints, bool Signed)
{
    public int QMin => Signed ? sbyte.MinValue : byte.MinValue;

    public int QMax => Signed ? sbyte.MaxValue : byte.MaxValue;
}

/// <summary>
/// Graph kernels for ONNX's quantized operators. Quantized values travel between nodes as FP32 tensors of exact
/// integers (see <see cref="GraphModule"/>); these kernels turn them into u8 bytes, run the INT8 GEMM or convolution
/// with the exact epilogue, and hand the integer results back as floats.
/// </summary>
/// <remarks>
/// Signed (int8) activations are shifted by +128 on the way into the u8 kernels, values and zero point alike, so
/// <c>x - zp</c> is unchanged. int32 results (MatMulInteger, ConvInteger) are handed on as the nearest float, which
/// is exact below 2^24 in magnitude and beyond that is what the <c>Cast</c> to float that follows such nodes in ONNX
/// Runtime's dynamic quantization gives anyway.
/// </remarks>
internal static class QuantizedKernels
{
    /// <summary>
    /// <c>QuantizeLinear</c>: <c>y = saturate(round_half_even(x / scale) + zp)</c>, per tensor or per channel along
    /// <paramref name="axis"/>.
    /// </summary>
    public static GraphKernel QuantizeLinear(QParams q, int axis) => PerChannel(q, axis, (x, scale, zp, y) =>
    {
        for (int i = 0; i < x.Length; i++)
            y[i] = QuantizeReference.Quantize(x[i], scale, zp, q.QMin, q.QMax, RoundingConvention.Onnx);
    });

    /// <summary><c>DequantizeLinear</c>: <c>y = (x - zp) · scale</c> in float, per tensor or per channel along <paramref name="axis"/>.</summary>
    public static GraphKernel DequantizeLinear(QParams q, int axis) => PerChannel(q, axis, Dequantize);

    /// <summary>Dequantizes constant values of <paramref name="shape"/> at import (weights feeding a float layer).</summary>
    public static float[] Dequantize(ReadOnlySpan<float> x, ReadOnlySpan<int> shape, QParams q, int axis)
    {
        var y = new float[x.Length];
        PerChannel(x, shape, q, axis, Dequantize, y);
        return y;
    }

    private static void Dequantize(ReadOnlySpan<float> x, float scale, int zeroPoint, Span<float> y)
    {
        TensorPrimitives.Subtract(x, zeroPoint, y);
        TensorPrimitives.Multiply(y, scale, y);
    }

    private delegate void ChannelMap(ReadOnlySpan<float> x, float scale, int zeroPoint, Span<float> y);

    private static GraphKernel PerChannel(QParams q, int axis, ChannelMap map) => (inputs, scope) =>
    {
        Tensor x = GraphOps.Required(inputs, 0);
        Tensor y = scope.Output(x, x.Shape);
        PerChannel(x.AsSpan(), x.Shape, q, axis, map, y.AsSpan());
        return [y];
    };

    private static void PerChannel(ReadOnlySpan<float> x, ReadOnlySpan<int> shape, QParams q, int axis, ChannelMap map, Span<float> y)
    {
        if (q.Scales.Length == 1)
        {
            map(x, q.Scales[0], q.ZeroPoints[0], y);
            return;
        }

        int a = axis < 0 ? axis + shape.Length : axis;
        if (a < 0 || a >= shape.Length || shape[a] != q.Scales.Length)
            throw new ArgumentException($"{q.Scales.Length} scales do not fit axis {axis} of an input of shape {Tensor.FormatShape(shape)}.");
        int channels = shape[a], inner = 1;
        for (int d = a + 1; d < shape.Length; d++)
            inner *= shape[d];
        int outer = channels * inner == 0 ? 0 : x.Length / (channels * inner);
        for (int o = 0; o < outer; o++)
        {
            for (int c = 0; c < channels; c++)
            {
                int start = (o * channels + c) * inner;
                map(x.Slice(start, inner), q.Scales[c], q.ZeroPoints[c], y.Slice(start, inner));
            }
        }
    }

    /// <summary>
    /// <c>DynamicQuantizeLinear</c>: u8 values with the scale and zero point ONNX Runtime picks from the range
    /// (<see cref="DynamicQuantization.OnnxDynamicQParams"/>); an empty input has the range [0, 0].
    /// </summary>
    public static GraphKernel DynamicQuantizeLinear() => (inputs, scope) =>
    {
        Tensor x = GraphOps.Required(inputs, 0);
        ReadOnlySpan<float> values = x.AsSpan();
        (float scale, byte zp) = values.IsEmpty ? (1f, (byte)0) : DynamicQuantization.OnnxDynamicQParams(TensorPrimitives.Min(values), TensorPrimitives.Max(values));
        Tensor y = scope.Output(x, x.Shape);
        var q = y.AsSpan();
        for (int i = 0; i < values.Length; i++)
            q[i] = QuantizeReference.Quantize(values[i], scale, zp, 0, 255, RoundingConvention.Onnx);
        return [y, new Tensor([scale]), new Tensor([(float)zp])];
    };

    /// <summary>
    /// A quantized 2-D convolution on the INT8 kernel. The activation zero point is <paramref name="zeroPoint"/>, or the
    /// scalar input at <paramref name="zeroPointInput"/> when given (absent: 0); <paramref name="signed"/> null means
    /// the activation type is not known at import and is read from the values (any below 0 makes it int8).
    /// </summary>
    public static GraphKernel Conv(Int8Conv2d conv, int zeroPoint, int? zeroPointInput, bool? signed, Int8GemmEpilogue epilogue) => (inputs, _) =>
    {
        Tensor x = GraphOps.Required(inputs, 0);
        Conv2dGeometry g = conv.Geometry;
        if (x.Rank != 4 || x.Shape[1] != g.InChannels)
            throw new ArgumentException($"Expected an input of shape (N, {g.InChannels}, H, W), not {Tensor.FormatShape(x.Shape)}.");
        int za = RuntimeZeroPoint(inputs, zeroPoint, zeroPointInput);
        byte[] a = ToUInt8(x.AsSpan(), ref za, signed);
        int n = x.Shape[0], h = x.Shape[2], w = x.Shape[3];
        int[] shape = [n, g.OutChannels, g.OutputHeight(h), g.OutputWidth(w)];
        return [epilogue.Kind switch
        {
            Int8OutputKind.Int32 => Run<int>(shape, o => conv.Run(a, n, h, w, za, epilogue, o)),
            Int8OutputKind.Int8 => Run<sbyte>(shape, o => conv.Run(a, n, h, w, za, epilogue, o)),
            _ => Run<byte>(shape, o => conv.Run(a, n, h, w, za, epilogue, o)),
        }];
    };

    /// <summary>
    /// A quantized matrix product by constant packed weights on the INT8 GEMM, over the rows of an input
    /// [..., M, K]; the zero point and type work as for <see cref="Conv"/>.
    /// </summary>
    public static GraphKernel MatMul(Int8PackedWeights weights, int zeroPoint, int? zeroPointInput, bool? signed, Int8GemmEpilogue epilogue) => (inputs, _) =>
    {
        Tensor x = GraphOps.Required(inputs, 0);
        int k = weights.K, n = weights.N;
        if (x.Rank == 0 || x.Shape[^1] != k)
            throw new ArgumentException($"Expected an input whose last dimension is {k}, not {Tensor.FormatShape(x.Shape)}.");
        int za = RuntimeZeroPoint(inputs, zeroPoint, zeroPointInput);
        byte[] a = ToUInt8(x.AsSpan(), ref za, signed);
        int m = x.Length / k;
        int[] shape = [.. x.Shape[..^1], n];
        return [epilogue.Kind switch
        {
            Int8OutputKind.Int32 => Run<int>(shape, o => Int8Gemm.Multiply(a, m, k, za, weights, epilogue, o, n)),
            Int8OutputKind.Int8 => Run<sbyte>(shape, o => Int8Gemm.Multiply(a, m, k, za, weights, epilogue, o, n)),
            _ => Run<byte>(shape, o => Int8Gemm.Multiply(a, m, k, za, weights, epilogue, o, n)),
        }];
    };

    /// <summary>
    /// <c>QLinearAdd</c> with numpy broadcasting, as ONNX Runtime's reference loop computes it:
    /// <c>c = saturate(round_half_even((sa·(a - za) + sb·(b - zb)) / sc) + zc)</c> in float.
    /// </summary>
    public static GraphKernel QLinearAdd(QParams a, QParams b, QParams c) => (inputs, _) =>
    {
        Tensor x = GraphOps.Required(inputs, 0), y = GraphOps.Required(inputs, 3);
        int[] shape = BroadcastShape(x.Shape, y.Shape);
        var result = new Tensor(shape);
        int[] xIndex = BroadcastIndex(x.Shape, shape), yIndex = BroadcastIndex(y.Shape, shape);
        ReadOnlySpan<float> xs = x.AsSpan(), ys = y.AsSpan();
        var r = result.AsSpan();
        float sa = a.Scales[0], sb = b.Scales[0], sc = c.Scales[0];
        int za = a.ZeroPoints[0], zb = b.ZeroPoints[0];
        for (int i = 0; i < r.Length; i++)
        {
            float sum = sa * ((int)xs[xIndex[i]] - za) + sb * ((int)ys[yIndex[i]] - zb);
            r[i] = Math.Clamp((int)MathF.Round(sum / sc, MidpointRounding.ToEven) + c.ZeroPoints[0], c.QMin, c.QMax);
        }

        return [result];
    };

    private static int[] BroadcastShape(ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        var shape = new int[Math.Max(a.Length, b.Length)];
        for (int i = 1; i <= shape.Length; i++)
        {
            int da = i <= a.Length ? a[^i] : 1, db = i <= b.Length ? b[^i] : 1;
            if (da != db && da != 1 && db != 1)
                throw new ArgumentException($"Shapes {Tensor.FormatShape(a)} and {Tensor.FormatShape(b)} do not broadcast.");
            shape[^i] = da == 1 ? db : da;
        }

        return shape;
    }

    /// <summary>For each element of <paramref name="output"/>, the index of the element of <paramref name="input"/> broadcast there.</summary>
    private static int[] BroadcastIndex(ReadOnlySpan<int> input, int[] output)
    {
        var strides = new int[output.Length];
        for (int i = 1, stride = 1; i <= input.Length; i++)
        {
            strides[^i] = input[^i] == 1 ? 0 : stride;
            stride *= input[^i];
        }

        int total = 1;
        foreach (int d in output)
            total *= d;
        var index = new int[total];
        var position = new int[output.Length];
        for (int i = 0, offset = 0; i < total; i++)
        {
            index[i] = offset;
            for (int d = output.Length - 1; d >= 0; d--)
            {
                offset += strides[d];
                if (++position[d] < output[d])
                    break;
                offset -= strides[d] * output[d];
                position[d] = 0;
            }
        }

        return index;
    }

    private static int RuntimeZeroPoint(Tensor?[] inputs, int zeroPoint, int? zeroPointInput)
    {
        if (zeroPointInput is not int index || index >= inputs.Length || inputs[index] is not Tensor t)
            return zeroPoint;
        if (t.Length != 1)
            throw new ArgumentException($"Input {index} (the zero point) must hold one value, not {t.Length}.");
        return (int)t.AsSpan()[0];
    }

    /// <summary>
    /// Float-held u8 or s8 values as bytes for the u8 kernels; s8 values move up by 128 with their zero point.
    /// <paramref name="signed"/> null: s8 when any value or the zero point is negative.
    /// </summary>
    private static byte[] ToUInt8(ReadOnlySpan<float> x, ref int zeroPoint, bool? signed)
    {
        bool shift = signed ?? (zeroPoint < 0 || !x.IsEmpty && TensorPrimitives.Min(x) < 0);
        int offset = shift ? 128 : 0;
        var a = new byte[x.Length];
        for (int i = 0; i < a.Length; i++)
            a[i] = (byte)Math.Clamp((int)x[i] + offset, 0, 255);
        zeroPoint += offset;
        return a;
    }

    /// <summary>Runs <paramref name="kernel"/> into a buffer of <typeparamref name="T"/> and returns it as floats.</summary>
    private static Tensor Run<T>(int[] shape, SpanAction<T> kernel)
        where T : unmanaged, INumberBase<T>
    {
        var result = new Tensor(shape);
        var buffer = new T[result.Length];
        kernel(buffer);
        TensorPrimitives.ConvertChecked<T, float>(buffer, result.AsSpan());
        return result;
    }

    private delegate void SpanAction<T>(Span<T> output);
}
