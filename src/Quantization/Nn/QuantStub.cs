namespace Quantization.Nn;

/// <summary>
/// Marks where float data enters the quantized part of a model (PyTorch's <c>QuantStub</c>). It passes its input
/// through until <c>Quantizer.Prepare</c> observes it and <c>Quantizer.Convert</c> replaces it by a
/// <see cref="Quantized.Quantize"/> module with the calibrated scale and zero point.
/// </summary>
public sealed class QuantStub : Module
{
    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return input;
    }
}

/// <summary>
/// Marks where data leaves the quantized part of a model (PyTorch's <c>DeQuantStub</c>): quantized input is
/// dequantized to FP32, float input passes through, so the same module serves the float, prepared and converted model.
/// </summary>
public sealed class DeQuantStub : Module
{
    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return input.IsQuantized ? new Variable(input.Value) : input;
    }
}

/// <summary>
/// Wraps a float model between a <see cref="QuantStub"/> and a <see cref="DeQuantStub"/> (PyTorch's
/// <c>QuantWrapper</c>), so that static quantization can convert all of it: FP32 in, INT8 inside, FP32 out.
/// Children: <c>quant</c>, <c>dequant</c>, <c>module</c>.
/// </summary>
public sealed class QuantWrapper : Module
{
    /// <summary>Wraps <paramref name="module"/> (not copied).</summary>
    public QuantWrapper(Module module)
    {
        ArgumentNullException.ThrowIfNull(module);
        RegisterModule("quant", new QuantStub());
        RegisterModule("dequant", new DeQuantStub());
        RegisterModule("module", module);
    }

    /// <inheritdoc/>
    public override Variable Forward(Variable input) =>
        GetSubmodule("dequant").Forward(GetSubmodule("module").Forward(GetSubmodule("quant").Forward(input)));
}
