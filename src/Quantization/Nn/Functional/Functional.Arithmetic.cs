using System.Numerics.Tensors;

namespace Quantization.Nn;

internal static partial class Functional
{
    /// <summary>a · b for same-shaped inputs; da = dy · b, db = dy · a.</summary>
    public static Variable ElementwiseMultiply(Variable a, Variable b)
    {
        var y = new Tensor(a.Shape);
        TensorPrimitives.Multiply(a.Value.AsSpan(), b.Value.AsSpan(), y.AsSpan());
        return Variable.Record(y, [a, b], dy =>
        {
            if (a.RequiresGrad)
                a.AccumulateGrad(Product(dy, b.Value));
            if (b.RequiresGrad)
                b.AccumulateGrad(Product(dy, a.Value));
        });

        static Tensor Product(Tensor x, Tensor y)
        {
            var result = new Tensor(x.Shape);
            TensorPrimitives.Multiply(x.AsSpan(), y.AsSpan(), result.AsSpan());
            return result;
        }
    }

    /// <summary>
    /// Concatenation along <paramref name="dim"/> of inputs that agree on every other dimension; each input's gradient
    /// is its slice of dy.
    /// </summary>
    public static Variable Cat(IReadOnlyList<Variable> inputs, int dim)
    {
        var (outer, inners, shape) = CatLayout(inputs.Select(v => v.Value.Shape.ToArray()).ToList(), dim);
        var y = new Tensor(shape);
        var ys = y.AsSpan();
        int total = inners.Sum();
        for (int o = 0, offset = 0; o < outer; o++)
        {
            for (int i = 0; i < inputs.Count; i++)
            {
                inputs[i].Value.AsSpan().Slice(o * inners[i], inners[i]).CopyTo(ys.Slice(offset, inners[i]));
                offset += inners[i];
            }
        }

        return Variable.Record(y, [.. inputs], dy =>
        {
            var dys = dy.AsSpan();
            for (int i = 0, start = 0; i < inputs.Count; start += inners[i], i++)
            {
                if (!inputs[i].RequiresGrad)
                    continue;
                var dx = new Tensor(inputs[i].Shape);
                for (int o = 0; o < outer; o++)
                    dys.Slice(o * total + start, inners[i]).CopyTo(dx.AsSpan().Slice(o * inners[i], inners[i]));
                inputs[i].AccumulateGrad(dx);
            }
        });
    }

    /// <summary>
    /// The layout of a concatenation: the count of outer blocks, each input's contiguous run per block, and the
    /// result's shape. Validates that the shapes agree except along <paramref name="dim"/> (already normalized).
    /// </summary>
    internal static (int Outer, int[] Inners, int[] Shape) CatLayout(IReadOnlyList<int[]> shapes, int dim)
    {
        var first = shapes[0];
        var shape = (int[])first.Clone();
        shape[dim] = 0;
        var inners = new int[shapes.Count];
        for (int i = 0; i < shapes.Count; i++)
        {
            var s = shapes[i];
            for (int d = 0; d < first.Length; d++)
            {
                if (s.Length != first.Length || (d != dim && s[d] != first[d]))
                    throw new ArgumentException($"Input {i} has shape {Tensor.FormatShape(s)}, which does not match {Tensor.FormatShape(first)} outside dim {dim}.", "inputs");
            }

            shape[dim] += s[dim];
            int inner = 1;
            for (int d = dim; d < s.Length; d++)
                inner *= s[d];
            inners[i] = inner;
        }

        int outer = 1;
        for (int d = 0; d < dim; d++)
            outer *= first[d];
        return (outer, inners, shape);
    }
}
