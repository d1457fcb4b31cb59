namespace Quantization.Ops;

/// <summary>ONNX <c>Transpose</c>: output axis i is input axis perm[i]; no perm reverses the axes.</summary>
internal static class TransposeOps
{
    /// <exception cref="ArgumentException">The permutation is not a permutation of the input's axes.</exception>
    public static Tensor Transpose(Tensor x, ReadOnlySpan<long> perm = default)
    {
        int rank = x.Rank;
        int[] p = perm.IsEmpty ? Enumerable.Range(0, rank).Reverse().ToArray() : new int[perm.Length];
        if (!perm.IsEmpty)
        {
            if (perm.Length != rank)
                throw new ArgumentException($"perm has {perm.Length} entries for a rank-{rank} tensor.", nameof(perm));
            var seen = new bool[rank];
            for (int i = 0; i < rank; i++)
            {
                int axis = Shapes.Axis(perm[i], rank);
                if (seen[axis])
                    throw new ArgumentException($"perm repeats axis {axis}.", nameof(perm));
                seen[axis] = true;
                p[i] = axis;
            }
        }

        int[] inStrides = Shapes.Strides(x.Shape);
        var shape = new int[rank];
        var strides = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            shape[i] = x.Shape[p[i]];
            strides[i] = inStrides[p[i]];
        }

        var y = new Tensor(shape);
        Shapes.StridedCopy(x.AsSpan(), shape, strides, 0, y.AsSpan());
        return y;
    }
}
