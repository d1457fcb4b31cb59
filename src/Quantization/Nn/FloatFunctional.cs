using Quantization.Kernels.Quantized;
using Quantization.Observers;

namespace Quantization.Nn;

/// <summary>
/// Arithmetic between activations that quantization must see (PyTorch's <c>FloatFunctional</c> and, once converted,
/// <c>QFunctional</c>): give each addition, multiplication or concatenation of a model its own instance and call
/// <see cref="Add"/>, <see cref="Mul"/>, <see cref="AddRelu"/> or <see cref="Cat"/> instead of adding tensors directly.
/// <c>Quantizer.Prepare</c> attaches an observer to the result; <c>Quantizer.Convert</c> turns the same instance into
/// its quantized form, which takes QUInt8 inputs and requantizes the result to the calibrated scale and zero point
/// with PyTorch's quantized kernels (add: <c>quantize(dequantize(a) + dequantize(b))</c>; mul: the integer product
/// times <c>sa · sb / sy</c>; cat: each input requantized into its slice).
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
    public Variable Add(Variable a, Variable b) => Binary(a, b, multiply: false, relu: false);

    /// <summary><c>relu(a + b)</c> for same-shaped inputs.</summary>
    /// <exception cref="ArgumentException">The shapes differ, or (converted) an input is not quantized.</exception>
    public Variable AddRelu(Variable a, Variable b) => Binary(a, b, multiply: false, relu: true);

    /// <summary><c>a · b</c> for same-shaped inputs.</summary>
    /// <exception cref="ArgumentException">The shapes differ, or (converted) an input is not quantized.</exception>
    public Variable Mul(Variable a, Variable b) => Binary(a, b, multiply: true, relu: false);

    /// <summary>Concatenates <paramref name="inputs"/> along <paramref name="dim"/> (negative counts from the end).</summary>
    /// <exception cref="ArgumentException">No inputs, shapes that disagree outside <paramref name="dim"/>, or (converted) an input that is not quantized.</exception>
    public Variable Cat(IReadOnlyList<Variable> inputs, int dim = 0)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        if (inputs.Count == 0)
            throw new ArgumentException("Cat needs at least one input.", nameof(inputs));
        int axis = Tensor.NormalizeAxis(dim, inputs[0].Shape.Length, nameof(dim));
        if (!IsQuantized)
            return Finish(Functional.Cat(inputs, axis));

        var parts = inputs.Select(input =>
        {
            var q = RequireQuantized(input);
            return (q.AsUInt8Span().ToArray(), q.Shape.ToArray(), q.QParams.Scale, q.QParams.ZeroPoint);
        }).ToList();
        var output = OutputQParams;
        var shape = QuantizedOps.ConcatShape(parts, axis);
        var y = new byte[shape.Aggregate(1, (a, b) => a * b)];
        QuantizedOps.Concat(parts, axis, output.Scale, output.ZeroPoint, y);
        return new Variable(QuantizedTensor.Wrap(y, shape, output));
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

    private QuantParams OutputQParams => Quantized.QuantizedInput.Output(_scale!, _zeroPoint!);

    private Variable Binary(Variable a, Variable b, bool multiply, bool relu)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (!a.Shape.SequenceEqual(b.Shape))
            throw new ArgumentException($"The inputs must have the same shape but have {Tensor.FormatShape(a.Shape)} and {Tensor.FormatShape(b.Shape)}.", nameof(b));
        if (IsQuantized)
        {
            var (qa, qb, output) = (RequireQuantized(a), RequireQuantized(b), OutputQParams);
            var y = new byte[qa.Length];
            var (pa, pb) = (qa.QParams, qb.QParams);
            if (!multiply)
                QuantizedOps.Add(qa.AsUInt8Span(), pa.Scale, pa.ZeroPoint, qb.AsUInt8Span(), pb.Scale, pb.ZeroPoint, output.Scale, output.ZeroPoint, relu, y);
            else
                QuantizedOps.Mul(qa.AsUInt8Span(), pa.Scale, pa.ZeroPoint, qb.AsUInt8Span(), pb.Scale, pb.ZeroPoint, output.Scale, output.ZeroPoint, relu, y);
            return new Variable(QuantizedTensor.Wrap(y, qa.Shape.ToArray(), output));
        }

        var result = multiply ? Functional.ElementwiseMultiply(a, b) : Functional.Add(a, b);
        if (relu)
            result = Functional.Relu(result);
        return Finish(result);
    }

    private Variable Finish(Variable result)
    {
        if (_fakeQuantize is not null)
            return _fakeQuantize.Forward(result);
        _observer?.Observe(result.Value);
        return result;
    }

    private static QuantizedTensor RequireQuantized(Variable input) =>
        Quantized.QuantizedInput.Require(input, "A converted FloatFunctional");
}
