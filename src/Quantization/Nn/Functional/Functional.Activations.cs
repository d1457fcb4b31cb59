using System.Numerics.Tensors;

namespace Quantization.Nn;

internal static partial class Functional
{
    /// <summary>max(x, 0); the gradient passes where x &gt; 0.</summary>
    public static Variable Relu(Variable x) => Clamp(x, 0f, float.PositiveInfinity);

    /// <summary>min(max(x, 0), 6); the gradient passes where 0 &lt; x &lt; 6.</summary>
    public static Variable Relu6(Variable x) => Clamp(x, 0f, 6f);

    /// <summary>clamp(x, lo, hi); the gradient passes strictly inside (lo, hi), as PyTorch's hardtanh/relu6 backward.</summary>
    public static Variable Clamp(Variable x, float lo, float hi)
    {
        var y = new Tensor(x.Shape);
        var xs = x.Value.AsSpan();
        TensorPrimitives.Clamp(xs, lo, hi, y.AsSpan());
        return Variable.Record(y, [x], dy =>
        {
            var dx = new Tensor(x.Shape);
            var d = dx.AsSpan();
            var g = dy.AsSpan();
            var v = x.Value.AsSpan();
            for (int i = 0; i < d.Length; i++)
                d[i] = v[i] > lo && v[i] < hi ? g[i] : 0f;
            x.AccumulateGrad(dx);
        });
    }

    /// <summary>1 / (1 + e^-x); dy · s (1 - s).</summary>
    public static Variable Sigmoid(Variable x)
    {
        var y = new Tensor(x.Shape);
        TensorPrimitives.Sigmoid(x.Value.AsSpan(), y.AsSpan());
        return Variable.Record(y, [x], dy =>
        {
            var s = y.AsSpan();
            var dx = new Tensor(x.Shape);
            // s - s² = s (1 - s), then times dy.
            TensorPrimitives.Multiply(s, s, dx.AsSpan());
            TensorPrimitives.Subtract(s, dx.AsSpan(), dx.AsSpan());
            TensorPrimitives.Multiply(dx.AsSpan(), dy.AsSpan(), dx.AsSpan());
            x.AccumulateGrad(dx);
        });
    }

    /// <summary>tanh(x); dy · (1 - t²).</summary>
    public static Variable Tanh(Variable x)
    {
        var y = new Tensor(x.Shape);
        TensorPrimitives.Tanh(x.Value.AsSpan(), y.AsSpan());
        return Variable.Record(y, [x], dy =>
        {
            var t = y.AsSpan();
            var dx = new Tensor(x.Shape);
            TensorPrimitives.Multiply(t, t, dx.AsSpan());
            TensorPrimitives.Subtract(1f, dx.AsSpan(), dx.AsSpan());
            TensorPrimitives.Multiply(dx.AsSpan(), dy.AsSpan(), dx.AsSpan());
            x.AccumulateGrad(dx);
        });
    }

    /// <summary>relu6(x + 3) / 6; the gradient is 1/6 on (-3, 3) and 0 elsewhere.</summary>
    public static Variable Hardsigmoid(Variable x)
    {
        var y = new Tensor(x.Shape);
        var ys = y.AsSpan();
        TensorPrimitives.Add(x.Value.AsSpan(), 3f, ys);
        TensorPrimitives.Clamp(ys, 0f, 6f, ys);
        TensorPrimitives.Divide(ys, 6f, ys);
        return Variable.Record(y, [x], dy =>
        {
            var dx = new Tensor(x.Shape);
            var d = dx.AsSpan();
            var g = dy.AsSpan();
            var v = x.Value.AsSpan();
            for (int i = 0; i < d.Length; i++)
                d[i] = v[i] > -3f && v[i] < 3f ? g[i] / 6f : 0f;
            x.AccumulateGrad(dx);
        });
    }

    /// <summary>x · relu6(x + 3) / 6; the gradient is 0 below -3, (2x + 3) / 6 on [-3, 3], 1 above 3 (PyTorch's choice at the kinks).</summary>
    public static Variable Hardswish(Variable x)
    {
        var y = new Tensor(x.Shape);
        var ys = y.AsSpan();
        var xs = x.Value.AsSpan();
        TensorPrimitives.Add(xs, 3f, ys);
        TensorPrimitives.Clamp(ys, 0f, 6f, ys);
        TensorPrimitives.Multiply(ys, xs, ys);
        TensorPrimitives.Divide(ys, 6f, ys);
        return Variable.Record(y, [x], dy =>
        {
            var dx = new Tensor(x.Shape);
            var d = dx.AsSpan();
            var g = dy.AsSpan();
            var v = x.Value.AsSpan();
            for (int i = 0; i < d.Length; i++)
                d[i] = v[i] < -3f ? 0f : v[i] <= 3f ? g[i] * (v[i] / 3f + 0.5f) : g[i];
            x.AccumulateGrad(dx);
        });
    }

    /// <summary>
    /// Softmax along <paramref name="dim"/>: exp(x - max) / Σ exp(x - max). Backward: dx = s ⊙ (dy - Σ dy ⊙ s) along the same dim.
    /// </summary>
    public static Variable Softmax(Variable x, int dim)
    {
        var (outer, length, inner) = Split(x.Shape, dim);
        var y = new Tensor(x.Shape);
        var xs = x.Value.AsSpan();
        var ys = y.AsSpan();
        var line = new float[length];
        for (int o = 0; o < outer; o++)
        {
            for (int i = 0; i < inner; i++)
            {
                int start = o * length * inner + i;
                Gather(xs, start, inner, line);
                TensorPrimitives.SoftMax(line, line);
                Scatter(line, ys, start, inner);
            }
        }

        return Variable.Record(y, [x], dy =>
        {
            var dx = new Tensor(x.Shape);
            var s = new float[length];
            var g = new float[length];
            for (int o = 0; o < outer; o++)
            {
                for (int i = 0; i < inner; i++)
                {
                    int start = o * length * inner + i;
                    Gather(y.AsSpan(), start, inner, s);
                    Gather(dy.AsSpan(), start, inner, g);
                    float dot = TensorPrimitives.Dot(s, g);
                    TensorPrimitives.Subtract(g, dot, g);
                    TensorPrimitives.Multiply(g, s, g);
                    Scatter(g, dx.AsSpan(), start, inner);
                }
            }

            x.AccumulateGrad(dx);
        });
    }

    /// <summary>Splits a shape around <paramref name="dim"/> into (product before, its length, product after).</summary>
    private static (int Outer, int Length, int Inner) Split(ReadOnlySpan<int> shape, int dim)
    {
        int d = Tensor.NormalizeAxis(dim, shape.Length, nameof(dim));
        int outer = 1, inner = 1;
        for (int i = 0; i < d; i++)
            outer *= shape[i];
        for (int i = d + 1; i < shape.Length; i++)
            inner *= shape[i];
        return (outer, shape[d], inner);
    }

    private static void Gather(ReadOnlySpan<float> source, int start, int stride, Span<float> line)
    {
        if (stride == 1)
        {
            source.Slice(start, line.Length).CopyTo(line);
            return;
        }

        for (int k = 0; k < line.Length; k++)
            line[k] = source[start + k * stride];
    }

    private static void Scatter(ReadOnlySpan<float> line, Span<float> destination, int start, int stride)
    {
        if (stride == 1)
        {
            line.CopyTo(destination.Slice(start, line.Length));
            return;
        }

        for (int k = 0; k < line.Length; k++)
            destination[start + k * stride] = line[k];
    }
}
