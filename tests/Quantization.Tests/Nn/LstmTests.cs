using Quantization.Nn;
using Xunit;

namespace Quantization.Tests.Nn;

public class LstmTests
{
    /// <summary>
    /// PyTorch's LSTM equations written as plain loops in double, one scalar at a time: the spec the module must match.
    /// Input [T, N, in]; h0/c0 [L, N, H] or null; returns the output [T, N, H] and the final h and c, flattened.
    /// </summary>
    private static (double[] Output, double[] H, double[] C) Reference(LSTM lstm, Tensor input, Tensor? h0, Tensor? c0)
    {
        int steps = input.Shape[0], batch = input.Shape[1], hidden = lstm.HiddenSize, layers = lstm.NumLayers;
        double[] layerInput = input.AsSpan().ToArray().Select(v => (double)v).ToArray();
        int width = lstm.InputSize;
        var hN = new double[layers * batch * hidden];
        var cN = new double[layers * batch * hidden];
        for (int l = 0; l < layers; l++)
        {
            var wih = lstm.WeightIh(l).Value.AsSpan().ToArray();
            var whh = lstm.WeightHh(l).Value.AsSpan().ToArray();
            var bih = lstm.BiasIh(l)?.Value.AsSpan().ToArray() ?? new float[4 * hidden];
            var bhh = lstm.BiasHh(l)?.Value.AsSpan().ToArray() ?? new float[4 * hidden];
            var h = new double[batch, hidden];
            var c = new double[batch, hidden];
            for (int n = 0; n < batch; n++)
            {
                for (int j = 0; j < hidden; j++)
                {
                    h[n, j] = h0 is null ? 0 : h0[l, n, j];
                    c[n, j] = c0 is null ? 0 : c0[l, n, j];
                }
            }

            var output = new double[steps * batch * hidden];
            for (int t = 0; t < steps; t++)
            {
                var hNext = new double[batch, hidden];
                for (int n = 0; n < batch; n++)
                {
                    for (int j = 0; j < hidden; j++)
                    {
                        // Gate q (0 = i, 1 = f, 2 = g, 3 = o) of unit j is row q·H + j of the stacked weights.
                        double Pre(int q)
                        {
                            int row = q * hidden + j;
                            double sum = bih[row] + bhh[row];
                            for (int k = 0; k < width; k++)
                                sum += wih[row * width + k] * layerInput[(t * batch + n) * width + k];
                            for (int k = 0; k < hidden; k++)
                                sum += whh[row * hidden + k] * h[n, k];
                            return sum;
                        }

                        double i = Sigmoid(Pre(0)), f = Sigmoid(Pre(1)), g = Math.Tanh(Pre(2)), o = Sigmoid(Pre(3));
                        c[n, j] = f * c[n, j] + i * g;
                        hNext[n, j] = o * Math.Tanh(c[n, j]);
                        output[(t * batch + n) * hidden + j] = hNext[n, j];
                    }
                }

                h = hNext;
            }

            for (int n = 0; n < batch; n++)
            {
                for (int j = 0; j < hidden; j++)
                {
                    hN[(l * batch + n) * hidden + j] = h[n, j];
                    cN[(l * batch + n) * hidden + j] = c[n, j];
                }
            }

            layerInput = output;
            width = hidden;
        }

        return (layerInput, hN, cN);
    }

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    private static void Near(double[] expected, ReadOnlySpan<float> actual, double tolerance = 2e-6)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance, $"Element {i}: expected {expected[i]}, got {actual[i]}.");
    }

    [Fact]
    public void One_unit_worked_by_hand()
    {
        var lstm = new LSTM(1, 1);
        // Only the g gate sees the input; every other weight and bias is 0, so i = f = o = σ(0) = 1/2 and g = tanh(x).
        lstm.WeightIh(0).Value.AsSpan().Set([0, 0, 1, 0]);
        lstm.WeightHh(0).Value.AsSpan().Clear();
        lstm.BiasIh(0)!.Value.AsSpan().Clear();
        lstm.BiasHh(0)!.Value.AsSpan().Clear();
        var (output, (h, c)) = lstm.Forward(new Variable(new Tensor([1, 1], 2, 1, 1)), null);
        // c1 = tanh(1) / 2 = 0.380797, h1 = tanh(c1) / 2 = 0.181700; c2 = c1 / 2 + tanh(1) / 2 = 0.571196, h2 = tanh(c2) / 2 = 0.258118.
        Near([0.18169974, 0.25811840], output.Value.AsSpan());
        Near([0.25811840], h.Value.AsSpan());
        Near([0.57119562], c.Value.AsSpan());
    }

    [Fact]
    public void Two_layers_match_the_scalar_reference_from_zero_and_given_states()
    {
        Init.ManualSeed(21);
        var lstm = new LSTM(3, 4, numLayers: 2);
        var x = GradCheck.Smooth(22, 2f, 0f, [], 5, 2, 3);
        var (output, (h, c)) = lstm.Forward(new Variable(x), null);
        var expected = Reference(lstm, x, null, null);
        Assert.Equal([5, 2, 4], output.Shape.ToArray());
        Assert.Equal([2, 2, 4], h.Shape.ToArray());
        Near(expected.Output, output.Value.AsSpan());
        Near(expected.H, h.Value.AsSpan());
        Near(expected.C, c.Value.AsSpan());
        Assert.Equal(output.Value.AsSpan().ToArray(), lstm.Forward(x).AsSpan().ToArray());

        var h0 = GradCheck.Smooth(23, 1f, 0f, [], 2, 2, 4);
        var c0 = GradCheck.Smooth(24, 1f, 0f, [], 2, 2, 4);
        (output, (h, c)) = lstm.Forward(new Variable(x), (new Variable(h0), new Variable(c0)));
        expected = Reference(lstm, x, h0, c0);
        Near(expected.Output, output.Value.AsSpan());
        Near(expected.H, h.Value.AsSpan());
        Near(expected.C, c.Value.AsSpan());
    }

    [Fact]
    public void Without_bias_matches_the_reference()
    {
        Init.ManualSeed(25);
        var lstm = new LSTM(2, 3, bias: false);
        Assert.False(lstm.HasBias);
        Assert.Null(lstm.BiasIh(0));
        Assert.Equal(["weight_ih_l0", "weight_hh_l0"], lstm.NamedParameters().Select(p => p.Name));
        var x = GradCheck.Smooth(26, 2f, 0f, [], 4, 3, 2);
        Near(Reference(lstm, x, null, null).Output, lstm.Forward(x).AsSpan());
    }

    [Fact]
    public void Parameters_have_pytorch_names_shapes_and_initialization_bounds()
    {
        Init.ManualSeed(27);
        var lstm = new LSTM(5, 16, numLayers: 2);
        var shapes = lstm.NamedParameters().Select(p => (p.Name, Tensor.FormatShape(p.Parameter.Shape))).ToArray();
        Assert.Equal(
        [
            ("weight_ih_l0", "(64, 5)"), ("weight_hh_l0", "(64, 16)"), ("bias_ih_l0", "(64,)"), ("bias_hh_l0", "(64,)"),
            ("weight_ih_l1", "(64, 16)"), ("weight_hh_l1", "(64, 16)"), ("bias_ih_l1", "(64,)"), ("bias_hh_l1", "(64,)"),
        ], shapes);
        Assert.Same(lstm.WeightHh(1), lstm.NamedParameters().Single(p => p.Name == "weight_hh_l1").Parameter);
        // U(-1/√16, 1/√16) = U(-0.25, 0.25), spread over the whole range.
        var all = lstm.Parameters().SelectMany(p => p.Value.AsSpan().ToArray()).ToArray();
        Assert.All(all, v => Assert.InRange(v, -0.25f, 0.25f));
        Assert.True(all.Max() > 0.24f && all.Min() < -0.24f);
    }

    [Fact]
    public void Batch_first_transposes_input_and_output_but_not_the_states()
    {
        Init.ManualSeed(28);
        var seqFirst = new LSTM(3, 2, numLayers: 2);
        var batchFirst = new LSTM(3, 2, numLayers: 2, batchFirst: true);
        batchFirst.LoadStateDict(seqFirst.StateDict());
        var x = GradCheck.Smooth(29, 1f, 0f, [], 4, 3, 3);                 // [T = 4, N = 3, 3]
        var xBatchFirst = Transpose01(x);                                   // [N = 3, T = 4, 3]
        var (expected, (h, c)) = seqFirst.Forward(new Variable(x), null);
        var (actual, (hb, cb)) = batchFirst.Forward(new Variable(xBatchFirst), null);
        Assert.Equal([3, 4, 2], actual.Shape.ToArray());
        Assert.Equal(Transpose01(expected.Value).AsSpan().ToArray(), actual.Value.AsSpan().ToArray());
        Assert.Equal(h.Value.AsSpan().ToArray(), hb.Value.AsSpan().ToArray());
        Assert.Equal(c.Value.AsSpan().ToArray(), cb.Value.AsSpan().ToArray());
    }

    [Fact]
    public void Passing_the_state_on_continues_the_sequence()
    {
        Init.ManualSeed(30);
        var lstm = new LSTM(2, 3, numLayers: 2);
        var x = GradCheck.Smooth(31, 1f, 0f, [], 6, 2, 2);
        var (whole, (h, c)) = lstm.Forward(new Variable(x), null);
        var first = new Tensor(x.AsSpan()[..(4 * 2 * 2)], 4, 2, 2);
        var second = new Tensor(x.AsSpan()[(4 * 2 * 2)..], 2, 2, 2);
        var (out1, state1) = lstm.Forward(new Variable(first), null);
        var (out2, (h2, c2)) = lstm.Forward(new Variable(second), state1);
        // The GEMM may block T·N rows differently from the halves', so allow for a different summation order.
        Near([.. whole.Value.AsSpan().ToArray().Select(v => (double)v)], [.. out1.Value.AsSpan().ToArray(), .. out2.Value.AsSpan().ToArray()], 1e-6);
        Near([.. h.Value.AsSpan().ToArray().Select(v => (double)v)], h2.Value.AsSpan(), 1e-6);
        Near([.. c.Value.AsSpan().ToArray().Select(v => (double)v)], c2.Value.AsSpan(), 1e-6);
    }

    [Fact]
    public void Gradients_through_time_for_input_and_every_parameter()
    {
        Init.ManualSeed(32);
        var lstm = new LSTM(2, 2, numLayers: 2);
        GradCheck.Check(v => lstm.Forward(v[0]), [GradCheck.Smooth(33, 1f, 0f, [], 3, 2, 2)], [.. lstm.Parameters()], atol: 3e-3);
    }

    [Fact]
    public void Gradients_for_initial_states_and_through_the_final_states()
    {
        Init.ManualSeed(34);
        var lstm = new LSTM(2, 2, numLayers: 2, batchFirst: true);
        // L = Σ r ⊙ (output, h_n, c_n) concatenated, so the final states' gradients flow back too.
        GradCheck.Check(
            v =>
            {
                var (output, (h, c)) = lstm.Forward(v[0], (v[1], v[2]));
                return Functional.Concat([output, h, c], output.Value.Length + h.Value.Length + c.Value.Length);
            },
            [GradCheck.Smooth(35, 1f, 0f, [], 2, 3, 2), GradCheck.Smooth(36, 1f, 0f, [], 2, 2, 2), GradCheck.Smooth(37, 1f, 0f, [], 2, 2, 2)],
            [.. lstm.Parameters()],
            atol: 3e-3);
    }

    [Fact]
    public void Learns_to_remember_the_first_step_through_time()
    {
        // Sequences of 6 random ±1 values; the class is the sign of the first, so only gradients that flow back
        // through every step can teach it (later steps are noise that must be ignored).
        Init.ManualSeed(38);
        var lstm = new LSTM(1, 8, batchFirst: true);
        var head = new Linear(8, 2);
        var optimizer = new Adam([.. lstm.Parameters(), .. head.Parameters()], lr: 0.02f);
        var loss = new CrossEntropyLoss();
        var rng = new Random(39);
        (Tensor X, int[] Y) Batch(int n)
        {
            var x = new Tensor(n, 6, 1);
            for (int i = 0; i < x.Length; i++)
                x.AsSpan()[i] = rng.Next(2) * 2 - 1;
            return (x, [.. Enumerable.Range(0, n).Select(b => x[b, 0, 0] > 0 ? 1 : 0)]);
        }

        double Accuracy()
        {
            var (x, y) = Batch(500);
            using (Autograd.NoGrad())
            {
                var (_, (h, _)) = lstm.Forward(new Variable(x), null);
                var logits = head.Forward(Functional.Reshape(h, 500, 8)).Value;
                return Enumerable.Range(0, 500).Count(b => (logits[b, 1] > logits[b, 0] ? 1 : 0) == y[b]) / 500.0;
            }
        }

        Assert.InRange(Accuracy(), 0.3, 0.7);
        for (int step = 0; step < 150; step++)
        {
            var (x, y) = Batch(32);
            optimizer.ZeroGrad();
            var (_, (h, _)) = lstm.Forward(new Variable(x), null);
            loss.Forward(head.Forward(Functional.Reshape(h, 32, 8)), y).Backward();
            optimizer.Step();
        }

        Assert.True(Accuracy() > 0.95, $"Accuracy {Accuracy():P1} after training.");
    }

    [Fact]
    public void Bad_shapes_and_arguments_throw_naming_them()
    {
        var lstm = new LSTM(3, 2, numLayers: 2);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => lstm.Forward(new Tensor(4, 3))).ParamName);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => lstm.Forward(new Tensor(4, 2, 5))).ParamName);
        Assert.Equal("input", Assert.Throws<ArgumentException>(() => lstm.Forward(new Tensor(0, 2, 3))).ParamName);
        var x = new Variable(new Tensor(4, 2, 3));
        var good = new Variable(new Tensor(2, 2, 2));
        var ex = Assert.Throws<ArgumentException>(() => lstm.Forward(x, (new Variable(new Tensor(1, 2, 2)), good)));
        Assert.Equal("state", ex.ParamName);
        Assert.Contains("(2, 2, 2)", ex.Message, StringComparison.Ordinal);
        Assert.Equal("state", Assert.Throws<ArgumentException>(() => lstm.Forward(x, (good, new Variable(new Tensor(2, 3, 2))))).ParamName);
        Assert.Equal("state", Assert.Throws<ArgumentNullException>(() => lstm.Forward(x, (good, null!))).ParamName);
        Assert.Equal("numLayers", Assert.Throws<ArgumentOutOfRangeException>(() => new LSTM(3, 2, numLayers: 0)).ParamName);
        Assert.Equal("hiddenSize", Assert.Throws<ArgumentOutOfRangeException>(() => new LSTM(3, 0)).ParamName);
        Assert.Equal("layer", Assert.Throws<ArgumentOutOfRangeException>(() => lstm.WeightIh(2)).ParamName);
    }

    private static Tensor Transpose01(Tensor x)
    {
        int a = x.Shape[0], b = x.Shape[1], c = x.Shape[2];
        var result = new Tensor(b, a, c);
        for (int i = 0; i < a; i++)
        {
            for (int j = 0; j < b; j++)
            {
                for (int k = 0; k < c; k++)
                    result.AsSpan()[(j * a + i) * c + k] = x[i, j, k];
            }
        }

        return result;
    }
}
