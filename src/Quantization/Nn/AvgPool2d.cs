namespace Quantization.Nn;

/// <summary>
/// The mean over k × k windows of NCHW inputs, as PyTorch's <c>nn.AvgPool2d</c> (stride defaults to the kernel size;
/// zero padding, included in the divisor unless <see cref="CountIncludePad"/> is false).
/// </summary>
public sealed class AvgPool2d : Module
{
    /// <summary>Creates the layer.</summary>
    public AvgPool2d(int kernelSize, int? stride = null, int padding = 0, bool countIncludePad = true)
    {
        InputCheck.Positive(kernelSize, nameof(kernelSize));
        KernelSize = kernelSize;
        Stride = stride ?? kernelSize;
        InputCheck.Positive(Stride, nameof(stride));
        if (padding < 0 || padding > kernelSize / 2)
            throw new ArgumentOutOfRangeException(nameof(padding), padding, $"Padding must lie in [0, kernel_size / 2 = {kernelSize / 2}].");
        Padding = padding;
        CountIncludePad = countIncludePad;
    }

    /// <summary>The window's height and width.</summary>
    public int KernelSize { get; }

    /// <summary>The step between windows.</summary>
    public int Stride { get; }

    /// <summary>The zero padding on every side.</summary>
    public int Padding { get; }

    /// <summary>Whether padded taps count in the divisor.</summary>
    public bool CountIncludePad { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The input is not NCHW or is smaller than the window.</exception>
    public override Variable Forward(Variable input)
    {
        InputCheck.Shape(input, nameof(AvgPool2d), 4, -1, "(N, C, H, W)");
        PoolCheck.Fits(input, KernelSize, Padding, nameof(AvgPool2d));
        if (input.Quantized is { } q)
        {
            int k = KernelSize, s = Stride, p = Padding, zp = q.QParams.ZeroPoint;
            bool includePad = CountIncludePad;
            return QuantizedPooling.Run(q, QuantizedPooling.OutputSize(q.Shape[2], k, s, p), QuantizedPooling.OutputSize(q.Shape[3], k, s, p),
                (x, n, c, h, w, y) => Kernels.Quantized.QuantizedOps.AvgPool2d(x, n, c, h, w, k, k, s, s, p, p, false, includePad, 0, zp, y));
        }

        return Functional.AvgPool2d(input, KernelSize, Stride, Padding, CountIncludePad);
    }
}
