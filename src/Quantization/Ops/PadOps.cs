namespace Quantization.Ops;

/// <summary>How <see cref="PadOps.Pad"/> fills the border.</summary>
internal enum PadMode
{
    /// <summary>A constant value.</summary>
    Constant,

    /// <summary>Mirror without repeating the edge: [1, 2, 3] padded by 2 reads [3, 2, 1, 2, 3, 2, 1].</summary>
    Reflect,

    /// <summary>Repeat the edge value.</summary>
    Edge,
}

/// <summary>
/// ONNX <c>Pad</c>: <c>pads</c> = [x1_begin, x2_begin, ..., x1_end, x2_end, ...] per axis; negative pads crop.
/// Output index o on an axis reads input index o − begin, mapped back inside by the mode when it falls outside.
/// </summary>
internal static class PadOps
{
    /// <exception cref="ArgumentException">pads has the wrong length, cropping leaves a negative size, or reflect/edge pads an empty axis.</exception>
    public static Tensor Pad(Tensor x, ReadOnlySpan<long> pads, PadMode mode = PadMode.Constant, float value = 0f)
    {
        int rank = x.Rank;
        if (pads.Length != 2 * rank)
            throw new ArgumentException($"pads has {pads.Length} entries; a rank-{rank} tensor needs {2 * rank}.", nameof(pads));
        var shape = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            long d = x.Shape[i] + pads[i] + pads[i + rank];
            shape[i] = d is >= 0 and <= int.MaxValue ? (int)d : throw new ArgumentException($"Padding axis {i} by ({pads[i]}, {pads[i + rank]}) gives length {d}.", nameof(pads));
            if (mode != PadMode.Constant && x.Shape[i] == 0 && d > 0)
                throw new ArgumentException($"{mode} padding needs a non-empty axis {i}.", nameof(pads));
        }

        // For every axis, the input index each output index reads (−1: outside, use the constant).
        var maps = new int[rank][];
        for (int i = 0; i < rank; i++)
        {
            maps[i] = new int[shape[i]];
            for (int o = 0; o < shape[i]; o++)
                maps[i][o] = SourceIndex(o - pads[i], x.Shape[i], mode);
        }

        var y = new Tensor(shape);
        Span<float> destination = y.AsSpan();
        ReadOnlySpan<float> source = x.AsSpan();
        int[] strides = Shapes.Strides(x.Shape);
        var index = new int[rank];
        for (int o = 0; o < destination.Length; o++)
        {
            int s = 0;
            bool inside = true;
            for (int i = 0; i < rank && inside; i++)
            {
                int m = maps[i][index[i]];
                inside = m >= 0;
                s += m * strides[i];
            }

            destination[o] = inside ? source[s] : value;
            for (int i = rank - 1; i >= 0 && ++index[i] == shape[i]; i--)
                index[i] = 0;
        }

        return y;
    }

    private static int SourceIndex(long i, int dim, PadMode mode)
    {
        if (i >= 0 && i < dim)
            return (int)i;
        switch (mode)
        {
            case PadMode.Constant:
                return -1;
            case PadMode.Edge:
                return i < 0 ? 0 : dim - 1;
            default:
                if (dim == 1)
                    return 0;
                // Reflection has period 2(dim − 1): fold into [0, 2(dim − 1)) and mirror the upper half.
                long period = 2L * (dim - 1);
                long r = ((i % period) + period) % period;
                return (int)(r < dim ? r : period - r);
        }
    }
}
