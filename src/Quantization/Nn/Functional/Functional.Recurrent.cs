using System.Numerics.Tensors;

namespace Quantization.Nn;

/// <summary>The pieces recurrent layers are unrolled from: row slices, concatenation, sums and the fused LSTM cell.</summary>
internal static partial class Functional
{
    /// <summary>a + b for equal shapes; both receive dy.</summary>
    public static Variable Add(Variable a, Variable b)
    {
        var y = new Tensor(a.Shape);
        TensorPrimitives.Add(a.Value.AsSpan(), b.Value.AsSpan(), y.AsSpan());
        return Variable.Record(y, [a, b], dy =>
        {
            a.AccumulateGrad(dy);
            b.AccumulateGrad(dy);
        });
    }

    /// <summary>
    /// Rows <paramref name="start"/>..start+count-1 of x viewed as [rows, rowLength], shaped [count, rowLength]. The
    /// gradient is added straight into the matching rows of x's gradient, so taking every time step of a sequence costs
    /// O(step) each rather than a full-size zero tensor per step.
    /// </summary>
    public static Variable Rows(Variable x, int start, int count)
    {
        int rowLength = x.Value.Length / x.Shape[0];
        var y = new Tensor(x.Value.AsSpan().Slice(start * rowLength, count * rowLength), count, rowLength);
        return Variable.Record(y, [x], dy =>
        {
            if (!x.RequiresGrad)
                return;
            x.Grad ??= new Tensor(x.Shape);
            var target = x.Grad.AsSpan().Slice(start * rowLength, count * rowLength);
            TensorPrimitives.Add(target, dy.AsSpan(), target);
        });
    }

    /// <summary>The values of <paramref name="parts"/> one after another, shaped <paramref name="shape"/>; each part gets its slice of dy.</summary>
    public static Variable Concat(Variable[] parts, params int[] shape)
    {
        var y = new Tensor(shape);
        int offset = 0;
        foreach (var part in parts)
        {
            part.Value.AsSpan().CopyTo(y.AsSpan()[offset..]);
            offset += part.Value.Length;
        }

        return Variable.Record(y, parts, dy =>
        {
            int at = 0;
            foreach (var part in parts)
            {
                if (part.RequiresGrad)
                    part.AccumulateGrad(new Tensor(dy.AsSpan().Slice(at, part.Value.Length), part.Shape));
                at += part.Value.Length;
            }
        });
    }

    /// <summary>[A, B, C] → [B, A, C] (a copy); the gradient is swapped back.</summary>
    public static Variable SwapLeadingDims(Variable x)
    {
        int a = x.Shape[0], b = x.Shape[1], c = x.Shape[2];
        var y = new Tensor(SwapLeading(x.Value.AsSpan(), a, b, c), b, a, c);
        return Variable.Record(y, [x], dy => x.AccumulateGrad(new Tensor(SwapLeading(dy.AsSpan(), b, a, c), a, b, c)));
    }

    /// <summary>
    /// One LSTM step from the gate pre-activations z [N, 4H] (gate order i, f, g, o, as PyTorch) and the previous cell
    /// state [N, H]: <c>i = σ(z_i), f = σ(z_f), g = tanh(z_g), o = σ(z_o), c = f ⊙ c_prev + i ⊙ g, h = o ⊙ tanh(c)</c>.
    /// </summary>
    /// <remarks>
    /// c and h are recorded as two nodes: c depends on (z, c_prev) and h on (z, c), so h's backward adds
    /// <c>dh ⊙ o ⊙ (1 - tanh² c)</c> into c's gradient before c's own backward runs (c precedes h topologically).
    /// c's backward: dz_i = dc ⊙ g ⊙ i(1 - i), dz_f = dc ⊙ c_prev ⊙ f(1 - f), dz_g = dc ⊙ i ⊙ (1 - g²), dc_prev = dc ⊙ f.
    /// h's backward: dz_o = dh ⊙ tanh(c) ⊙ o(1 - o).
    /// </remarks>
    public static (Variable H, Variable C) LstmCell(Variable gates, Variable cPrev)
    {
        int n = cPrev.Shape[0], hidden = cPrev.Shape[1];
        var z = gates.Value.AsSpan();
        var act = new float[n * 4 * hidden];
        for (int r = 0; r < n; r++)
        {
            var row = z.Slice(r * 4 * hidden, 4 * hidden);
            var a = act.AsSpan(r * 4 * hidden, 4 * hidden);
            TensorPrimitives.Sigmoid(row[..(2 * hidden)], a[..(2 * hidden)]);
            TensorPrimitives.Tanh(row.Slice(2 * hidden, hidden), a.Slice(2 * hidden, hidden));
            TensorPrimitives.Sigmoid(row.Slice(3 * hidden, hidden), a.Slice(3 * hidden, hidden));
        }

        var c = new Tensor(n, hidden);
        var tanhC = new float[n * hidden];
        var h = new Tensor(n, hidden);
        var cp = cPrev.Value.AsSpan();
        for (int r = 0; r < n; r++)
        {
            var a = act.AsSpan(r * 4 * hidden, 4 * hidden);
            var cRow = c.AsSpan().Slice(r * hidden, hidden);
            TensorPrimitives.Multiply(a.Slice(hidden, hidden), cp.Slice(r * hidden, hidden), cRow);
            TensorPrimitives.MultiplyAdd(a[..hidden], a.Slice(2 * hidden, hidden), cRow, cRow);
            var t = tanhC.AsSpan(r * hidden, hidden);
            TensorPrimitives.Tanh(cRow, t);
            TensorPrimitives.Multiply(a.Slice(3 * hidden, hidden), t, h.AsSpan().Slice(r * hidden, hidden));
        }

        // act holds rows of [i | f | g | o], H values each: unit j of row r has gate q at (4r + q)·H + j.
        var cVar = Variable.Record(c, [gates, cPrev], dc =>
        {
            var d = dc.AsSpan();
            var previous = cPrev.Value.AsSpan();
            var dz = gates.RequiresGrad ? new Tensor(gates.Shape) : null;
            var dcPrev = cPrev.RequiresGrad ? new Tensor(n, hidden) : null;
            for (int r = 0; r < n; r++)
            {
                for (int j = 0; j < hidden; j++)
                {
                    int k = r * hidden + j, at = 4 * r * hidden + j;
                    float i = act[at], f = act[at + hidden], g = act[at + 2 * hidden];
                    if (dz is not null)
                    {
                        var dzs = dz.AsSpan();
                        dzs[at] = d[k] * g * i * (1 - i);
                        dzs[at + hidden] = d[k] * previous[k] * f * (1 - f);
                        dzs[at + 2 * hidden] = d[k] * i * (1 - g * g);
                    }

                    if (dcPrev is not null)
                        dcPrev.AsSpan()[k] = d[k] * f;
                }
            }

            if (dz is not null)
                gates.AccumulateGrad(dz);
            if (dcPrev is not null)
                cPrev.AccumulateGrad(dcPrev);
        });

        var hVar = Variable.Record(h, [gates, cVar], dh =>
        {
            var d = dh.AsSpan();
            var dz = new Tensor(gates.Shape);
            var dc = new Tensor(n, hidden);
            for (int r = 0; r < n; r++)
            {
                for (int j = 0; j < hidden; j++)
                {
                    int k = r * hidden + j, at = (4 * r + 3) * hidden + j;
                    float o = act[at], t = tanhC[k];
                    dz.AsSpan()[at] = d[k] * t * o * (1 - o);
                    dc.AsSpan()[k] = d[k] * o * (1 - t * t);
                }
            }

            gates.AccumulateGrad(dz);
            cVar.AccumulateGrad(dc);
        });

        return (hVar, cVar);
    }

    private static float[] SwapLeading(ReadOnlySpan<float> source, int a, int b, int c)
    {
        var result = new float[source.Length];
        for (int i = 0; i < a; i++)
        {
            for (int j = 0; j < b; j++)
                source.Slice((i * b + j) * c, c).CopyTo(result.AsSpan((j * a + i) * c, c));
        }

        return result;
    }
}
