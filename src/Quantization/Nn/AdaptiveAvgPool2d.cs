namespace Quantization.Nn;

/// <summary>
/// Averages NCHW inputs down to a fixed output size, as PyTorch's <c>nn.AdaptiveAvgPool2d</c>: output cell (i, j)
/// covers rows ⌊i·H/oh⌋ to ⌈(i+1)·H/oh⌉ (exclusive) and the same for columns, so windows may overlap.
/// </summary>
public sealed class AdaptiveAvgPool2d : Module
{
    /// <summary>Creates the layer for an output of <paramref name="outputHeight"/> × <paramref name="outputWidth"/> (square when the width is omitted).</summary>
    public AdaptiveAvgPool2d(int outputHeight, int? outputWidth = null)
    {
        InputCheck.Positive(outputHeight, nameof(outputHeight));
        OutputHeight = outputHeight;
        OutputWidth = outputWidth ?? outputHeight;
        InputCheck.Positive(OutputWidth, nameof(outputWidth));
    }

    /// <summary>The output height.</summary>
    public int OutputHeight { get; }

    /// <summary>The output width.</summary>
    public int OutputWidth { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The input is not NCHW.</exception>
    public override Variable Forward(Variable input)
    {
        InputCheck.Shape(input, nameof(AdaptiveAvgPool2d), 4, -1, "(N, C, H, W)");
        if (input.Shape[2] == 0 || input.Shape[3] == 0)
            throw new ArgumentException($"AdaptiveAvgPool2d needs a non-empty image but got shape {Tensor.FormatShape(input.Shape)}.", nameof(input));
        if (input.Quantized is { } q)
        {
            int oh = OutputHeight, ow = OutputWidth;
            return QuantizedPooling.Run(q, oh, ow, (x, n, c, h, w, y) => Kernels.Quantized.QuantizedOps.AdaptiveAvgPool2d(x, n, c, h, w, oh, ow, y));
        }

        return Functional.AdaptiveAvgPool2d(input, OutputHeight, OutputWidth);
    }
}
