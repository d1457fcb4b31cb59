namespace Quantization.Ops;

/// <summary>
/// ONNX <c>Expand</c>: broadcasts the input against <c>shape</c> in both directions (numpy rules), so the output's
/// shape is broadcast(input.shape, shape) — a 1 in <c>shape</c> keeps the input's dimension.
/// </summary>
internal static class ExpandOps
{
    /// <exception cref="ArgumentException">The shapes do not broadcast.</exception>
    public static Tensor Expand(Tensor x, ReadOnlySpan<long> shape)
    {
        var target = new int[shape.Length];
        for (int i = 0; i < shape.Length; i++)
            target[i] = shape[i] is >= 0 and <= int.MaxValue ? (int)shape[i] : throw new ArgumentException($"Expand dimension {i} is {shape[i]}.", nameof(shape));
        int[] outShape = Shapes.Broadcast(x.Shape, target);
        var y = new Tensor(outShape);
        Shapes.StridedCopy(x.AsSpan(), outShape, Shapes.BroadcastStrides(x.Shape, outShape), 0, y.AsSpan());
        return y;
    }
}
