namespace Quantization.Ops;

/// <summary>
/// ONNX <c>Slice</c> (opset 10+): per listed axis, take start, start + step, ... up to (not including) end.
/// Negative starts and ends count from the end; then both are clamped — to [0, dim] for a positive step and to
/// [0, dim − 1] (start) and [−1, dim − 1] (end) for a negative one — so out-of-range values (e.g. INT64_MAX) just
/// mean "to the edge". The output length is max(0, ceil((end − start) / step)).
/// </summary>
internal static class SliceOps
{
    /// <exception cref="ArgumentException">Lengths disagree, an axis repeats, or a step is 0.</exception>
    public static Tensor Slice(Tensor x, ReadOnlySpan<long> starts, ReadOnlySpan<long> ends, ReadOnlySpan<long> axes = default, ReadOnlySpan<long> steps = default)
    {
        int rank = x.Rank;
        if (starts.Length != ends.Length || (!axes.IsEmpty && axes.Length != starts.Length) || (!steps.IsEmpty && steps.Length != starts.Length))
            throw new ArgumentException("starts, ends, axes and steps must have the same length.");
        int[] inStrides = Shapes.Strides(x.Shape);
        int[] shape = x.Shape.ToArray();
        int[] strides = (int[])inStrides.Clone();
        var seen = new bool[rank];
        int offset = 0;
        for (int i = 0; i < starts.Length; i++)
        {
            int axis = Shapes.Axis(axes.IsEmpty ? i : axes[i], rank);
            if (seen[axis])
                throw new ArgumentException($"Axis {axis} is sliced twice.", nameof(axes));
            seen[axis] = true;
            long step = steps.IsEmpty ? 1 : steps[i];
            if (step == 0)
                throw new ArgumentException("A slice step cannot be 0.", nameof(steps));
            long dim = x.Shape[axis];
            long start = starts[i] < 0 ? starts[i] + dim : starts[i];
            long end = ends[i] < 0 ? ends[i] + dim : ends[i];
            if (step > 0)
            {
                start = Math.Clamp(start, 0, dim);
                end = Math.Clamp(end, 0, dim);
            }
            else
            {
                start = Math.Clamp(start, 0, dim - 1);
                end = Math.Clamp(end, -1, dim - 1);
            }

            long length = step > 0 ? (end - start + step - 1) / step : (start - end - step - 1) / -step;
            shape[axis] = (int)Math.Max(0, length);
            // A step beyond the dimension is harmless: at most one element is read on that axis.
            strides[axis] = (int)(inStrides[axis] * Math.Clamp(step, -dim - 1, dim + 1));
            if (shape[axis] > 0)
                offset += (int)start * inStrides[axis];
        }

        var y = new Tensor(shape);
        Shapes.StridedCopy(x.AsSpan(), shape, strides, offset, y.AsSpan());
        return y;
    }
}
