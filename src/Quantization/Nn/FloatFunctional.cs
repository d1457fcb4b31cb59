using Quantization.Observers;

namespace Quantization.Nn;

/// <summary>
/// Arithmetic between activations that quantization must see (PyTorch's <c>FloatFunctional</c> and, once converted,
/// <c>QFunctional</c>): give each addition, multiplication or concatenation of a model its own instance and call
/// <see cref="Add"/>, <see cref="Mul"/>, <see cref="AddRelu"/> or <see cref="Cat"/> instead of adding tensors directly.
/// <c>Quantizer.Prepare</c> attaches an observer to the result; <c>Quantizer.Convert</c> turns the same instance into
/// its quantized form, which takes QUInt8 inputs and requantizes the result to the calibrated scale and zero point
/// (<c>quantize(dequantize(a) + dequantize(b))</c>, as PyTorch's reference).
/// </summary>
public sealed class FloatFunctional : Module
{
    private Observer? _observer;
    private Qat.FakeQuantize? _fakeQuantize;
    private Tensor? _scale;
    private Tensor? _zeroPoint;

    /// <summary>True once converted: inputs must be quantized and results are.</summary>
    public bool IsQuantized => _scale is not null;

    /// <summary>The observer attached by <c>Prepare</c>, or null.</summary>
    public Observer? Observer => _observer;

    /// <summary>The fake quantization of the results attached by <c>PrepareQat</c>, or null.</summary>
    public Qat.FakeQuantize? FakeQuantize => _fakeQuantize;

    /// <summary>Not used: call <see cref="Add"/>, <see cref="Mul"/>, <see cref="AddRelu"/> or <see cref="Cat"/>.</summary>
    /// <exception cref="InvalidOperationException">Always.</exception>
    public override Variable Forward(Variable input) =>
        throw new InvalidOperationException("FloatFunctional has no Forward; call Add, Mul, AddRelu or Cat.");

    /// <summary><c>a + b</c> for same-shaped inputs.</summary>
    /// <exception cref="ArgumentException">The shapes differ, or (converted) an input is not quantized.</exception>
    public Variable Add(Variable a, Variable b) => Binary(a, b, Functional.ElementwiseAdd, relu: false);

    /// <summary><c>relu(a + b)</c> for same-shaped inputs.</summary>
    /// <exception cref="ArgumentException">The shapes differ, or (converted) an input is not quantized.</exception>
    public Variable AddRelu(Variable a, Variable b) => Binary(a, b, Functional.ElementwiseAdd, relu: true);

    /// <summary><c>a · b</c> for same-shaped inputs.</summary>
    /// <exception cref="ArgumentException">The shapes differ, or (converted) an input is not quantized.</exception>
    public Variable Mul(Variable a, Variable b) => Binary(a, b, Functional.ElementwiseMultiply, relu: false);

    /// <summary>Concatenates <paramref name="inputs"/> along <paramref name="dim"/> (negative counts from the end).</summary>
    /// <exception cref="ArgumentException">No inputs, shapes that disagree outside <paramref name="dim"/>, or (converted) an input that is not quantized.</exception>
    public Variable Cat(IReadOnlyList<Variable> inputs, int dim = 0)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Count == 0)
            throw new ArgumentException("Cat needs at least one input.", nameof(inputs));
        int axis = Tensor.NormalizeAxis(dim, inputs[0].Shape.Length, nameof(dim));
        if (IsQuantized)
        {
            foreach (var input in inputs)
                RequireQuantized(input);
        }

        var result = Functional.Cat(inputs, axis);
        return Finish(result);
    }

    /// <summary>Attaches the observer of the results (Prepare), inside a fake quantization for quantization-aware training.</summary>
    internal void Observe(Observer observer, bool fakeQuantize)
    {
        _observer = observer;
        _fakeQuantize = fakeQuantize ? new Qat.FakeQuantize(observer) : null;
    }

    /// <summary>Switches to the quantized form with the observer's parameters (Convert).</summary>
    internal void ConvertToQuantized(QuantParams output)
    {
        _observer = null;
        _fakeQuantize = null;
        _scale = RegisterBuffer("scale", Tensor.Full(output.Scale, 1));
        _zeroPoint = RegisterBuffer("zero_point", Tensor.Full(output.ZeroPoint, 1));
    }

    private Variable Binary(Variable a, Variable b, Func<Variable, Variable, Variable> op, bool relu)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (!a.Shape.SequenceEqual(b.Shape))
            throw new ArgumentException($"The inputs must have the same shape but have {Tensor.FormatShape(a.Shape)} and {Tensor.FormatShape(b.Shape)}.", nameof(b));
        if (IsQuantized)
        {
            RequireQuantized(a);
            RequireQuantized(b);
        }

        var result = op(a, b);
        if (relu)
            result = Functional.Relu(result);
        return Finish(result);
    }

    private Variable Finish(Variable result)
    {
        if (IsQuantized)
            return new Variable(QuantizedTensor.Quantize(result.Value, Quantized.QuantizedInput.Output(_scale!, _zeroPoint!)));
        if (_fakeQuantize is not null)
            return _fakeQuantize.Forward(result);
        _observer?.Observe(result.Value);
        return result;
    }

    private static void RequireQuantized(Variable input)
    {
        if (!input.IsQuantized)
            throw new ArgumentException("A converted FloatFunctional takes quantized inputs; put a QuantStub before float data.", nameof(input));
    }
}
