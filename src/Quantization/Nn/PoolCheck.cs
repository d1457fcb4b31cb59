namespace Quantization.Nn;

/// <summary>Shared input check of the pooling layers.</summary>
internal static class PoolCheck
{
    /// <summary>Throws unless a k × k window fits in the padded input.</summary>
    public static void Fits(Variable input, int kernel, int padding, string layer)
    {
        int h = input.Shape[2], w = input.Shape[3];
        if (h + 2 * padding < kernel || w + 2 * padding < kernel)
            throw new ArgumentException($"{layer} with kernel {kernel} and padding {padding} needs H and W of at least {kernel - 2 * padding} but got shape {Tensor.FormatShape(input.Shape)}.", nameof(input));
    }
}
