using Quantization.Ops;

namespace Quantization.Graph;

internal static partial class GraphOps
{
    /// <summary>ONNX <c>Shape</c>: the input's dimensions [start, end) as a 1-D integer tensor.</summary>
    public static GraphKernel Shape(long start, long? end) => (inputs, _) =>
    {
        Tensor x = Required(inputs, 0);
        int rank = x.Rank;
        int s = (int)Math.Clamp(start < 0 ? start + rank : start, 0, rank);
        int e = (int)Math.Clamp(end is long v ? (v < 0 ? v + rank : v) : rank, s, rank);
        var dims = new long[e - s];
        for (int i = s; i < e; i++)
            dims[i - s] = x.Shape[i];
        return [FromInt64s(dims, dims.Length)];
    };

    /// <summary>ONNX <c>Reshape</c> with the target shape from input 1.</summary>
    public static GraphKernel Reshape(bool allowZero) => (inputs, _) =>
        [ReshapeOps.Reshape(Required(inputs, 0), ToInt64s(Required(inputs, 1)), allowZero)];

    /// <summary>ONNX <c>Flatten</c>: a 2-D view, the axes before <paramref name="axis"/> as rows and the rest as columns.</summary>
    public static GraphKernel Flatten(long axis) => (inputs, _) =>
    {
        Tensor x = Required(inputs, 0);
        int a = axis == x.Rank ? x.Rank : Shapes.Axis(axis, x.Rank);
        long rows = 1, columns = 1;
        for (int d = 0; d < x.Rank; d++)
        {
            if (d < a)
                rows *= x.Shape[d];
            else
                columns *= x.Shape[d];
        }

        return [ReshapeOps.Reshape(x, [rows, columns], allowZero: true)];
    };

    public static GraphKernel Concat(long axis) => (inputs, _) =>
        [ConcatOps.Concat(inputs.Select((t, i) => t ?? throw new ArgumentException($"Concat input {i} is missing.")).ToArray(), axis)];

    /// <summary>
    /// ONNX <c>Slice</c>: before opset 10 <paramref name="starts"/>, <paramref name="ends"/> and
    /// <paramref name="axes"/> are attributes; from opset 10 they (and the steps) are inputs 1-4, and the first two
    /// arguments are null.
    /// </summary>
    public static GraphKernel Slice(long[]? starts, long[]? ends, long[]? axes) => (inputs, _) =>
    {
        Tensor x = Required(inputs, 0);
        if (starts is not null && ends is not null)
            return [SliceOps.Slice(x, starts, ends, axes)];
        long[] s = ToInt64s(Required(inputs, 1)), e = ToInt64s(Required(inputs, 2));
        long[]? a = inputs.Length > 3 && inputs[3] is Tensor at ? ToInt64s(at) : null;
        long[]? steps = inputs.Length > 4 && inputs[4] is Tensor st ? ToInt64s(st) : null;
        return [SliceOps.Slice(x, s, e, a, steps)];
    };

    /// <summary>ONNX <c>Squeeze</c>: axes from the attribute (before opset 13) or from the optional input 1.</summary>
    public static GraphKernel Squeeze(long[]? axes) => (inputs, _) =>
    {
        long[]? a = axes ?? (inputs.Length > 1 && inputs[1] is Tensor t ? ToInt64s(t) : null);
        return [ReshapeOps.Squeeze(Required(inputs, 0), a)];
    };

    /// <summary>ONNX <c>Unsqueeze</c>: axes from the attribute (before opset 13) or from input 1.</summary>
    public static GraphKernel Unsqueeze(long[]? axes) => (inputs, _) =>
        [ReshapeOps.Unsqueeze(Required(inputs, 0), axes ?? ToInt64s(Required(inputs, 1)))];

    public static GraphKernel Transpose(long[]? perm) => (inputs, _) => [TransposeOps.Transpose(Required(inputs, 0), perm)];

    public static GraphKernel Gather(long axis) => (inputs, _) =>
    {
        Tensor indices = Required(inputs, 1);
        return [GatherOps.Gather(Required(inputs, 0), ToInt64s(indices), indices.Shape, axis)];
    };

    public static GraphKernel Expand() => (inputs, _) => [ExpandOps.Expand(Required(inputs, 0), ToInt64s(Required(inputs, 1)))];

    /// <summary>ONNX <c>ConstantOfShape</c>: a tensor of the shape given by input 0, filled with <paramref name="value"/>.</summary>
    public static GraphKernel ConstantOfShape(float value) => (inputs, _) =>
    {
        long[] dims = ToInt64s(Required(inputs, 0));
        var shape = new int[dims.Length];
        for (int i = 0; i < dims.Length; i++)
            shape[i] = dims[i] is >= 0 and <= int.MaxValue ? (int)dims[i] : throw new ArgumentException($"ConstantOfShape dimension {i} is {dims[i]}.");
        return [Tensor.Full(value, shape)];
    };

    /// <summary>
    /// ONNX <c>Pad</c>: before opset 11 <paramref name="pads"/> and <paramref name="value"/> are attributes; from
    /// opset 11 the pads are input 1 and the optional constant input 2.
    /// </summary>
    public static GraphKernel Pad(PadMode mode, long[]? pads, float value) => (inputs, _) =>
    {
        Tensor x = Required(inputs, 0);
        long[] p = pads ?? ToInt64s(Required(inputs, 1));
        float v = pads is null && inputs.Length > 2 && inputs[2] is Tensor c ? Scalar(c, "pad value") : value;
        return [PadOps.Pad(x, p, mode, v)];
    };
}
