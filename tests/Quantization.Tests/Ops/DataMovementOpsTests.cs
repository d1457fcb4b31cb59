using Quantization.Ops;
using Xunit;

namespace Quantization.Tests.Ops;

/// <summary>Golden values worked out by hand for the data-movement kernels the ONNX importer needs.</summary>
public sealed class DataMovementOpsTests
{
    private static Tensor Iota(params int[] shape)
    {
        var t = new Tensor(shape);
        for (int i = 0; i < t.Length; i++)
            t.AsSpan()[i] = i;
        return t;
    }

    private static void AssertTensor(float[] expected, int[] shape, Tensor actual)
    {
        Assert.Equal(shape, actual.Shape.ToArray());
        Assert.Equal(expected, actual.AsSpan().ToArray());
    }

    [Fact]
    public void Transpose_follows_perm_and_defaults_to_reversing()
    {
        // x[i, j, k] = 6i + 3j + k over [2, 2, 3]; perm (1, 0, 2) swaps the first two axes.
        AssertTensor([0, 1, 2, 6, 7, 8, 3, 4, 5, 9, 10, 11], [2, 2, 3], TransposeOps.Transpose(Iota(2, 2, 3), [1, 0, 2]));
        AssertTensor([0, 3, 1, 4, 2, 5], [3, 2], TransposeOps.Transpose(Iota(2, 3)));
        AssertTensor([0, 3, 1, 4, 2, 5], [3, 2], TransposeOps.Transpose(Iota(2, 3), [-1, 0]));
        Assert.Throws<ArgumentException>(() => TransposeOps.Transpose(Iota(2, 3), [0, 0]));
        Assert.Throws<ArgumentException>(() => TransposeOps.Transpose(Iota(2, 3), [0]));
    }

    [Fact]
    public void Concat_joins_along_any_axis()
    {
        var a = Iota(2, 2);
        var b = new Tensor([10f, 11f], 2, 1);
        AssertTensor([0, 1, 10, 2, 3, 11], [2, 3], ConcatOps.Concat([a, b], 1));
        AssertTensor([0, 1, 2, 3, 0, 1, 2, 3], [4, 2], ConcatOps.Concat([a, a], -2));
        Assert.Throws<ArgumentException>(() => ConcatOps.Concat([a, b], 0));
        Assert.Throws<ArgumentException>(() => ConcatOps.Concat([], 0));
    }

    [Fact]
    public void Slice_handles_negatives_steps_and_clamping()
    {
        var x = Iota(10);
        AssertTensor([2, 3, 4], [3], SliceOps.Slice(x, [2], [5]));
        AssertTensor([7, 8], [2], SliceOps.Slice(x, [-3], [-1]));
        // INT64_MAX as an end means "to the edge".
        AssertTensor([8, 9], [2], SliceOps.Slice(x, [8], [long.MaxValue]));
        AssertTensor([1, 4, 7], [3], SliceOps.Slice(x, [1], [9], [0], [3]));
        // Negative step: from 8 down to (not including) 2; start beyond the end clamps to dim − 1.
        AssertTensor([8, 6, 4], [3], SliceOps.Slice(x, [8], [2], [0], [-2]));
        AssertTensor([9, 8, 7, 6, 5, 4, 3, 2, 1, 0], [10], SliceOps.Slice(x, [100], [long.MinValue], [0], [-1]));
        AssertTensor([], [0], SliceOps.Slice(x, [5], [2]));
        // 2-d, second axis only: x[i, j] = 4i + j, columns 3 and 1.
        AssertTensor([3, 1, 7, 5, 11, 9], [3, 2], SliceOps.Slice(Iota(3, 4), [-1], [0], [-1], [-2]));
        Assert.Throws<ArgumentException>(() => SliceOps.Slice(x, [0], [1], [0], [0]));
    }

    [Fact]
    public void Gather_picks_slices_with_negative_indices()
    {
        var data = Iota(3, 2);
        AssertTensor([4, 5, 0, 1, 4, 5], [3, 2], GatherOps.Gather(data, [2, 0, -1], [3], axis: 0));
        AssertTensor([1, 3, 5], [3], GatherOps.Gather(data, [1], [], axis: 1));
        AssertTensor([1, 0, 3, 2, 5, 4], [3, 1, 2], GatherOps.Gather(data, [1, 0], [1, 2], axis: -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => GatherOps.Gather(data, [3], [1]));
    }

    [Fact]
    public void Reshape_copies_zeros_and_infers_minus_one()
    {
        var x = Iota(2, 3, 4);
        Assert.Equal([2, 12], ReshapeOps.Reshape(x, [0, -1]).Shape.ToArray());
        Assert.Equal([4, 3, 2], ReshapeOps.Reshape(x, [4, 0, -1]).Shape.ToArray());
        Assert.Equal(x.AsSpan().ToArray(), ReshapeOps.Reshape(x, [-1]).AsSpan().ToArray());
        Assert.Equal([0, 5], ReshapeOps.Reshape(new Tensor(0, 2), [0, 5], allowZero: true).Shape.ToArray());
        Assert.Throws<ArgumentException>(() => ReshapeOps.Reshape(x, [-1, -1]));
        Assert.Throws<ArgumentException>(() => ReshapeOps.Reshape(x, [5, -1]));
    }

    [Fact]
    public void Squeeze_and_unsqueeze_move_unit_axes()
    {
        var x = Iota(1, 3, 1);
        Assert.Equal([3], ReshapeOps.Squeeze(x).Shape.ToArray());
        Assert.Equal([3, 1], ReshapeOps.Squeeze(x, [0]).Shape.ToArray());
        Assert.Throws<ArgumentException>(() => ReshapeOps.Squeeze(x, [1]));
        Assert.Equal([1, 3, 1, 1], ReshapeOps.Unsqueeze(ReshapeOps.Squeeze(x), [0, -1, -2]).Shape.ToArray());
        Assert.Equal([3, 1], ReshapeOps.Unsqueeze(ReshapeOps.Squeeze(x), [1]).Shape.ToArray());
        Assert.Throws<ArgumentException>(() => ReshapeOps.Unsqueeze(x, [0, 0]));
    }

    [Fact]
    public void Expand_broadcasts_both_ways()
    {
        AssertTensor([0, 0, 1, 1, 2, 2], [3, 2], ExpandOps.Expand(Iota(3, 1), [2]));
        // A 1 in the requested shape keeps the input's dimension: [3, 1] expanded by [2, 1, 1] is [2, 3, 1].
        AssertTensor([0, 1, 2, 0, 1, 2], [2, 3, 1], ExpandOps.Expand(Iota(3, 1), [2, 1, 1]));
        Assert.Throws<ArgumentException>(() => ExpandOps.Expand(Iota(3), [2]));
    }

    [Fact]
    public void Binary_ops_broadcast_like_numpy()
    {
        var a = Iota(2, 3);
        var row = new Tensor([10f, 20f, 30f], 3);
        var column = new Tensor([1f, 2f], 2, 1);
        AssertTensor([10, 21, 32, 13, 24, 35], [2, 3], ElementwiseOps.Add(a, row));
        AssertTensor([-1, 0, 1, 1, 2, 3], [2, 3], ElementwiseOps.Sub(a, column));
        AssertTensor([10, 20, 30, 20, 40, 60], [2, 3], ElementwiseOps.Mul(column, row));
        AssertTensor([0, 0.5f, 1, 1.5f, 2, 2.5f], [2, 3], ElementwiseOps.Div(a, Tensor.Full(2f, [])));
        Assert.Equal(float.PositiveInfinity, ElementwiseOps.Div(Tensor.Full(1f, 1), Tensor.Full(0f, 1)).AsSpan()[0]);
        Assert.Throws<ArgumentException>(() => ElementwiseOps.Add(a, column.Reshape(1, 2)));
    }

    [Fact]
    public void Pad_constant_reflect_and_edge()
    {
        var x = new Tensor([1f, 2f, 3f], 3);
        AssertTensor([9, 1, 2, 3, 9, 9], [6], PadOps.Pad(x, [1, 2], PadMode.Constant, 9));
        AssertTensor([3, 2, 1, 2, 3, 2, 1], [7], PadOps.Pad(x, [2, 2], PadMode.Reflect));
        AssertTensor([1, 1, 1, 2, 3, 3], [6], PadOps.Pad(x, [2, 1], PadMode.Edge));
        // Negative pads crop.
        AssertTensor([2, 3, 0], [3], PadOps.Pad(x, [-1, 1]));
        // 2-d: x[i, j] = 2i + j over [2, 2], one row of reflection above, one column of edge on the right.
        AssertTensor([2, 3, 0, 1, 2, 3], [3, 2], PadOps.Pad(Iota(2, 2), [1, 0, 0, 0], PadMode.Reflect));
        AssertTensor([0, 1, 1, 2, 3, 3], [2, 3], PadOps.Pad(Iota(2, 2), [0, 0, 0, 1], PadMode.Edge));
        Assert.Throws<ArgumentException>(() => PadOps.Pad(x, [1]));
        Assert.Throws<ArgumentException>(() => PadOps.Pad(x, [-2, -2]));
    }
}
