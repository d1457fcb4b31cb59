using System.Numerics.Tensors;

namespace Quantization.Ops;

/// <summary>
/// ONNX <c>Add</c>, <c>Sub</c>, <c>Mul</c>, <c>Div</c> with multidirectional (numpy) broadcasting. Division is IEEE
/// (x / 0 is ±∞ or NaN), as ONNX Runtime does for floats.
/// </summary>
internal static class ElementwiseOps
{
    /// <param name="a">The first operand.</param>
    /// <param name="b">The second operand.</param>
    /// <param name="destination">Where to write, or null for a new tensor; it must have the broadcast shape and may be
    /// <paramref name="a"/> or <paramref name="b"/> itself (each output reads only its own position of a full-shape operand).</param>
    /// <exception cref="ArgumentException">The shapes do not broadcast.</exception>
    public static Tensor Add(Tensor a, Tensor b, Tensor? destination = null) => Apply(a, b, destination, TensorPrimitives.Add, TensorPrimitives.Add, (x, y, d) => TensorPrimitives.Add(y, x, d));

    /// <inheritdoc cref="Add"/>
    public static Tensor Sub(Tensor a, Tensor b, Tensor? destination = null) => Apply(a, b, destination, TensorPrimitives.Subtract, TensorPrimitives.Subtract, TensorPrimitives.Subtract);

    /// <inheritdoc cref="Add"/>
    public static Tensor Mul(Tensor a, Tensor b, Tensor? destination = null) => Apply(a, b, destination, TensorPrimitives.Multiply, TensorPrimitives.Multiply, (x, y, d) => TensorPrimitives.Multiply(y, x, d));

    /// <inheritdoc cref="Add"/>
    public static Tensor Div(Tensor a, Tensor b, Tensor? destination = null) => Apply(a, b, destination, TensorPrimitives.Divide, TensorPrimitives.Divide, TensorPrimitives.Divide);

    private delegate void SpanOp(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> destination);

    private delegate void SpanScalarOp(ReadOnlySpan<float> x, float y, Span<float> destination);

    private delegate void ScalarSpanOp(float x, ReadOnlySpan<float> y, Span<float> destination);

    // Below this many elements per broadcast value, per-block calls cost more than broadcasting into a buffer.
    private const int MinBlock = 8;

    private static Tensor Apply(Tensor a, Tensor b, Tensor? destination, SpanOp op, SpanScalarOp opScalarRight, ScalarSpanOp opScalarLeft)
    {
        int[] shape = Shapes.Broadcast(a.Shape, b.Shape);
        if (destination is not null && !destination.HasShape(shape))
            throw new ArgumentException($"The destination has shape {Tensor.FormatShape(destination.Shape)}, not the broadcast shape {Tensor.FormatShape(shape)}.", nameof(destination));
        Tensor y = destination ?? new Tensor(shape);
        var ys = y.AsSpan();
        // The common cases of a network (a bias per channel, a scalar, a scale per row) run as vector ops over
        // blocks of the full-shape operand, without materializing the broadcast one.
        if (a.HasShape(shape) && Blocks(b.Shape, shape) is (bool rowsB, int lengthB) && lengthB >= MinBlock)
        {
            Blockwise(a.AsSpan(), b.AsSpan(), rowsB, lengthB, ys, op, (x, v, d) => opScalarRight(x, v, d), swap: false);
            return y;
        }

        if (b.HasShape(shape) && Blocks(a.Shape, shape) is (bool rowsA, int lengthA) && lengthA >= MinBlock)
        {
            Blockwise(b.AsSpan(), a.AsSpan(), rowsA, lengthA, ys, op, (x, v, d) => opScalarLeft(v, x, d), swap: true);
            return y;
        }

        // Operands that already have the output's shape are used in place; others are broadcast into a buffer first.
        op(Expanded(a, shape), Expanded(b, shape), ys);
        return y;
    }

    /// <summary>
    /// How a broadcast operand of <paramref name="small"/> shape lines up with the output <paramref name="shape"/>: as
    /// whole rows of <c>Length</c> values repeated (<c>Rows</c>: its non-1 axes are the output's trailing axes), or as
    /// one value per block of <c>Length</c> consecutive outputs (its non-1 axes match a run of output axes followed by
    /// others); null when neither holds.
    /// </summary>
    private static (bool Rows, int Length)? Blocks(ReadOnlySpan<int> small, ReadOnlySpan<int> shape)
    {
        int rank = shape.Length, lead = rank - small.Length, first = -1, last = -1;
        for (int j = 0; j < small.Length; j++)
        {
            if (small[j] != 1)
            {
                if (first < 0)
                    first = j + lead;
                last = j + lead;
            }
        }

        if (first < 0)
            return (false, Shapes.Count(shape));   // one value for everything
        for (int j = first; j <= last; j++)
        {
            if (small[j - lead] != shape[j])
                return null;
        }

        int inner = 1;
        for (int j = last + 1; j < rank; j++)
            inner *= shape[j];
        return inner == 1 ? (true, Shapes.Count(small)) : (false, inner);
    }

    /// <summary>
    /// <c>y = op(full, small)</c> (or <c>op(small, full)</c> when <paramref name="swap"/>) where each value of
    /// <paramref name="small"/> covers a block of <paramref name="inner"/> outputs (through <paramref name="perBlock"/>),
    /// or, for <paramref name="rows"/>, <paramref name="small"/> is repeated as whole rows.
    /// </summary>
    private static void Blockwise(ReadOnlySpan<float> full, ReadOnlySpan<float> small, bool rows, int inner, Span<float> y,
        SpanOp op, SpanScalarOp perBlock, bool swap)
    {
        if (y.IsEmpty)
            return;
        if (rows)
        {
            int n = small.Length;
            for (int o = 0; o < y.Length; o += n)
            {
                if (swap)
                    op(small, full.Slice(o, n), y.Slice(o, n));
                else
                    op(full.Slice(o, n), small, y.Slice(o, n));
            }

            return;
        }

        for (int block = 0, o = 0; o < y.Length; block++, o += inner)
            perBlock(full.Slice(o, inner), small[block % small.Length], y.Slice(o, inner));
    }

    private static ReadOnlySpan<float> Expanded(Tensor x, int[] shape)
    {
        if (x.HasShape(shape))
            return x.AsSpan();
        var buffer = new float[Shapes.Count(shape)];
        Shapes.StridedCopy(x.AsSpan(), shape, Shapes.BroadcastStrides(x.Shape, shape), 0, buffer);
        return buffer;
    }
}
