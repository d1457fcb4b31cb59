using Quantization.Kernels.Gemm;
using Quantization.Observers;

namespace Quantization.Nn.Quantized;

/// <summary>
/// The weights of a quantized Linear or Conv2d and the requantizing GEMM epilogue built from them, cached for the
/// input scale and output parameters of the last call (they only change when the input's calibration differs).
/// </summary>
/// <remarks>
/// The float bias becomes int32 at scale <c>sa · sw[n]</c> (rounded half to even, saturated), as ONNX's QLinear
/// operators store it; the multiplier is <c>sa · sw[n] / so</c>.
/// </remarks>
internal sealed class QuantizedOutputStage
{
    private readonly float[] _weightScales;
    // One reference, replaced whole, so concurrent inference never sees a torn cache entry.
    private Cached? _cached;

    /// <summary>Quantizes <paramref name="weight"/> with <paramref name="weightObserver"/>, which is fed the weights first; the bias is copied.</summary>
    public QuantizedOutputStage(Tensor weight, Tensor? bias, Observer weightObserver, bool relu)
        : this(QuantizeWeight(weight, weightObserver), bias?.Clone(), relu)
    {
    }

    /// <summary>Uses <paramref name="bias"/> itself (the owning module's buffer), so loading new values reaches it.</summary>
    public QuantizedOutputStage(QuantizedTensor weight, Tensor? bias, bool relu)
    {
        Weight = weight;
        Bias = bias;
        Relu = relu;
        int outChannels = weight.Shape[0];
        var qp = weight.QParams;
        _weightScales = qp.IsPerChannel ? qp.Scales.ToArray() : Enumerable.Repeat(qp.Scale, outChannels).ToArray();
        WeightZeroPoints = qp.IsPerChannel ? qp.ZeroPoints.ToArray() : [qp.ZeroPoint];
    }

    /// <summary>The s8 weights with their parameters.</summary>
    public QuantizedTensor Weight { get; }

    /// <summary>The float bias, or null.</summary>
    public Tensor? Bias { get; }

    /// <summary>Whether a ReLU is fused into the output clamp.</summary>
    public bool Relu { get; }

    /// <summary>One zero point, or one per output channel.</summary>
    public int[] WeightZeroPoints { get; }

    /// <summary>The epilogue for an input of scale <paramref name="inputScale"/> and the given u8 output parameters.</summary>
    public Int8GemmEpilogue Epilogue(float inputScale, float outputScale, int outputZeroPoint)
    {
        if (_cached is { } c && c.InputScale == inputScale && c.OutputScale == outputScale && c.OutputZeroPoint == outputZeroPoint)
            return c.Epilogue;

        int n = _weightScales.Length;
        var multipliers = new float[n];
        int[]? intBias = Bias is null ? null : new int[n];
        for (int j = 0; j < n; j++)
        {
            float accScale = inputScale * _weightScales[j];
            multipliers[j] = accScale / outputScale;
            if (intBias is not null)
                intBias[j] = (int)Math.Clamp(Math.Round(Bias!.AsSpan()[j] / (double)accScale, MidpointRounding.ToEven), int.MinValue, int.MaxValue);
        }

        var epilogue = Int8GemmEpilogue.Requantize(multipliers, intBias, outputZeroPoint, Relu ? outputZeroPoint : 0, byte.MaxValue, signedOutput: false);
        _cached = new Cached(inputScale, outputScale, outputZeroPoint, epilogue);
        return epilogue;
    }

    /// <summary>Float output <c>acc · sa · sw[n] + bias[n]</c> for dynamic quantization.</summary>
    public Int8GemmEpilogue FloatEpilogue(float inputScale)
    {
        var scales = new float[_weightScales.Length];
        for (int j = 0; j < scales.Length; j++)
            scales[j] = inputScale * _weightScales[j];
        return Int8GemmEpilogue.ToFloat(scales, Bias?.AsSpan().ToArray());
    }

    private static QuantizedTensor QuantizeWeight(Tensor weight, Observer observer)
    {
        if (observer.Options.DType != QuantDType.QInt8)
            throw new ArgumentException($"Weights must be quantized to QInt8 but the weight observer targets {observer.Options.DType}.", nameof(observer));
        observer.Observe(weight);
        var qparams = observer.CalculateQParams();
        if (qparams.IsPerChannel && qparams.Axis != 0)
            throw new ArgumentException($"Per-channel weights must be quantized along axis 0 (the output channels), not {qparams.Axis}.", nameof(observer));
        return QuantizedTensor.Quantize(weight, qparams);
    }

    private sealed record Cached(float InputScale, float OutputScale, int OutputZeroPoint, Int8GemmEpilogue Epilogue);
}
