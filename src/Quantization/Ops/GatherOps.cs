namespace Quantization.Ops;

/// <summary>
/// ONNX <c>Gather</c>: picks slices of <c>data</c> along <c>axis</c> by index. Output shape:
/// data.shape[..axis] ++ indices.shape ++ data.shape[axis + 1..]. Negative indices count from the end.
/// </summary>
internal static class GatherOps
{
    /// <exception cref="ArgumentException">The indices do not fill their shape.</exception>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside [−dim, dim).</exception>
    public static Tensor Gather(Tensor data, ReadOnlySpan<long> indices, ReadOnlySpan<int> indicesShape, long axis = 0)
    {
        if (Shapes.Count(indicesShape) != indices.Length)
            throw new ArgumentException($"{indices.Length} indices do not fill the shape [{string.Join(", ", indicesShape.ToArray())}].", nameof(indices));
        int a = Shapes.Axis(axis, data.Rank);
        int dim = data.Shape[a];
        int[] shape = [.. data.Shape[..a], .. indicesShape, .. data.Shape[(a + 1)..]];
        int outer = 1, inner = 1;
        for (int i = 0; i < a; i++)
            outer *= data.Shape[i];
        for (int i = a + 1; i < data.Rank; i++)
            inner *= data.Shape[i];

        var resolved = new int[indices.Length];
        for (int i = 0; i < indices.Length; i++)
        {
            long index = indices[i] < 0 ? indices[i] + dim : indices[i];
            resolved[i] = index >= 0 && index < dim ? (int)index : throw new ArgumentOutOfRangeException(nameof(indices), indices[i], $"Gather index outside [{-dim}, {dim}) on axis {a}.");
        }

        var y = new Tensor(shape);
        ReadOnlySpan<float> source = data.AsSpan();
        Span<float> destination = y.AsSpan();
        int o = 0;
        for (int n = 0; n < outer; n++)
        {
            foreach (int index in resolved)
            {
                source.Slice((n * dim + index) * inner, inner).CopyTo(destination[o..]);
                o += inner;
            }
        }

        return y;
    }
}
