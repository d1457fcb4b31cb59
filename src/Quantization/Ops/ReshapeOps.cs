namespace Quantization.Ops;

/// <summary>ONNX <c>Reshape</c>, <c>Squeeze</c> and <c>Unsqueeze</c>: new shapes over the same values (copied; inputs are never shared).</summary>
internal static class ReshapeOps
{
    /// <summary>
    /// Reshape with ONNX semantics: 0 copies the input's dimension at the same position (unless
    /// <paramref name="allowZero"/>, opset 14+, where 0 means an empty dimension), and one −1 is inferred.
    /// </summary>
    /// <exception cref="ArgumentException">More than one −1, a 0 beyond the input's rank, or a different element count.</exception>
    public static Tensor Reshape(Tensor x, ReadOnlySpan<long> shape, bool allowZero = false)
    {
        var resolved = new int[shape.Length];
        int inferred = -1;
        long known = 1;
        for (int i = 0; i < shape.Length; i++)
        {
            long d = shape[i];
            if (d == 0 && !allowZero)
                d = i < x.Rank ? x.Shape[i] : throw new ArgumentException($"Reshape dimension {i} is 0 (copy) but the input has rank {x.Rank}.", nameof(shape));
            if (d == -1)
            {
                if (inferred >= 0)
                    throw new ArgumentException("Reshape has more than one -1.", nameof(shape));
                inferred = i;
                continue;
            }

            if (d < 0 || d > int.MaxValue)
                throw new ArgumentException($"Reshape dimension {i} is {d}.", nameof(shape));
            resolved[i] = (int)d;
            known *= d;
        }

        if (inferred >= 0)
        {
            if (known == 0 || x.Length % known != 0)
                throw new ArgumentException($"Cannot infer the -1 of the reshape for {x.Length} elements.", nameof(shape));
            resolved[inferred] = (int)(x.Length / known);
            known *= resolved[inferred];
        }

        if (known != x.Length)
            throw new ArgumentException($"Cannot reshape {x.Length} elements into {known}.", nameof(shape));
        return Copy(x, resolved);
    }

    /// <summary>Removes the listed axes (each of length 1), or every axis of length 1 when none are listed.</summary>
    /// <exception cref="ArgumentException">A listed axis does not have length 1.</exception>
    public static Tensor Squeeze(Tensor x, ReadOnlySpan<long> axes = default)
    {
        var drop = new bool[x.Rank];
        if (axes.IsEmpty)
        {
            for (int i = 0; i < x.Rank; i++)
                drop[i] = x.Shape[i] == 1;
        }

        foreach (long axis in axes)
        {
            int a = Shapes.Axis(axis, x.Rank);
            drop[a] = x.Shape[a] == 1 ? true : throw new ArgumentException($"Cannot squeeze axis {a} of length {x.Shape[a]}.", nameof(axes));
        }

        var shape = new List<int>();
        for (int i = 0; i < x.Rank; i++)
        {
            if (!drop[i])
                shape.Add(x.Shape[i]);
        }

        return Copy(x, [.. shape]);
    }

    /// <summary>Inserts axes of length 1; the axes index the output (rank + axes.Length) and may be negative.</summary>
    /// <exception cref="ArgumentException">An axis repeats.</exception>
    public static Tensor Unsqueeze(Tensor x, ReadOnlySpan<long> axes)
    {
        int rank = x.Rank + axes.Length;
        var inserted = new bool[rank];
        foreach (long axis in axes)
        {
            int a = Shapes.Axis(axis, rank);
            inserted[a] = !inserted[a] ? true : throw new ArgumentException($"Unsqueeze repeats axis {a}.", nameof(axes));
        }

        var shape = new int[rank];
        for (int i = 0, j = 0; i < rank; i++)
            shape[i] = inserted[i] ? 1 : x.Shape[j++];
        return Copy(x, shape);
    }

    /// <summary>The values of <paramref name="x"/> in a new array of <paramref name="shape"/> (written whole, so not cleared first).</summary>
    private static Tensor Copy(Tensor x, int[] shape)
    {
        var y = Tensor.Uninitialized(shape);
        x.AsSpan().CopyTo(y.AsSpan());
        return y;
    }
}
