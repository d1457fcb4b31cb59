using Quantization.Kernels.Conv;

namespace Quantization.Nn;

/// <summary>
/// 2-D convolution over NCHW inputs as PyTorch's <c>nn.Conv2d</c> (square kernel, stride, zero padding, dilation,
/// groups); W is [out_channels, in_channels / groups, k, k]. Initialized as PyTorch: W and b from U(-1/√fan_in,
/// 1/√fan_in), fan_in = in_channels / groups · k². Runs as im2col plus the FP32 GEMM, forward and backward.
/// </summary>
public sealed class Conv2d : Module
{
    /// <summary>Creates a layer with freshly initialized weights.</summary>
    /// <exception cref="ArgumentException">The groups do not divide the channel counts, or a size is not positive.</exception>
    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1, int groups = 1, bool bias = true)
    {
        Geometry = new Conv2dGeometry(inChannels, outChannels, kernelSize, kernelSize, stride, stride, padding, padding, padding, padding,
            dilation, dilation, groups);
        Geometry.Validate(nameof(inChannels));
        int fanIn = inChannels / groups * kernelSize * kernelSize;
        var w = new Tensor(outChannels, inChannels / groups, kernelSize, kernelSize);
        Init.KaimingUniformDefault(w.AsSpan(), fanIn);
        Weight = RegisterParameter("weight", new Parameter(w))!;
        if (bias)
        {
            var b = new Tensor(outChannels);
            Init.KaimingUniformDefault(b.AsSpan(), fanIn);
            Bias = RegisterParameter("bias", new Parameter(b));
        }
        else
        {
            RegisterParameter("bias", null);
        }
    }

    /// <summary>The input channel count.</summary>
    public int InChannels => Geometry.InChannels;

    /// <summary>The output channel count.</summary>
    public int OutChannels => Geometry.OutChannels;

    /// <summary>The kernel's height and width.</summary>
    public int KernelSize => Geometry.KernelH;

    /// <summary>The step between output pixels.</summary>
    public int Stride => Geometry.StrideH;

    /// <summary>The zero padding on every side.</summary>
    public int Padding => Geometry.PadTop;

    /// <summary>The spacing between kernel taps.</summary>
    public int Dilation => Geometry.DilationH;

    /// <summary>The number of channel groups.</summary>
    public int Groups => Geometry.Groups;

    /// <summary>The weights [out_channels, in_channels / groups, k, k].</summary>
    public Parameter Weight { get; }

    /// <summary>The bias [out_channels], or null.</summary>
    public Parameter? Bias { get; }

    /// <summary>The shape for the kernels (quantized conversion reuses it).</summary>
    internal Conv2dGeometry Geometry { get; }

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The input is not [N, in_channels, H, W], or is too small for the kernel.</exception>
    public override Variable Forward(Variable input)
    {
        InputCheck.Shape(input, nameof(Conv2d), 4, InChannels, $"(N, {InChannels}, H, W)");
        Geometry.ValidateInput(input.Shape[2], input.Shape[3], nameof(input));
        return Functional.Conv2d(input, Weight, Bias, Geometry);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"Conv2d({InChannels}, {OutChannels}, kernel_size={KernelSize}, stride={Stride}, padding={Padding}, dilation={Dilation}, groups={Groups}, bias={Bias is not null})";
}
