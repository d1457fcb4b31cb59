namespace Quantization.Kernels.Conv;

/// <summary>
/// The shape of a 2-D convolution: channels, groups, kernel, stride, dilation and (possibly asymmetric, as ONNX
/// allows) padding. Weights are <c>[outChannels, inChannels / groups, kernelH, kernelW]</c> as in PyTorch.
/// </summary>
internal sealed record Conv2dGeometry(
    int InChannels, int OutChannels, int KernelH, int KernelW,
    int StrideH = 1, int StrideW = 1, int PadTop = 0, int PadLeft = 0, int PadBottom = 0, int PadRight = 0,
    int DilationH = 1, int DilationW = 1, int Groups = 1)
{
    public int InChannelsPerGroup => InChannels / Groups;

    public int OutChannelsPerGroup => OutChannels / Groups;

    /// <summary>The GEMM's inner dimension for one group: <c>kernelH × kernelW × inChannels / groups</c>.</summary>
    public int PatchSize => KernelH * KernelW * InChannelsPerGroup;

    /// <summary>One filter per input channel (groups = in = out channels).</summary>
    public bool IsDepthwise => Groups > 1 && Groups == InChannels && Groups == OutChannels;

    /// <summary>A 1×1, stride-1, unpadded convolution: a plain GEMM over pixels.</summary>
    public bool IsPointwise => KernelH == 1 && KernelW == 1 && StrideH == 1 && StrideW == 1
        && PadTop == 0 && PadLeft == 0 && PadBottom == 0 && PadRight == 0;

    public int OutputHeight(int inputHeight) => (inputHeight + PadTop + PadBottom - DilationH * (KernelH - 1) - 1) / StrideH + 1;

    public int OutputWidth(int inputWidth) => (inputWidth + PadLeft + PadRight - DilationW * (KernelW - 1) - 1) / StrideW + 1;

    /// <summary>Throws unless the geometry is consistent; <paramref name="paramName"/> names the argument that carried it.</summary>
    public void Validate(string paramName)
    {
        if (InChannels <= 0 || OutChannels <= 0 || KernelH <= 0 || KernelW <= 0)
            throw new ArgumentException($"Channels and kernel sizes must be positive: {this}.", paramName);
        if (StrideH <= 0 || StrideW <= 0 || DilationH <= 0 || DilationW <= 0)
            throw new ArgumentException($"Strides and dilations must be positive: {this}.", paramName);
        if (PadTop < 0 || PadLeft < 0 || PadBottom < 0 || PadRight < 0)
            throw new ArgumentException($"Padding must not be negative: {this}.", paramName);
        if (Groups <= 0 || InChannels % Groups != 0 || OutChannels % Groups != 0)
            throw new ArgumentException($"Groups ({Groups}) must divide both channel counts ({InChannels} in, {OutChannels} out).", paramName);
    }

    /// <summary>Throws unless an input of <paramref name="height"/> × <paramref name="width"/> yields at least one output pixel.</summary>
    public void ValidateInput(int height, int width, string paramName)
    {
        if (height <= 0 || width <= 0 || OutputHeight(height) <= 0 || OutputWidth(width) <= 0)
            throw new ArgumentException($"An input of {height}×{width} is too small for kernel {KernelH}×{KernelW} with dilation {DilationH}×{DilationW} and this padding.", paramName);
    }
}
