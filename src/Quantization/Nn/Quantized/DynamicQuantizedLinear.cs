namespace Quantization.Nn.Quantized;

/// <summary>
/// A dynamically quantized <see cref="Linear"/> (PyTorch's <c>nn.quantized.dynamic.Linear</c>): FP32 in and out, s8
/// weights packed once, and on every call the input is quantized to QUInt8 with parameters chosen from its own
/// range (PyTorch's <c>ChooseQuantizationParams</c>, with reduce_range on x86), multiplied in int32, and scaled
/// back to FP32 with the bias added in the GEMM's epilogue. Created by <c>Quantizer.QuantizeDynamic</c>.
/// </summary>
public sealed class DynamicQuantizedLinear : Module
{
    private DynamicLinearKernel _kernel;

    internal DynamicQuantizedLinear(QuantizedOutputStage stage, bool reduceRange)
    {
        _kernel = new DynamicLinearKernel(stage, reduceRange);
        RegisterQuantized("weight", () => _kernel.Stage.Weight, w => _kernel = new DynamicLinearKernel(new QuantizedOutputStage(w, Bias, Relu), ReduceRange));
        if (stage.Bias is not null)
            RegisterBuffer("bias", stage.Bias);
    }

    /// <summary>The input width.</summary>
    public int InFeatures => _kernel.InFeatures;

    /// <summary>The output width.</summary>
    public int OutFeatures => _kernel.OutFeatures;

    /// <summary>Whether activations use [0, 127] (x86, as PyTorch's FBGEMM backend) rather than [0, 255].</summary>
    public bool ReduceRange => _kernel.ReduceRange;

    /// <summary>Whether a ReLU follows (PyTorch's dynamic <c>LinearReLU</c>).</summary>
    public bool Relu => _kernel.Stage.Relu;

    /// <summary>The s8 weights [out, in] with their parameters.</summary>
    public QuantizedTensor Weight => _kernel.Stage.Weight;

    /// <summary>The float bias [out], or null.</summary>
    public Tensor? Bias => _kernel.Stage.Bias;

    /// <inheritdoc/>
    /// <exception cref="ArgumentException">The input is not [N, in_features] or contains NaN.</exception>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (input.Shape.Length != 2 || input.Shape[1] != InFeatures)
            throw new ArgumentException($"{nameof(DynamicQuantizedLinear)} expects input (N, {InFeatures}) but got {Tensor.FormatShape(input.Shape)}.", nameof(input));
        return new Variable(_kernel.Run(input.Value, nameof(input)));
    }

    private protected override void OnStateLoaded() =>
        _kernel = new DynamicLinearKernel(new QuantizedOutputStage(Weight, Bias, Relu), ReduceRange);

    /// <inheritdoc/>
    public override string ToString() => $"DynamicQuantizedLinear(in_features={InFeatures}, out_features={OutFeatures}, relu={Relu}, reduce_range={ReduceRange})";
}
