namespace Quantization.Kernels.Conv;

/// <summary>
/// The shape of a 2-D transposed convolution (PyTorch's ConvTranspose2d, ONNX ConvTranspose). Weights are
/// <c>[inChannels, outChannels / groups, kernelH, kernelW]</c>; input pixel (ih, iw) adds its contribution through
/// tap (kh, kw) to output pixel <c>(ih * strideH - padTop + kh * dilationH, iw * strideW - padLeft + kw * dilationW)</c>.
/// </summary>
internal sealed record ConvTranspose2dGeometry(
    int InChannels, int OutChannels, int KernelH, int KernelW,
    int StrideH = 1, int StrideW = 1, int PadTop = 0, int PadLeft = 0, int PadBottom = 0, int PadRight = 0,
    int DilationH = 1, int DilationW = 1, int OutputPaddingH = 0, int OutputPaddingW = 0, int Groups = 1)
{
    public int InChannelsPerGroup => InChannels / Groups;

    public int OutChannelsPerGroup => OutChannels / Groups;

    public int Taps => KernelH * KernelW;

    public int OutputHeight(int inputHeight) => (inputHeight - 1) * StrideH - PadTop - PadBottom + DilationH * (KernelH - 1) + OutputPaddingH + 1;

    public int OutputWidth(int inputWidth) => (inputWidth - 1) * StrideW - PadLeft - PadRight + DilationW * (KernelW - 1) + OutputPaddingW + 1;

    /// <summary>Throws unless the geometry is consistent.</summary>
    public void Validate(string paramName)
    {
        if (InChannels <= 0 || OutChannels <= 0 || KernelH <= 0 || KernelW <= 0)
            throw new ArgumentException($"Channels and kernel sizes must be positive: {this}.", paramName);
        if (StrideH <= 0 || StrideW <= 0 || DilationH <= 0 || DilationW <= 0)
            throw new ArgumentException($"Strides and dilations must be positive: {this}.", paramName);
        if (PadTop < 0 || PadLeft < 0 || PadBottom < 0 || PadRight < 0)
            throw new ArgumentException($"Padding must not be negative: {this}.", paramName);
        if (OutputPaddingH < 0 || OutputPaddingW < 0 || (OutputPaddingH >= StrideH && OutputPaddingH >= DilationH) || (OutputPaddingW >= StrideW && OutputPaddingW >= DilationW))
            throw new ArgumentException($"Output padding must be smaller than the stride or the dilation: {this}.", paramName);
        if (Groups <= 0 || InChannels % Groups != 0 || OutChannels % Groups != 0)
            throw new ArgumentException($"Groups ({Groups}) must divide both channel counts ({InChannels} in, {OutChannels} out).", paramName);
    }

    /// <summary>Throws unless the input yields at least one output pixel.</summary>
    public void ValidateInput(int height, int width, string paramName)
    {
        if (height <= 0 || width <= 0 || OutputHeight(height) <= 0 || OutputWidth(width) <= 0)
            throw new ArgumentException($"An input of {height}×{width} gives no output pixels with this padding.", paramName);
    }
}
