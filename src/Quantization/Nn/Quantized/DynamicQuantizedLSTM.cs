using Quantization.Observers;

namespace Quantization.Nn.Quantized;

/// <summary>
/// A dynamically quantized <see cref="LSTM"/> (PyTorch's <c>nn.quantized.dynamic.LSTM</c>), for inference: per
/// layer, the input projection of the whole sequence and, at every step, the hidden projection are dynamically
/// quantized linear maps (s8 weights packed once, activations quantized per call); the gates and the cell state stay
/// FP32. Same shapes and gate order (i, f, g, o) as the float layer. Created by <c>Quantizer.QuantizeDynamic</c>.
/// </summary>
public sealed class DynamicQuantizedLSTM : Module
{
    private readonly DynamicLinearKernel[] _inputKernels;
    private readonly DynamicLinearKernel[] _hiddenKernels;

    internal DynamicQuantizedLSTM(LSTM lstm, Func<Observer> weightObserver, bool reduceRange)
    {
        InputSize = lstm.InputSize;
        HiddenSize = lstm.HiddenSize;
        NumLayers = lstm.NumLayers;
        BatchFirst = lstm.BatchFirst;
        _inputKernels = new DynamicLinearKernel[NumLayers];
        _hiddenKernels = new DynamicLinearKernel[NumLayers];
        for (int k = 0; k < NumLayers; k++)
        {
            _inputKernels[k] = new DynamicLinearKernel(new QuantizedOutputStage(lstm.WeightIh(k).Value, lstm.BiasIh(k)?.Value, weightObserver(), relu: false), reduceRange);
            _hiddenKernels[k] = new DynamicLinearKernel(new QuantizedOutputStage(lstm.WeightHh(k).Value, lstm.BiasHh(k)?.Value, weightObserver(), relu: false), reduceRange);
            Register(_inputKernels, "ih", k, reduceRange);
            Register(_hiddenKernels, "hh", k, reduceRange);
        }
    }

    /// <summary>The input width.</summary>
    public int InputSize { get; }

    /// <summary>The hidden and cell state width.</summary>
    public int HiddenSize { get; }

    /// <summary>The number of stacked layers.</summary>
    public int NumLayers { get; }

    /// <summary>True when inputs and outputs are (N, T, features) rather than (T, N, features).</summary>
    public bool BatchFirst { get; }

    /// <inheritdoc/>
    public override Variable Forward(Variable input) => Forward(input, null).Output;

    /// <summary>Runs the sequence from <paramref name="state"/> (zeros when null), as <see cref="LSTM.Forward(Variable, ValueTuple{Variable, Variable}?)"/>.</summary>
    /// <exception cref="ArgumentException">The input or state has the wrong shape, or the input contains NaN.</exception>
    public (Variable Output, (Variable H, Variable C) State) Forward(Variable input, (Variable H, Variable C)? state)
    {
        ArgumentNullException.ThrowIfNull(input);
        var shape = input.Shape;
        string layout = BatchFirst ? "N, T" : "T, N";
        if (shape.Length != 3 || shape[2] != InputSize || shape[0] == 0 || shape[1] == 0)
            throw new ArgumentException($"{nameof(DynamicQuantizedLSTM)} expects a non-empty input ({layout}, {InputSize}) but got shape {Tensor.FormatShape(shape)}.", nameof(input));
        int steps = BatchFirst ? shape[1] : shape[0], batch = BatchFirst ? shape[0] : shape[1], hidden = HiddenSize;
        int[] stateShape = [NumLayers, batch, hidden];
        if (state is { } s && (!s.H.Shape.SequenceEqual(stateShape) || !s.C.Shape.SequenceEqual(stateShape)))
            throw new ArgumentException($"The state must be (num_layers, N, H) = {Tensor.FormatShape(stateShape)} but is {Tensor.FormatShape(s.H.Shape)} and {Tensor.FormatShape(s.C.Shape)}.", nameof(state));

        var x = TimeMajor(input.Value, steps, batch, InputSize, BatchFirst);
        var hOut = new Tensor(stateShape);
        var cOut = new Tensor(stateShape);
        for (int k = 0; k < NumLayers; k++)
        {
            var projected = _inputKernels[k].Run(x, nameof(input)).AsSpan();
            var h = new Tensor(batch, hidden);
            var c = new float[batch * hidden];
            if (state is { } initial)
            {
                initial.H.Value.AsSpan().Slice(k * batch * hidden, batch * hidden).CopyTo(h.AsSpan());
                initial.C.Value.AsSpan().Slice(k * batch * hidden, batch * hidden).CopyTo(c);
            }

            var output = new Tensor(steps * batch, hidden);
            for (int t = 0; t < steps; t++)
            {
                var gates = _hiddenKernels[k].Run(h, nameof(state)).AsSpan();
                var stepInput = projected.Slice(t * batch * 4 * hidden, batch * 4 * hidden);
                Cell(stepInput, gates, c, h.AsSpan(), batch, hidden);
                h.AsSpan().CopyTo(output.AsSpan().Slice(t * batch * hidden, batch * hidden));
            }

            h.AsSpan().CopyTo(hOut.AsSpan().Slice(k * batch * hidden, batch * hidden));
            c.CopyTo(cOut.AsSpan().Slice(k * batch * hidden, batch * hidden));
            x = output;
        }

        var result = TimeMajor(x, batch, steps, hidden, BatchFirst);
        return (new Variable(result.Reshape(BatchFirst ? [batch, steps, hidden] : [steps, batch, hidden])), (new Variable(hOut), new Variable(cOut)));
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"DynamicQuantizedLSTM({InputSize}, {HiddenSize}, num_layers={NumLayers}, batch_first={BatchFirst}, reduce_range={_inputKernels[0].ReduceRange})";

    /// <summary>One step of every sequence: gates = x-projection + h-projection (i, f, g, o blocks); c and h update in place.</summary>
    private static void Cell(ReadOnlySpan<float> projectedInput, ReadOnlySpan<float> projectedHidden, Span<float> c, Span<float> h, int batch, int hidden)
    {
        for (int n = 0; n < batch; n++)
        {
            int row = n * 4 * hidden;
            for (int j = 0; j < hidden; j++)
            {
                float i = Sigmoid(projectedInput[row + j] + projectedHidden[row + j]);
                float f = Sigmoid(projectedInput[row + hidden + j] + projectedHidden[row + hidden + j]);
                float g = MathF.Tanh(projectedInput[row + 2 * hidden + j] + projectedHidden[row + 2 * hidden + j]);
                float o = Sigmoid(projectedInput[row + 3 * hidden + j] + projectedHidden[row + 3 * hidden + j]);
                int at = n * hidden + j;
                c[at] = f * c[at] + i * g;
                h[at] = o * MathF.Tanh(c[at]);
            }
        }
    }

    private static float Sigmoid(float x) => 1f / (1f + MathF.Exp(-x));

    /// <summary>[a, b, f] rows in a time-major [T·N, f] matrix: swaps the two leading dims when batch-first.</summary>
    private static Tensor TimeMajor(Tensor x, int a, int b, int features, bool swap)
    {
        if (!swap)
            return x.Reshape(a * b, features);
        var result = new Tensor(a * b, features);
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < a; j++)
                x.AsSpan().Slice((i * a + j) * features, features).CopyTo(result.AsSpan().Slice((j * b + i) * features, features));
        }

        return result;
    }

    private void Register(DynamicLinearKernel[] kernels, string kind, int layer, bool reduceRange)
    {
        RegisterQuantized($"weight_{kind}_l{layer}", () => kernels[layer].Stage.Weight,
            w => kernels[layer] = new DynamicLinearKernel(new QuantizedOutputStage(w, kernels[layer].Stage.Bias, relu: false), reduceRange));
        if (kernels[layer].Stage.Bias is { } bias)
            RegisterBuffer($"bias_{kind}_l{layer}", bias);
    }
}
