namespace Quantization.Ops;

/// <summary>
/// Shape arithmetic shared by the data-movement kernels: row-major strides, axis normalization, numpy/ONNX
/// broadcasting, and a strided copy that every view-like op (transpose, slice, expand, broadcast) reduces to.
/// </summary>
internal static class Shapes
{
    /// <summary>Row-major strides in elements.</summary>
    public static int[] Strides(ReadOnlySpan<int> shape)
    {
        var strides = new int[shape.Length];
        int stride = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            strides[i] = stride;
            stride *= shape[i];
        }

        return strides;
    }

    /// <summary>The element count of a shape, with overflow checked.</summary>
    /// <exception cref="ArgumentException">A dimension is negative or the count overflows.</exception>
    public static int Count(ReadOnlySpan<int> shape)
    {
        long count = 1;
        foreach (int d in shape)
        {
            if (d < 0)
                throw new ArgumentException($"Shape [{string.Join(", ", shape.ToArray())}] has a negative dimension.");
            count *= d;
            if (count > Array.MaxLength)
                throw new ArgumentException($"Shape [{string.Join(", ", shape.ToArray())}] holds more elements than an array can.");
        }

        return (int)count;
    }

    /// <summary>An axis in [-rank, rank) mapped to [0, rank).</summary>
    /// <exception cref="ArgumentOutOfRangeException">The axis is out of range.</exception>
    public static int Axis(long axis, int rank) =>
        axis >= -rank && axis < rank ? (int)(axis < 0 ? axis + rank : axis) : throw new ArgumentOutOfRangeException(nameof(axis), axis, $"The axis must lie in [{-rank}, {rank}).");

    /// <summary>
    /// The numpy broadcast of two shapes: aligned at the right, each pair of dimensions must be equal or one of them 1.
    /// </summary>
    /// <exception cref="ArgumentException">The shapes do not broadcast.</exception>
    public static int[] Broadcast(ReadOnlySpan<int> a, ReadOnlySpan<int> b)
    {
        int rank = Math.Max(a.Length, b.Length);
        var result = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i < rank - a.Length ? 1 : a[i - (rank - a.Length)];
            int db = i < rank - b.Length ? 1 : b[i - (rank - b.Length)];
            result[i] = da == db || db == 1 ? da : da == 1 ? db
                : throw new ArgumentException($"Shapes [{string.Join(", ", a.ToArray())}] and [{string.Join(", ", b.ToArray())}] do not broadcast (axis {i}: {da} vs {db}).");
        }

        return result;
    }

    /// <summary>The strides that read a tensor of <paramref name="shape"/> as if broadcast to <paramref name="target"/> (0 on broadcast axes).</summary>
    public static int[] BroadcastStrides(ReadOnlySpan<int> shape, ReadOnlySpan<int> target)
    {
        int[] own = Strides(shape);
        var strides = new int[target.Length];
        int lead = target.Length - shape.Length;
        for (int i = lead; i < target.Length; i++)
            strides[i] = shape[i - lead] == 1 && target[i] != 1 ? 0 : own[i - lead];
        return strides;
    }

    /// <summary>
    /// <c>destination[o] = source[offset + Σ index_k · strides_k]</c> for every index of <paramref name="shape"/> in
    /// row-major order. Strides may be 0 (broadcast) or negative (reversed slices).
    /// </summary>
    public static void StridedCopy(ReadOnlySpan<float> source, ReadOnlySpan<int> shape, ReadOnlySpan<int> strides, int offset, Span<float> destination)
    {
        if (destination.IsEmpty)
            return;
        int rank = shape.Length;
        if (rank == 0)
        {
            destination[0] = source[offset];
            return;
        }

        Span<int> index = rank <= 16 ? stackalloc int[rank] : new int[rank];
        int inner = shape[rank - 1], innerStride = strides[rank - 1], o = 0, start = offset;
        while (true)
        {
            for (int i = 0, s = start; i < inner; i++, s += innerStride)
                destination[o++] = source[s];
            // Advance the odometer over the outer axes; the innermost one was the loop above.
            int d = rank - 2;
            for (; d >= 0; d--)
            {
                start += strides[d];
                if (++index[d] < shape[d])
                    break;
                start -= strides[d] * shape[d];
                index[d] = 0;
            }

            if (d < 0)
                return;
        }
    }
}
