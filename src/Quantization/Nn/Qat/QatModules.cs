using Quantization.Kernels.Conv;
using Quantization.Nn.Quantized;
using Quantization.Workflows;

namespace Quantization.Nn.Qat;

/// <summary>A layer prepared for quantization-aware training, which <see cref="Quantizer.Convert"/> turns into its quantized form.</summary>
internal interface IQatModule
{
    /// <summary>True once the fake quantizations have seen data.</summary>
    bool HasObservedData { get; }

    /// <summary>The quantized layer with the learned weights and the fake quantizations' parameters.</summary>
    Module ToQuantized();
}

/// <summary>
/// The shared part of the QAT layers: the float layer's own parameters (the same objects, so training updates them),
/// a <see cref="FakeQuantize"/> on the weights (<c>weight_fake_quant</c>) and one on the outputs
/// (<c>activation_post_process</c>), and an optional fused ReLU before the latter.
/// </summary>
public abstract class QatModule : Module, IQatModule
{
    private protected QatModule(Parameter weight, Parameter? bias, QConfig qconfig, bool relu)
    {
        ArgumentNullException.ThrowIfNull(qconfig);
        Weight = RegisterParameter("weight", weight)!;
        Bias = RegisterParameter("bias", bias);
        Relu = relu;
        WeightFakeQuant = RegisterModule("weight_fake_quant", new FakeQuantize(qconfig.Weight()));
        ActivationFakeQuant = RegisterModule("activation_post_process", new FakeQuantize(qconfig.Activation()));
        if (WeightFakeQuant.Observer.Options.DType != QuantDType.QInt8)
            throw new ArgumentException($"Weights must be quantized to QInt8 but the weight observer targets {WeightFakeQuant.Observer.Options.DType}.", nameof(qconfig));
    }

    /// <summary>The float weights being trained.</summary>
    public Parameter Weight { get; }

    /// <summary>The float bias, or null.</summary>
    public Parameter? Bias { get; }

    /// <summary>Whether a ReLU is fused before the output fake quantization.</summary>
    public bool Relu { get; }

    /// <summary>The fake quantization of the weights.</summary>
    public FakeQuantize WeightFakeQuant { get; }

    /// <summary>The fake quantization of the outputs.</summary>
    public FakeQuantize ActivationFakeQuant { get; }

    bool IQatModule.HasObservedData => WeightFakeQuant.Observer.HasObservedData && ActivationFakeQuant.Observer.HasObservedData;

    Module IQatModule.ToQuantized() => ToQuantized();

    private protected abstract Module ToQuantized();

    /// <summary>Applies the fused ReLU and the output fake quantization.</summary>
    private protected Variable Output(Variable y) => ActivationFakeQuant.Forward(Relu ? Functional.Relu(y) : y);

    /// <summary>The learned weights quantized with the weight fake quantization's parameters, plus the bias.</summary>
    private protected QuantizedOutputStage Stage(Tensor weight, Tensor? bias) =>
        new(QuantizedTensor.Quantize(weight, WeightFakeQuant.Observer.CalculateQParams()), bias?.Clone(), Relu);

    private protected QuantParams OutputQParams() => ActivationFakeQuant.Observer.CalculateQParams();
}

/// <summary>Linear (or LinearReLU) with fake-quantized weights and outputs (PyTorch's <c>nn.qat.Linear</c>).</summary>
public sealed class QatLinear : QatModule
{
    internal QatLinear(Linear linear, QConfig qconfig, bool relu)
        : base(linear.Weight, linear.Bias, qconfig, relu)
    {
        InFeatures = linear.InFeatures;
        OutFeatures = linear.OutFeatures;
    }

    /// <summary>The input width.</summary>
    public int InFeatures { get; }

    /// <summary>The output width.</summary>
    public int OutFeatures { get; }

    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        InputCheck.Shape(input, nameof(QatLinear), 2, InFeatures, $"(N, {InFeatures})");
        return Output(Functional.Linear(input, WeightFakeQuant.Forward(Weight), Bias));
    }

    private protected override Module ToQuantized() => new QuantizedLinear(Stage(Weight.Value, Bias?.Value), OutputQParams());
}

/// <summary>Conv2d (or ConvReLU2d) with fake-quantized weights and outputs (PyTorch's <c>nn.qat.Conv2d</c>).</summary>
public sealed class QatConv2d : QatModule
{
    private readonly Conv2dGeometry _geometry;

    internal QatConv2d(Conv2d conv, QConfig qconfig, bool relu)
        : base(conv.Weight, conv.Bias, qconfig, relu) => _geometry = conv.Geometry;

    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        InputCheck.Shape(input, nameof(QatConv2d), 4, _geometry.InChannels, $"(N, {_geometry.InChannels}, H, W)");
        _geometry.ValidateInput(input.Shape[2], input.Shape[3], nameof(input));
        return Output(Functional.Conv2d(input, WeightFakeQuant.Forward(Weight), Bias, _geometry));
    }

    private protected override Module ToQuantized() => new QuantizedConv2d(_geometry, Stage(Weight.Value, Bias?.Value), OutputQParams());
}

/// <summary>
/// Conv2d + BatchNorm2d (+ ReLU) for quantization-aware training (PyTorch's <c>nn.intrinsic.qat.ConvBn2d</c>): the
/// weights are scaled by <c>γ / √(running_var + eps)</c> and fake-quantized as they will be once folded, the
/// convolution's output is scaled back, and the batch norm keeps normalizing with batch statistics (and updating its
/// running ones) until <see cref="FreezeBatchNorm"/>. <see cref="Quantizer.Convert"/> folds it with the running statistics.
/// </summary>
public sealed class QatConvBn2d : QatModule
{
    private readonly Conv2dGeometry _geometry;

    internal QatConvBn2d(Conv2d conv, BatchNorm2d bn, QConfig qconfig, bool relu)
        : base(conv.Weight, conv.Bias, qconfig, relu)
    {
        if (bn.NumFeatures != conv.OutChannels)
            throw new ArgumentException($"The Conv2d has {conv.OutChannels} output channels but the batch norm has {bn.NumFeatures}.", nameof(bn));
        _geometry = conv.Geometry;
        BatchNorm = RegisterModule("bn", bn);
    }

    /// <summary>The batch normalization being trained.</summary>
    public BatchNorm2d BatchNorm { get; }

    /// <summary>When true, the batch norm normalizes with its running statistics and stops updating them (PyTorch's <c>freeze_bn_stats</c>).</summary>
    public bool FreezeBatchNorm { get; set; }

    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        InputCheck.Shape(input, nameof(QatConvBn2d), 4, _geometry.InChannels, $"(N, {_geometry.InChannels}, H, W)");
        _geometry.ValidateInput(input.Shape[2], input.Shape[3], nameof(input));
        var bn = BatchNorm;
        var invStd = new Tensor(bn.NumFeatures);
        for (int c = 0; c < bn.NumFeatures; c++)
            invStd.AsSpan()[c] = 1f / MathF.Sqrt(bn.RunningVar.AsSpan()[c] + bn.Eps);
        var factor = bn.Weight is null ? new Variable(invStd) : Functional.ScaleChannels(bn.Weight, new Variable(invStd), 0, divide: false);
        var scaledWeight = WeightFakeQuant.Forward(Functional.ScaleChannels(Weight, factor, 0, divide: false));
        var conv = Functional.ScaleChannels(Functional.Conv2d(input, scaledWeight, null, _geometry), factor, 1, divide: true);
        if (Bias is not null)
            conv = Functional.AddChannels(conv, Bias, 1);
        bool training = IsTraining && !FreezeBatchNorm;
        if (training)
            bn.NumBatchesTracked.AsSpan()[0]++;
        var y = Functional.BatchNorm(conv, bn.Weight, bn.Bias, bn.RunningMean, bn.RunningVar, training, bn.Momentum, bn.Eps);
        return Output(y);
    }

    private protected override Module ToQuantized()
    {
        var (weight, bias) = BatchNormFolding.Fold(Weight.Value, Bias?.Value, BatchNorm);
        return new QuantizedConv2d(_geometry, Stage(weight, bias), OutputQParams());
    }
}
