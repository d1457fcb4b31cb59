using System.Numerics.Tensors;
using Quantization.Kernels.Gemm;

namespace Quantization.Graph;

internal static partial class GraphOps
{
    /// <summary>
    /// A forward, single-direction ONNX <c>LSTM</c> (layout 0: X is [seq, batch, input]) with constant weights, packed
    /// once. ONNX stacks the gates in the order i, o, f, c: W [4H, input], R [4H, H], and
    /// <paramref name="bias"/> = Wb + Rb [4H] (or null). Per step, with σ the logistic function:
    /// <c>i, o, f = σ(x Wᵀ + h Rᵀ + b)</c>, <c>c̃ = tanh(...)</c>, <c>c = f ⊙ c + i ⊙ c̃</c>, <c>h = o ⊙ tanh(c)</c>.
    /// Inputs: X, then (at 5 and 6) the optional initial h and c [1, batch, H] (zeros when absent). Outputs: Y
    /// [seq, 1, batch, H], Y_h and Y_c [1, batch, H].
    /// </summary>
    public static GraphKernel Lstm(int hiddenSize, float[] w, float[] r, float[]? bias)
    {
        int h4 = 4 * hiddenSize, inputSize = w.Length / h4;
        Fp32PackedB packedW = Fp32Gemm.Pack(w, inputSize, h4, transposed: true);
        Fp32PackedB packedR = Fp32Gemm.Pack(r, hiddenSize, h4, transposed: true);
        return (inputs, _) =>
        {
            Tensor x = Required(inputs, 0);
            if (x.Rank != 3 || x.Shape[2] != inputSize)
                throw new ArgumentException($"The LSTM input must be [seq, batch, {inputSize}], not {Tensor.FormatShape(x.Shape)}.");
            if (inputs.Length > 4 && inputs[4] is not null)
                throw new ArgumentException("LSTM sequence_lens is not supported.");
            int steps = x.Shape[0], batch = x.Shape[1], hs = hiddenSize;
            var hState = InitialState(inputs, 5, batch, hs, "initial_h");
            var cState = InitialState(inputs, 6, batch, hs, "initial_c");

            // Input projections of every step at once: [seq · batch, 4H], biases included.
            var xw = new float[steps * batch * h4];
            Fp32Gemm.Multiply(x.AsSpan(), steps * batch, inputSize, packedW, bias, xw, h4);
            var y = new Tensor(steps, 1, batch, hs);
            var gates = new float[batch * h4];
            var hs4 = hState.AsSpan();
            for (int t = 0; t < steps; t++)
            {
                Fp32Gemm.Multiply(hs4, batch, hs, packedR, default, gates, h4);
                for (int b = 0; b < batch; b++)
                {
                    var g = gates.AsSpan(b * h4, h4);
                    TensorPrimitives.Add(g, xw.AsSpan((t * batch + b) * h4, h4), g);
                    var i = g[..hs];
                    var o = g.Slice(hs, hs);
                    var f = g.Slice(2 * hs, hs);
                    var candidate = g.Slice(3 * hs, hs);
                    TensorPrimitives.Sigmoid(g[..(3 * hs)], g[..(3 * hs)]);
                    TensorPrimitives.Tanh(candidate, candidate);
                    var c = cState.AsSpan().Slice(b * hs, hs);
                    TensorPrimitives.Multiply(f, c, c);
                    TensorPrimitives.MultiplyAdd(i, candidate, c, c);
                    var h = hs4.Slice(b * hs, hs);
                    TensorPrimitives.Tanh(c, h);
                    TensorPrimitives.Multiply(o, h, h);
                }

                hs4.CopyTo(y.AsSpan().Slice(t * batch * hs, batch * hs));
            }

            return [y, hState, cState];
        };
    }

    private static Tensor InitialState(Tensor?[] inputs, int index, int batch, int hiddenSize, string what)
    {
        if (index >= inputs.Length || inputs[index] is not Tensor given)
            return new Tensor(1, batch, hiddenSize);
        if (!given.HasShape([1, batch, hiddenSize]))
            throw new ArgumentException($"The LSTM {what} must be [1, {batch}, {hiddenSize}], not {Tensor.FormatShape(given.Shape)}.");
        return given.Clone();
    }
}
