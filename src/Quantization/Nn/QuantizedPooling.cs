using Quantization.Kernels.Quantized;

namespace Quantization.Nn;

/// <summary>Runs a pooling layer on quantized NCHW data: the integer kernel, and the input's parameters on the output.</summary>
internal static class QuantizedPooling
{
    public delegate void Kernel(ReadOnlySpan<byte> x, int n, int c, int h, int w, Span<byte> y);

    /// <summary>Pools <paramref name="q"/> into [N, C, <paramref name="outH"/>, <paramref name="outW"/>].</summary>
    public static Variable Run(QuantizedTensor q, int outH, int outW, Kernel kernel)
    {
        if (q.DType != QuantDType.QUInt8 || q.QParams.IsPerChannel)
            throw new ArgumentException($"Quantized activations must be per-tensor QUInt8, not {q.QParams}.", "input");
        int n = q.Shape[0], c = q.Shape[1];
        var y = new byte[n * c * outH * outW];
        kernel(q.AsUInt8Span(), n, c, q.Shape[2], q.Shape[3], y);
        return new Variable(QuantizedTensor.Wrap(y, [n, c, outH, outW], q.QParams));
    }

    /// <summary>The output length of a k/s/p window along one axis (no dilation, floor mode), as the float layers compute it.</summary>
    public static int OutputSize(int input, int kernel, int stride, int padding) =>
        QuantizedOps.PoolOutputSize(input, kernel, stride, padding, 1, ceilMode: false);
}
