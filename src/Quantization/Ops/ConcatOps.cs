namespace Quantization.Ops;

/// <summary>ONNX <c>Concat</c>: joins tensors along one axis; every other dimension must agree.</summary>
internal static class ConcatOps
{
    /// <exception cref="ArgumentException">No inputs, ranks differ, or a non-axis dimension differs.</exception>
    public static Tensor Concat(IReadOnlyList<Tensor> inputs, long axis)
    {
        if (inputs.Count == 0)
            throw new ArgumentException("Concat needs at least one input.", nameof(inputs));
        int rank = inputs[0].Rank;
        int a = Shapes.Axis(axis, rank);
        int[] shape = inputs[0].Shape.ToArray();
        shape[a] = 0;
        foreach (Tensor t in inputs)
        {
            if (t.Rank != rank)
                throw new ArgumentException($"Concat inputs have ranks {rank} and {t.Rank}.", nameof(inputs));
            for (int i = 0; i < rank; i++)
            {
                if (i != a && t.Shape[i] != shape[i])
                    throw new ArgumentException($"Concat inputs differ on axis {i} ({shape[i]} vs {t.Shape[i]}), which is not the concat axis {a}.", nameof(inputs));
            }

            shape[a] += t.Shape[a];
        }

        var y = new Tensor(shape);
        // Each input contributes a contiguous block of (its axis length × inner) values per outer index.
        int outer = 1, inner = 1;
        for (int i = 0; i < a; i++)
            outer *= shape[i];
        for (int i = a + 1; i < rank; i++)
            inner *= shape[i];
        Span<float> destination = y.AsSpan();
        int o = 0;
        for (int n = 0; n < outer; n++)
        {
            foreach (Tensor t in inputs)
            {
                int block = t.Shape[a] * inner;
                t.AsSpan().Slice(n * block, block).CopyTo(destination[o..]);
                o += block;
            }
        }

        return y;
    }
}
