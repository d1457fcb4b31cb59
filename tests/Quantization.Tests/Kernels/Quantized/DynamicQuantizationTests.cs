using Quantization.Kernels.Quantized;
using Xunit;

namespace Quantization.Tests.Kernels.Quantized;

/// <summary>Golden values for PyTorch's ChooseQuantizationParams and ONNX's DynamicQuantizeLinear parameters, worked out by hand.</summary>
public class DynamicQuantizationTests
{
    [Fact]
    public void Symmetric_range_rounds_the_zero_point_tie_to_even()
    {
        // scale = 2 / 255; zero point from min: 0 - (-1) / (2 / 255) = 127.5 (its "error" 0 - 127.5 beats 255 - 127.5) -> 128.
        Assert.Equal((2f / 255f, 128), DynamicQuantization.ChooseQParams(-1f, 1f, 0, 255));
        // reduce_range: [0, 127], scale = 2 / 127, zero point 63.5 -> 64.
        Assert.Equal((2f / 127f, 64), DynamicQuantization.ChooseQParams(-1f, 1f, 0, 255, reduceRange: true));
        // Signed range [-128, 127]: errors 128 - 127.5 and 127 - 127.5 pick the max side, 127 - 127.5 = -0.5 -> -0 = 0.
        Assert.Equal((2f / 255f, 0), DynamicQuantization.ChooseQParams(-1f, 1f, -128, 127));
    }

    [Fact]
    public void Range_is_extended_to_include_zero()
    {
        // [0.5, 2] -> [0, 2]: scale 2 / 255, zero point 0 - 0 / scale = 0.
        Assert.Equal((2f / 255f, 0), DynamicQuantization.ChooseQParams(0.5f, 2f, 0, 255));
        // [-2, -0.5] -> [-2, 0]: scale 2 / 255, zero point 0 + 2 / (2 / 255) = 255.
        Assert.Equal((2f / 255f, 255), DynamicQuantization.ChooseQParams(-2f, -0.5f, 0, 255));
    }

    [Fact]
    public void Empty_range_gets_scale_one_tenth()
    {
        // (0 - 0) / 255 = 0 -> 0.1; zero point 0 - 0 / 0.1 = 0.
        Assert.Equal((0.1f, 0), DynamicQuantization.ChooseQParams(0f, 0f, 0, 255));
        // An infinite range would give an infinite scale; DESIGN.md asks for 0.1. min = -inf: its zero point is +inf -> qmax.
        Assert.Equal((0.1f, 255), DynamicQuantization.ChooseQParams(float.NegativeInfinity, 1f, 0, 255));
    }

    [Fact]
    public void Small_scales_are_raised_to_the_threshold()
    {
        // [0, 1e-3]: scale 1e-3 / 255 = 3.9e-6 < 6.1e-5 -> 6.1e-5; min = 0 so max = 6.1e-5 * 255; zero point 0.
        Assert.Equal((6.1e-5f, 0), DynamicQuantization.ChooseQParams(0f, 1e-3f, 0, 255));
        // [-1e-4, 1e-4]: scale 7.84e-7 -> 6.1e-5, min and max amplified to -/+0.0077775; zero point from min
        // 0.0077775 / 6.1e-5 = 127.500002 -> 128.
        Assert.Equal((6.1e-5f, 128), DynamicQuantization.ChooseQParams(-1e-4f, 1e-4f, 0, 255));
    }

    [Fact]
    public void Preserve_sparsity_widens_the_range_symmetrically()
    {
        // symmetric qmin/qmax = -128/127; max_scale = max(1/128, 2/127) = 2/127 (float); min = -256/127, max = 2;
        // scale = (2 + 256/127) / 255 = 2/127 (within float rounding); zero point (0 + 255) / 2 = 127.5 -> 128.
        var (scale, zp) = DynamicQuantization.ChooseQParams(-1f, 2f, 0, 255, preserveSparsity: true);
        Assert.Equal(2f / 127f, scale);
        Assert.Equal(128, zp);
    }

    [Fact]
    public void Scale_can_be_forced_to_a_power_of_two()
    {
        // 2 / 255 < 1: 1 / scale = 127.5, floor(log2) = 6 -> 1/64; zero point 0 + 1 * 64 = 64.
        Assert.Equal((1f / 64f, 64), DynamicQuantization.ChooseQParams(-1f, 1f, 0, 255, forceScaleToPowerOfTwo: true));
        // 600 / 255 = 2.35 >= 1: ceil(log2) = 2 -> 4; zero point 300 / 4 = 75.
        Assert.Equal((4f, 75), DynamicQuantization.ChooseQParams(-300f, 300f, 0, 255, forceScaleToPowerOfTwo: true));
    }

    [Fact]
    public void ChooseQParams_rejects_bad_arguments()
    {
        Assert.Equal("min", Assert.ThrowsAny<ArgumentException>(() => DynamicQuantization.ChooseQParams(float.NaN, 1f, 0, 255)).ParamName);
        Assert.Equal("max", Assert.ThrowsAny<ArgumentException>(() => DynamicQuantization.ChooseQParams(0f, float.NaN, 0, 255)).ParamName);
        Assert.Equal("min", Assert.ThrowsAny<ArgumentException>(() => DynamicQuantization.ChooseQParams(2f, 1f, 0, 255)).ParamName);
        Assert.Equal("qmin", Assert.ThrowsAny<ArgumentException>(() => DynamicQuantization.ChooseQParams(0f, 1f, 0, 1, reduceRange: true)).ParamName);
    }

    [Fact]
    public void Onnx_parameters_follow_onnx_runtime()
    {
        // The operator's examples: [-3, 2] -> scale 5/255, zero point 3 / (5/255) = 153.
        Assert.Equal((5f / 255f, (byte)153), DynamicQuantization.OnnxDynamicQParams(-3f, 2f));
        // [-4, 0] -> scale 4/255, zero point 255; [0, 4] -> zero point 0.
        Assert.Equal((4f / 255f, (byte)255), DynamicQuantization.OnnxDynamicQParams(-4f, -1f));
        Assert.Equal((4f / 255f, (byte)0), DynamicQuantization.OnnxDynamicQParams(1f, 4f));
        // [-1, 1]: in float 1 / (2f / 255f) = 127.49999 (not PyTorch's 127.5 in double) -> 127.
        Assert.Equal((2f / 255f, (byte)127), DynamicQuantization.OnnxDynamicQParams(-1f, 1f));
        // Empty range: ONNX Runtime's scale 1, zero point 0.
        Assert.Equal((1f, (byte)0), DynamicQuantization.OnnxDynamicQParams(0f, 0f));
        Assert.Equal("max", Assert.ThrowsAny<ArgumentException>(() => DynamicQuantization.OnnxDynamicQParams(0f, float.PositiveInfinity)).ParamName);
        Assert.Equal("min", Assert.ThrowsAny<ArgumentException>(() => DynamicQuantization.OnnxDynamicQParams(1f, 0f)).ParamName);
    }
}
