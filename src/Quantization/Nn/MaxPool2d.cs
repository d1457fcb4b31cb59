namespace Quantization.Nn;

/// <summary>The maximum over k × k windows of NCHW inputs, as PyTorch's <c>nn.MaxPool2d</c> (stride defaults to the kernel size; padding counts as -∞). Quantized input is pooled on its integers and keeps its parameters.</summary>
public sealed class MaxPool2d : Module
{
    /// <summary>Creates the layer.</summary>
    public MaxPool2d(int kernelSize, int? stride = null, int padding = 0)
    {
        InputCheck.Positive(kernelSize, nameof(kernelSize));
        KernelSize = kernelSize;
        Stride = stride ?? kernelSize;
        InputCheck.Positive(Stride, nameof(stride));
        if (padding < 0 || padding > kernelSize / 2)
            throw new ArgumentOutOfRangeException(nameof(padding), padding, $"Padding must lie in [0, kernel_size / 2 = {kernelSize / 2}].");
        Padding = padding;
    }

    /// <summary>The window's height and width.</summary>
    public int KernelSize { get; }

    /// <summary>The step between windows.</summary>
    public int Stride { get; }

    /// <summary>The implicit padding on every side.</summary>
    public int Padding { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The input is not NCHW or is smaller than the window.</exception>
    public override Variable Forward(Variable input)
    {
        InputCheck.Shape(input, nameof(MaxPool2d), 4, -1, "(N, C, H, W)");
        PoolCheck.Fits(input, KernelSize, Padding, nameof(MaxPool2d));
        if (input.Quantized is { } q)
        {
            int k = KernelSize, s = Stride, p = Padding;
            return QuantizedPooling.Run(q, QuantizedPooling.OutputSize(q.Shape[2], k, s, p), QuantizedPooling.OutputSize(q.Shape[3], k, s, p),
                (x, n, c, h, w, y) => Kernels.Quantized.QuantizedOps.MaxPool2d(x, n, c, h, w, k, k, s, s, p, p, 1, 1, false, y));
        }

        return Functional.MaxPool2d(input, KernelSize, Stride, Padding);
    }
}
