namespace Quantization.Nn;

/// <summary>
/// A multi-layer long short-term memory network, as PyTorch's <c>nn.LSTM</c> (unidirectional, without projection or
/// inter-layer dropout). For each layer and time step t, with gate order i, f, g, o in the stacked weights:
/// <code>
/// i = σ(W_ii x_t + b_ii + W_hi h_(t-1) + b_hi)     f = σ(W_if x_t + b_if + W_hf h_(t-1) + b_hf)
/// g = tanh(W_ig x_t + b_ig + W_hg h_(t-1) + b_hg)  o = σ(W_io x_t + b_io + W_ho h_(t-1) + b_ho)
/// c_t = f ⊙ c_(t-1) + i ⊙ g                         h_t = o ⊙ tanh(c_t)
/// </code>
/// Layer k &gt; 0 reads layer k-1's h sequence. Every weight and bias starts from U(-1/√H, 1/√H).
/// </summary>
/// <remarks>
/// The parameters carry PyTorch's names, so state dicts map one to one: per layer k, <c>weight_ih_lk</c> [4H, in],
/// <c>weight_hh_lk</c> [4H, H], <c>bias_ih_lk</c> [4H] and <c>bias_hh_lk</c> [4H] (in = input_size for layer 0, H
/// above). The input projection of a whole layer is one GEMM over all T·N rows; only the recurrent product runs per
/// step. The unrolled graph differentiates through time.
/// </remarks>
public sealed class LSTM : Module
{
    private readonly Parameter[] _weightIh;
    private readonly Parameter[] _weightHh;
    private readonly Parameter?[] _biasIh;
    private readonly Parameter?[] _biasHh;

    /// <summary>Creates the network with freshly initialized weights.</summary>
    /// <param name="inputSize">The features per time step of the input.</param>
    /// <param name="hiddenSize">H, the features of the hidden and cell states.</param>
    /// <param name="numLayers">The number of stacked layers (at least 1).</param>
    /// <param name="bias">Whether the layers have the biases b_ih and b_hh.</param>
    /// <param name="batchFirst">Whether inputs and outputs are [N, T, features] rather than [T, N, features]; states are [num_layers, N, H] either way.</param>
    /// <exception cref="ArgumentOutOfRangeException">A size or the layer count is not positive.</exception>
    public LSTM(int inputSize, int hiddenSize, int numLayers = 1, bool bias = true, bool batchFirst = false)
    {
        InputCheck.Positive(inputSize, nameof(inputSize));
        InputCheck.Positive(hiddenSize, nameof(hiddenSize));
        InputCheck.Positive(numLayers, nameof(numLayers));
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        NumLayers = numLayers;
        BatchFirst = batchFirst;
        _weightIh = new Parameter[numLayers];
        _weightHh = new Parameter[numLayers];
        _biasIh = new Parameter?[numLayers];
        _biasHh = new Parameter?[numLayers];
        double bound = 1.0 / Math.Sqrt(hiddenSize);
        int gates = 4 * hiddenSize;
        for (int k = 0; k < numLayers; k++)
        {
            _weightIh[k] = RegisterParameter($"weight_ih_l{k}", Uniform(bound, gates, k == 0 ? inputSize : hiddenSize))!;
            _weightHh[k] = RegisterParameter($"weight_hh_l{k}", Uniform(bound, gates, hiddenSize))!;
            _biasIh[k] = RegisterParameter($"bias_ih_l{k}", bias ? Uniform(bound, gates) : null);
            _biasHh[k] = RegisterParameter($"bias_hh_l{k}", bias ? Uniform(bound, gates) : null);
        }
    }

    /// <summary>The features per time step of the input.</summary>
    public int InputSize { get; }

    /// <summary>H, the features of the hidden and cell states.</summary>
    public int HiddenSize { get; }

    /// <summary>The number of stacked layers.</summary>
    public int NumLayers { get; }

    /// <summary>Whether inputs and outputs put the batch first.</summary>
    public bool BatchFirst { get; }

    /// <summary>Whether the layers have biases.</summary>
    public bool HasBias => _biasIh[0] is not null;

    /// <summary>Layer <paramref name="layer"/>'s input weights <c>weight_ih_l{layer}</c> [4H, in], gates stacked i, f, g, o.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The layer does not exist.</exception>
    public Parameter WeightIh(int layer) => _weightIh[CheckLayer(layer)];

    /// <summary>Layer <paramref name="layer"/>'s recurrent weights <c>weight_hh_l{layer}</c> [4H, H], gates stacked i, f, g, o.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The layer does not exist.</exception>
    public Parameter WeightHh(int layer) => _weightHh[CheckLayer(layer)];

    /// <summary>Layer <paramref name="layer"/>'s input bias <c>bias_ih_l{layer}</c> [4H], or null without biases.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The layer does not exist.</exception>
    public Parameter? BiasIh(int layer) => _biasIh[CheckLayer(layer)];

    /// <summary>Layer <paramref name="layer"/>'s recurrent bias <c>bias_hh_l{layer}</c> [4H], or null without biases.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The layer does not exist.</exception>
    public Parameter? BiasHh(int layer) => _biasHh[CheckLayer(layer)];

    /// <summary>Runs the sequence from zero initial states and returns the last layer's h at every step, [T, N, H] ([N, T, H] when batch first).</summary>
    /// <exception cref="ArgumentException">The input is not [T, N, input_size] (or [N, T, input_size]) with T, N ≥ 1.</exception>
    public override Variable Forward(Variable input) => Forward(input, null).Output;

    /// <summary>
    /// Runs the sequence from <paramref name="state"/> (zeros when null) and returns the last layer's h at every step
    /// plus every layer's final h and c, as PyTorch's <c>output, (h_n, c_n) = lstm(input, (h_0, c_0))</c>.
    /// </summary>
    /// <param name="input">[T, N, input_size], or [N, T, input_size] when <see cref="BatchFirst"/>.</param>
    /// <param name="state">The initial h and c, each [num_layers, N, H], or null for zeros.</param>
    /// <returns>The output [T, N, H] (or [N, T, H]) and the final states, each [num_layers, N, H].</returns>
    /// <exception cref="ArgumentException">The input or a state has the wrong shape; the message names it and both shapes.</exception>
    public (Variable Output, (Variable H, Variable C) State) Forward(Variable input, (Variable H, Variable C)? state)
    {
        ArgumentNullException.ThrowIfNull(input);
        string layout = BatchFirst ? "N, T" : "T, N";
        var shape = input.Shape;
        if (shape.Length != 3 || shape[2] != InputSize || shape[0] == 0 || shape[1] == 0)
            throw new ArgumentException($"LSTM expects a non-empty input ({layout}, {InputSize}) but got shape {Tensor.FormatShape(shape)}.", nameof(input));
        int steps = BatchFirst ? shape[1] : shape[0], batch = BatchFirst ? shape[0] : shape[1], hidden = HiddenSize;
        if (state is { } initial)
        {
            CheckState(initial.H, batch, "H");
            CheckState(initial.C, batch, "C");
        }

        var x = Functional.Reshape(BatchFirst ? Functional.SwapLeadingDims(input) : input, steps * batch, InputSize);
        var hFinal = new Variable[NumLayers];
        var cFinal = new Variable[NumLayers];
        var hInitial = state is null ? null : Functional.Reshape(state.Value.H, NumLayers * batch, hidden);
        var cInitial = state is null ? null : Functional.Reshape(state.Value.C, NumLayers * batch, hidden);
        for (int k = 0; k < NumLayers; k++)
        {
            var projected = Functional.Linear(x, _weightIh[k], _biasIh[k]);
            var h = hInitial is null ? new Variable(new Tensor(batch, hidden)) : Functional.Rows(hInitial, k * batch, batch);
            var c = cInitial is null ? new Variable(new Tensor(batch, hidden)) : Functional.Rows(cInitial, k * batch, batch);
            var outputs = new Variable[steps];
            for (int t = 0; t < steps; t++)
            {
                var gates = Functional.Add(Functional.Rows(projected, t * batch, batch), Functional.Linear(h, _weightHh[k], _biasHh[k]));
                (h, c) = Functional.LstmCell(gates, c);
                outputs[t] = h;
            }

            hFinal[k] = h;
            cFinal[k] = c;
            x = Functional.Concat(outputs, steps * batch, hidden);
        }

        var output = Functional.Reshape(x, steps, batch, hidden);
        if (BatchFirst)
            output = Functional.SwapLeadingDims(output);
        return (output, (Functional.Concat(hFinal, NumLayers, batch, hidden), Functional.Concat(cFinal, NumLayers, batch, hidden)));
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"LSTM({InputSize}, {HiddenSize}, num_layers={NumLayers}, bias={HasBias}, batch_first={BatchFirst})";

    private static Parameter Uniform(double bound, params int[] shape)
    {
        var t = new Tensor(shape);
        Init.Uniform(t.AsSpan(), bound);
        return new Parameter(t);
    }

    private int CheckLayer(int layer)
    {
        if ((uint)layer >= (uint)NumLayers)
            throw new ArgumentOutOfRangeException(nameof(layer), layer, $"The LSTM has layers 0..{NumLayers - 1}.");
        return layer;
    }

    private void CheckState(Variable? state, int batch, string name)
    {
        if (state is null)
            throw new ArgumentNullException(nameof(state), $"LSTM state {name} is null.");
        if (!state.Value.HasShape([NumLayers, batch, HiddenSize]))
            throw new ArgumentException($"LSTM state {name} must be (num_layers, N, H) = {Tensor.FormatShape([NumLayers, batch, HiddenSize])} but got {Tensor.FormatShape(state.Shape)}.", nameof(state));
    }
}
