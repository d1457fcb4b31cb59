using Quantization.Graph;
using Xunit;

namespace Quantization.Tests.Graph;

/// <summary>The graph's node kinds against values worked out by hand from the ONNX operator definitions.</summary>
public class GraphOpsTests
{
    private const float Int64Max = 9.223372e18f;   // INT64_MAX as a float, as a constant Slice end arrives

    private static Tensor T(float[] values, params int[] shape) => new(values, shape);

    /// <summary>Runs an op kernel (op nodes use the scope only for buffer donation; nothing is donated here) and returns its outputs.</summary>
    private static Tensor[] Run(GraphKernel kernel, params Tensor?[] inputs) => kernel(inputs, new GraphScope(null!, null));

    private static Tensor Run1(GraphKernel kernel, params Tensor?[] inputs) => Run(kernel, inputs)[0];

    private static void Equal(float[] expected, int[] shape, Tensor actual, float tolerance = 1e-6f)
    {
        Assert.Equal(shape, actual.Shape.ToArray());
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual.AsSpan()[i]) <= tolerance, $"Element {i}: expected {expected[i]}, got {actual.AsSpan()[i]}.");
    }

    [Fact]
    public void HardSigmoid_is_clamped_alpha_x_plus_beta() =>
        Equal([0, 0.5f, 0.7f, 1], [4], Run1(GraphOps.Map(GraphOps.HardSigmoidSteps(0.2f, 0.5f)), T([-3, 0, 1, 3], 4)));

    [Fact]
    public void Clip_takes_attribute_bounds_or_optional_inputs()
    {
        Equal([0, 3, 6], [3], Run1(GraphOps.Clip(0, 6), T([-1, 3, 7], 3)));
        // Opset 11: min as input 1, max omitted (no upper bound).
        Equal([-1, 5], [2], Run1(GraphOps.Clip(float.NegativeInfinity, float.PositiveInfinity), T([-2, 5], 2), Tensor.Full(-1f), null));
    }

    [Fact]
    public void Cast_truncates_to_integers_maps_to_bool_and_rounds_to_half()
    {
        Equal([-1, 2, 0], [3], Run1(GraphOps.Cast(CastTarget.Integer), T([-1.7f, 2.9f, 0.2f], 3)));
        Equal([0, 1, 1], [3], Run1(GraphOps.Cast(CastTarget.Bool), T([0, -0.5f, 3], 3)));
        Equal([1, 2049 - 1], [2], Run1(GraphOps.Cast(CastTarget.Half), T([1.0001f, 2047.5f], 2)), 0);
    }

    [Fact]
    public void Pow_and_Equal_broadcast()
    {
        Equal([1, 4, 9], [3], Run1(GraphOps.Pow(), T([1, 2, 3], 3), Tensor.Full(2f)));
        Equal([2, 3, 4, 9], [2, 2], Run1(GraphOps.Pow(), T([2, 3], 2), T([1, 2], 2, 1)));
        Equal([0, 1, 0], [3], Run1(GraphOps.Equal(), T([1, 2, 3], 3), Tensor.Full(2f)));
    }

    [Fact]
    public void Softmax_follows_the_opset_13_axis_or_the_older_2d_coercion()
    {
        float ln5 = MathF.Log(5);
        Tensor x = T([0, 0, 0, ln5], 1, 2, 2);
        // Opset 13, axis 1: each column separately: [0, 0] -> [1/2, 1/2]; [0, ln 5] -> [1/6, 5/6].
        Equal([0.5f, 1 / 6f, 0.5f, 5 / 6f], [1, 2, 2], Run1(GraphOps.Softmax(1, coerce2D: false), x));
        // Opset < 13, axis 1: the trailing 2x2 is one row of 4: e = [1, 1, 1, 5] / 8.
        Equal([0.125f, 0.125f, 0.125f, 0.625f], [1, 2, 2], Run1(GraphOps.Softmax(1, coerce2D: true), x));
    }

    [Fact]
    public void ReduceMean_over_listed_axes_or_all()
    {
        Tensor x = T([1, 2, 3, 4, 5, 6], 2, 3);
        Equal([2, 5], [2, 1], Run1(GraphOps.ReduceMean([-1], keepDims: true), x));
        Equal([2.5f, 3.5f, 4.5f], [3], Run1(GraphOps.ReduceMean([0], keepDims: false), x));
        Equal([3.5f], [1, 1], Run1(GraphOps.ReduceMean(null, keepDims: true), x));
    }

    [Fact]
    public void GlobalAveragePool_averages_each_channel_plane() =>
        Equal([2.5f, 10], [1, 2, 1, 1], Run1(GraphOps.GlobalAveragePool(), T([1, 2, 3, 4, 10, 10, 10, 10], 1, 2, 2, 2)));

    [Fact]
    public void MaxPool_windows_padding_and_ceil_mode()
    {
        Tensor x16 = T(Enumerable.Range(0, 16).Select(i => (float)i).ToArray(), 1, 1, 4, 4);
        Equal([5, 7, 13, 15], [1, 1, 2, 2], Run1(GraphOps.MaxPool([2, 2], [2, 2], [0, 0, 0, 0], [1, 1], false), x16));
        Tensor x9 = T(Enumerable.Range(0, 9).Select(i => (float)i).ToArray(), 1, 1, 3, 3);
        // Floor mode drops the partial last window; ceil mode keeps it: rows/cols {0,1}, {2}.
        Equal([4], [1, 1, 1, 1], Run1(GraphOps.MaxPool([2, 2], [2, 2], [0, 0, 0, 0], [1, 1], false), x9));
        Equal([4, 5, 7, 8], [1, 1, 2, 2], Run1(GraphOps.MaxPool([2, 2], [2, 2], [0, 0, 0, 0], [1, 1], true), x9));
        // Top/left padding of 1: windows rows {-1, 0}, {1, 2} and the same columns; padding never wins.
        Equal([0, 2, 6, 8], [1, 1, 2, 2], Run1(GraphOps.MaxPool([2, 2], [2, 2], [1, 1, 0, 0], [1, 1], false), x9));
    }

    [Fact]
    public void Shape_Flatten_and_ConstantOfShape()
    {
        Tensor x = new(2, 3, 4);
        Equal([2, 3, 4], [3], Run1(GraphOps.Shape(0, null), x));
        Equal([3], [1], Run1(GraphOps.Shape(1, -1), x));
        Assert.Equal([6, 0], Run1(GraphOps.Flatten(2), new Tensor(2, 3, 0)).Shape.ToArray());
        Assert.Equal([6, 4], Run1(GraphOps.Flatten(2), x).Shape.ToArray());
        Assert.Equal([1, 24], Run1(GraphOps.Flatten(0), x).Shape.ToArray());
        Equal([7, 7], [2, 1], Run1(GraphOps.ConstantOfShape(7), T([2, 1], 2)));
    }

    [Fact]
    public void Slice_reads_integer_inputs_and_saturates_int64_extremes()
    {
        Tensor x = T(Enumerable.Range(0, 10).Select(i => (float)i).ToArray(), 10);
        Equal([2, 5, 8], [3], Run1(GraphOps.Slice(null, null, null), x, T([2], 1), T([Int64Max], 1), T([0], 1), T([3], 1)));
        // Backwards from the end to "before the start" (INT64_MIN).
        Equal([9, 8, 7, 6, 5, 4, 3, 2, 1, 0], [10], Run1(GraphOps.Slice(null, null, null), x, T([-1], 1), T([-Int64Max], 1), null, T([-1], 1)));
        // Opset 9: attributes.
        Equal([1, 2], [2], Run1(GraphOps.Slice([1], [3], null), x));
    }

    [Fact]
    public void Resize_nearest_asymmetric_floor_upsamples_by_repeating()
    {
        var kernel = GraphOps.ResizeNearest(ResizeCoordinates.Asymmetric, NearestRounding.Floor, 2, 3);
        Tensor y = Run1(kernel, T([1, 2, 3, 4], 1, 1, 2, 2), null, T([1, 1, 2, 2], 4));
        Equal([1, 1, 2, 2, 1, 1, 2, 2, 3, 3, 4, 4, 3, 3, 4, 4], [1, 1, 4, 4], y);
    }

    [Fact]
    public void Resize_nearest_rounding_and_coordinate_modes()
    {
        Tensor x = T([10, 20, 30, 40], 4);
        Tensor half = T([0.5f], 1);
        // half_pixel at scale 1/2: output 0 reads 0.5 and output 1 reads 2.5, so the tie rule decides.
        Equal([10, 30], [2], Run1(GraphOps.ResizeNearest(ResizeCoordinates.HalfPixel, NearestRounding.RoundPreferFloor, 2, 3), x, null, half));
        Equal([20, 40], [2], Run1(GraphOps.ResizeNearest(ResizeCoordinates.HalfPixel, NearestRounding.RoundPreferCeil, 2, 3), x, null, half));
        // half_pixel at scale 2: -0.25, 0.25, 0.75, 1.25 round to 0, 0, 1, 1.
        Equal([1, 1, 2, 2], [4], Run1(GraphOps.ResizeNearest(ResizeCoordinates.HalfPixel, NearestRounding.RoundPreferFloor, 2, 3), T([1, 2], 2), null, T([2], 1)));
        // align_corners with sizes 2 -> 3: 0, 0.5, 1 -> 0, 0 (tie down), 1; an empty scales input means "use sizes".
        Equal([1, 1, 2], [3], Run1(GraphOps.ResizeNearest(ResizeCoordinates.AlignCorners, NearestRounding.RoundPreferFloor, 2, 3), T([1, 2], 2), null, new Tensor(0), T([3], 1)));
        // asymmetric ceil at scale 3: 0, 1/3, 2/3, 1, 4/3, 5/3 -> 0, 1, 1, 1, 2 -> 1, 2 -> 1.
        Equal([1, 2, 2, 2, 2, 2], [6], Run1(GraphOps.ResizeNearest(ResizeCoordinates.Asymmetric, NearestRounding.Ceil, 2, 3), T([1, 2], 2), null, T([3], 1)));
        // tf_half_pixel_for_nn at scale 2 with floor: 0.25, 0.75, 1.25, 1.75 -> 0, 0, 1, 1; pytorch_half_pixel to length 1 reads 0.
        Equal([1, 1, 2, 2], [4], Run1(GraphOps.ResizeNearest(ResizeCoordinates.TfHalfPixelForNearest, NearestRounding.Floor, 2, 3), T([1, 2], 2), null, T([2], 1)));
        Equal([10], [1], Run1(GraphOps.ResizeNearest(ResizeCoordinates.PyTorchHalfPixel, NearestRounding.RoundPreferFloor, 2, 3), x, null, null, T([1], 1)));
    }

    [Fact]
    public void Lstm_uses_the_onnx_gate_order_i_o_f_c()
    {
        // One unit, one input, W = [1, 2, 3, 4] for (i, o, f, c), no recurrence, no bias, initial c = 0.5.
        var kernel = GraphOps.Lstm(1, [1, 2, 3, 4], [0, 0, 0, 0], null);
        Tensor[] outputs = Run(kernel, T([1], 1, 1, 1), null, null, null, null, null, T([0.5f], 1, 1, 1));
        double c = Sigmoid(3) * 0.5 + Sigmoid(1) * Math.Tanh(4), h = Sigmoid(2) * Math.Tanh(c);
        Equal([(float)h], [1, 1, 1, 1], outputs[0]);
        Equal([(float)h], [1, 1, 1], outputs[1]);
        Equal([(float)c], [1, 1, 1], outputs[2]);
    }

    [Fact]
    public void Lstm_carries_state_over_steps_with_recurrence_and_bias()
    {
        // Two units, two inputs, three steps, batch 2: against a direct double-precision loop over the ONNX equations.
        var rng = new Random(7);
        float[] Fill(int n) => Enumerable.Range(0, n).Select(_ => (float)(rng.NextDouble() - 0.5)).ToArray();
        const int hidden = 2, input = 2, steps = 3, batch = 2;
        float[] w = Fill(4 * hidden * input), r = Fill(4 * hidden * hidden), b = Fill(4 * hidden), x = Fill(steps * batch * input);
        float[] h0 = Fill(batch * hidden), c0 = Fill(batch * hidden);
        Tensor[] outputs = Run(GraphOps.Lstm(hidden, w, r, b), T(x, steps, batch, input), null, null, null, null, T(h0, 1, batch, hidden), T(c0, 1, batch, hidden));

        double[] h = h0.Select(v => (double)v).ToArray(), c = c0.Select(v => (double)v).ToArray();
        for (int t = 0; t < steps; t++)
        {
            var next = new double[h.Length];
            for (int n = 0; n < batch; n++)
            {
                double Gate(int gate, int unit)
                {
                    int row = gate * hidden + unit;
                    double sum = b[row];
                    for (int k = 0; k < input; k++)
                        sum += w[row * input + k] * x[(t * batch + n) * input + k];
                    for (int k = 0; k < hidden; k++)
                        sum += r[row * hidden + k] * h[n * hidden + k];
                    return sum;
                }

                for (int u = 0; u < hidden; u++)
                {
                    double i = Sigmoid(Gate(0, u)), o = Sigmoid(Gate(1, u)), f = Sigmoid(Gate(2, u)), g = Math.Tanh(Gate(3, u));
                    c[n * hidden + u] = f * c[n * hidden + u] + i * g;
                    next[n * hidden + u] = o * Math.Tanh(c[n * hidden + u]);
                }
            }

            h = next;
            for (int k = 0; k < h.Length; k++)
                Assert.True(Math.Abs(outputs[0].AsSpan()[t * batch * hidden + k] - h[k]) < 1e-6, $"Y at step {t}, element {k}.");
        }

        Equal(h.Select(v => (float)v).ToArray(), [1, batch, hidden], outputs[1]);
        Equal(c.Select(v => (float)v).ToArray(), [1, batch, hidden], outputs[2]);
    }

    [Fact]
    public void Integer_values_read_back_toward_zero_and_saturate()
    {
        Assert.Equal([3L, -3L, long.MaxValue, long.MinValue], GraphOps.ToInt64s(T([3.9f, -3.9f, Int64Max, -Int64Max], 4)));
        Assert.Throws<ArgumentException>(() => Run1(GraphOps.Pow(), T([1, 2, 3], 3), T([1, 2], 2)));
    }

    private static double Sigmoid(double v) => 1 / (1 + Math.Exp(-v));
}
