using Quantization.Kernels.Conv;

namespace Quantization.Nn;

/// <summary>
/// 2-D convolution over NCHW inputs as PyTorch's <c>nn.Conv2d</c> (stride, zero padding, dilation, groups), with
/// kernels that need not be square and padding that may differ per side (as ONNX <c>Conv</c> allows); W is
/// [out_channels, in_channels / groups, kernel_h, kernel_w]. Initialized as PyTorch: W and b from
/// U(-1/√fan_in, 1/√fan_in), fan_in = in_channels / groups · kernel_h · kernel_w.
/// </summary>
/// <remarks>
/// With gradient recording on, runs as im2col plus the FP32 GEMM, forward and backward. Inside
/// <see cref="Autograd.NoGrad"/> (inference) it runs the packed FP32 convolution kernel instead (NHWC im2col,
/// pointwise and depthwise fast paths). The packed weights are kept with a copy of the weights they came from and
/// repacked whenever <see cref="Weight"/> no longer equals that copy, so edits always take effect while repeated
/// inference packs once (comparing costs a fraction of packing).
/// </remarks>
public sealed class Conv2d : Module
{
    // One reference, so a concurrent caller sees a kernel together with the weights it was packed from.
    private Packing? _packing;

    /// <summary>Creates a layer with a square kernel, the same stride and dilation on both axes and the same padding on every side.</summary>
    /// <exception cref="ArgumentException">The groups do not divide the channel counts, or a size is not positive.</exception>
    public Conv2d(int inChannels, int outChannels, int kernelSize, int stride = 1, int padding = 0, int dilation = 1, int groups = 1, bool bias = true)
        : this(inChannels, outChannels, (kernelSize, kernelSize), (stride, stride), (padding, padding, padding, padding), (dilation, dilation), groups, bias)
    {
    }

    /// <summary>Creates a layer with per-axis kernel size, stride and dilation and per-side padding.</summary>
    /// <param name="inChannels">The input channel count.</param>
    /// <param name="outChannels">The output channel count.</param>
    /// <param name="kernelSize">The kernel's height and width.</param>
    /// <param name="stride">The step between output pixels along the height and the width.</param>
    /// <param name="padding">The zero padding above, left of, below and right of the input.</param>
    /// <param name="dilation">The spacing between kernel taps along the height and the width.</param>
    /// <param name="groups">The number of channel groups.</param>
    /// <param name="bias">Whether the layer adds a bias.</param>
    /// <exception cref="ArgumentException">The groups do not divide the channel counts, a size is not positive, or a padding is negative.</exception>
    public Conv2d(int inChannels, int outChannels, (int Height, int Width) kernelSize, (int Height, int Width) stride,
        (int Top, int Left, int Bottom, int Right) padding, (int Height, int Width) dilation, int groups = 1, bool bias = true)
    {
        Geometry = new Conv2dGeometry(inChannels, outChannels, kernelSize.Height, kernelSize.Width, stride.Height, stride.Width,
            padding.Top, padding.Left, padding.Bottom, padding.Right, dilation.Height, dilation.Width, groups);
        Geometry.Validate(nameof(inChannels));
        int fanIn = inChannels / groups * kernelSize.Height * kernelSize.Width;
        var w = new Tensor(outChannels, inChannels / groups, kernelSize.Height, kernelSize.Width);
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

    /// <summary>The kernel's size for a square kernel; the height otherwise (see <see cref="KernelWidth"/>).</summary>
    public int KernelSize => Geometry.KernelH;

    /// <summary>The kernel's height.</summary>
    public int KernelHeight => Geometry.KernelH;

    /// <summary>The kernel's width.</summary>
    public int KernelWidth => Geometry.KernelW;

    /// <summary>The step between output pixels when equal on both axes; the vertical step otherwise (see <see cref="StrideWidth"/>).</summary>
    public int Stride => Geometry.StrideH;

    /// <summary>The vertical step between output pixels.</summary>
    public int StrideHeight => Geometry.StrideH;

    /// <summary>The horizontal step between output pixels.</summary>
    public int StrideWidth => Geometry.StrideW;

    /// <summary>The zero padding when equal on every side; the top padding otherwise (see <see cref="PaddingLeft"/> and the others).</summary>
    public int Padding => Geometry.PadTop;

    /// <summary>The zero rows above the input.</summary>
    public int PaddingTop => Geometry.PadTop;

    /// <summary>The zero columns left of the input.</summary>
    public int PaddingLeft => Geometry.PadLeft;

    /// <summary>The zero rows below the input.</summary>
    public int PaddingBottom => Geometry.PadBottom;

    /// <summary>The zero columns right of the input.</summary>
    public int PaddingRight => Geometry.PadRight;

    /// <summary>The spacing between kernel taps when equal on both axes; the vertical spacing otherwise (see <see cref="DilationWidth"/>).</summary>
    public int Dilation => Geometry.DilationH;

    /// <summary>The vertical spacing between kernel taps.</summary>
    public int DilationHeight => Geometry.DilationH;

    /// <summary>The horizontal spacing between kernel taps.</summary>
    public int DilationWidth => Geometry.DilationW;

    /// <summary>The number of channel groups.</summary>
    public int Groups => Geometry.Groups;

    /// <summary>The weights [out_channels, in_channels / groups, kernel_h, kernel_w].</summary>
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
        int n = input.Shape[0], h = input.Shape[2], w = input.Shape[3];
        Geometry.ValidateInput(h, w, nameof(input));
        if (Autograd.IsEnabled)
            return Functional.Conv2d(input, Weight, Bias, Geometry);

        var y = Tensor.Uninitialized(n, OutChannels, Geometry.OutputHeight(h), Geometry.OutputWidth(w));
        Packed().Run(input.Value.AsSpan(), n, h, w, Bias is null ? default : Bias.Value.AsSpan(), y.AsSpan());
        return new Variable(y);
    }

    /// <summary>The inference kernel for the current weights, packed again only when they changed since the last call.</summary>
    private Fp32Conv2d Packed()
    {
        ReadOnlySpan<float> weights = Weight.Value.AsSpan();
        Packing? packing = _packing;
        if (packing is null || !weights.SequenceEqual(packing.From))
        {
            packing = new Packing(weights.ToArray(), new Fp32Conv2d(Geometry, weights));
            _packing = packing;
        }

        return packing.Kernel;
    }

    private sealed record Packing(float[] From, Fp32Conv2d Kernel);

    /// <inheritdoc/>
    public override string ToString()
    {
        var g = Geometry;
        bool square = g.KernelH == g.KernelW && g.StrideH == g.StrideW && g.DilationH == g.DilationW
            && g.PadTop == g.PadLeft && g.PadTop == g.PadBottom && g.PadTop == g.PadRight;
        return square
            ? $"Conv2d({InChannels}, {OutChannels}, kernel_size={KernelSize}, stride={Stride}, padding={Padding}, dilation={Dilation}, groups={Groups}, bias={Bias is not null})"
            : $"Conv2d({InChannels}, {OutChannels}, kernel_size=({g.KernelH}, {g.KernelW}), stride=({g.StrideH}, {g.StrideW}), padding=({g.PadTop}, {g.PadLeft}, {g.PadBottom}, {g.PadRight}), dilation=({g.DilationH}, {g.DilationW}), groups={Groups}, bias={Bias is not null})";
    }
}
