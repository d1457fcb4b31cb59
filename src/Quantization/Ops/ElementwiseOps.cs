using System.Numerics.Tensors;

namespace Quantization.Ops;

/// <summary>
/// ONNX <c>Add</c>, <c>Sub</c>, <c>Mul</c>, <c>Div</c> with multidirectional (numpy) broadcasting. Division is IEEE
/// (x / 0 is ±∞ or NaN), as ONNX Runtime does for floats.
/// </summary>
internal static class ElementwiseOps
{
    /// <exception cref="ArgumentException">The shapes do not broadcast.</exception>
    public static Tensor Add(Tensor a, Tensor b) => Apply(a, b, TensorPrimitives.Add);

    /// <inheritdoc cref="Add"/>
    public static Tensor Sub(Tensor a, Tensor b) => Apply(a, b, TensorPrimitives.Subtract);

    /// <inheritdoc cref="Add"/>
    public static Tensor Mul(Tensor a, Tensor b) => Apply(a, b, TensorPrimitives.Multiply);

    /// <inheritdoc cref="Add"/>
    public static Tensor Div(Tensor a, Tensor b) => Apply(a, b, TensorPrimitives.Divide);

    private delegate void SpanOp(ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> destination);

    private static Tensor Apply(Tensor a, Tensor b, SpanOp op)
    {
        int[] shape = Shapes.Broadcast(a.Shape, b.Shape);
        var y = new Tensor(shape);
        // Operands that already have the output's shape are used in place; others are broadcast into a buffer first.
        op(Expanded(a, shape), Expanded(b, shape), y.AsSpan());
        return y;
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
