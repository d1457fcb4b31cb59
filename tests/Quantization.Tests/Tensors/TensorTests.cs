using System.Numerics.Tensors;
using Xunit;
using SystemTensor = System.Numerics.Tensors.Tensor;

namespace Quantization.Tests.Tensors;

public class TensorTests
{
    [Fact]
    public void Constructor_copies_values_in_row_major_order()
    {
        float[] values = [1, 2, 3, 4, 5, 6];
        var t = new Tensor(values, 2, 3);
        values[0] = 100;

        Assert.Equal([2, 3], t.Shape.ToArray());
        Assert.Equal(2, t.Rank);
        Assert.Equal(6, t.Length);
        Assert.Equal(1f, t[0, 0]);
        Assert.Equal(6f, t[1, 2]);
        Assert.Equal(4f, t[1, 0]);
    }

    [Fact]
    public void Scalar_has_rank_zero_and_one_element()
    {
        var t = new Tensor([3.5f]);
        Assert.Equal(0, t.Rank);
        Assert.Equal(1, t.Length);
        Assert.Equal(3.5f, t[[]]);
    }

    [Fact]
    public void Indexer_setter_writes_the_element()
    {
        var t = Tensor.Zeros(2, 2);
        t[1, 0] = 7;
        Assert.Equal([0f, 0f, 7f, 0f], t.AsSpan().ToArray());
    }

    [Fact]
    public void Reshape_is_a_view_that_shares_values()
    {
        var t = new Tensor([1, 2, 3, 4, 5, 6], 2, 3);
        var r = t.Reshape(3, -1);
        Assert.Equal([3, 2], r.Shape.ToArray());
        r[2, 1] = 60;
        Assert.Equal(60f, t[1, 2]);
    }

    [Fact]
    public void Full_and_reductions()
    {
        var t = Tensor.Full(2.5f, 4);
        Assert.Equal(10f, t.Sum());
        Assert.Equal(2.5f, t.Mean());
        var u = new Tensor([-3, 1, 7, 0], 4);
        Assert.Equal(-3f, u.Min());
        Assert.Equal(7f, u.Max());
        Assert.Equal(4, u.Size(-1));
    }

    [Fact]
    public void Elementwise_operators_match_hand_computed_values()
    {
        var a = new Tensor([1, 2, 3], 3);
        var b = new Tensor([10, 20, 30], 3);
        Assert.Equal([11f, 22f, 33f], (a + b).AsSpan().ToArray());
        Assert.Equal([-9f, -18f, -27f], (a - b).AsSpan().ToArray());
        Assert.Equal([10f, 40f, 90f], (a * b).AsSpan().ToArray());
        Assert.Equal([1.5f, 2.5f, 3.5f], (a + 0.5f).AsSpan().ToArray());
        Assert.Equal([2f, 4f, 6f], (a * 2f).AsSpan().ToArray());
        Assert.Equal([1f, 2f, 3f], a.AsSpan().ToArray());
    }

    [Fact]
    public void Round_trips_through_System_Numerics_Tensors()
    {
        var t = new Tensor([1, 2, 3, 4, 5, 6], 2, 3);
        Tensor<float> system = t.ToTensor();
        Assert.Equal([2, 3], system.Lengths.ToArray().Select(l => (int)l));
        Assert.Equal(6f, system[1, 2]);

        var back = Tensor.FromTensor(system);
        Assert.Equal(t.AsSpan().ToArray(), back.AsSpan().ToArray());
        Assert.Equal([2, 3], back.Shape.ToArray());

        // ToTensor copies: changing the copy leaves the original alone.
        system[0, 0] = 42;
        Assert.Equal(1f, t[0, 0]);
    }

    [Fact]
    public void Tensor_span_view_shares_values()
    {
        var t = new Tensor([1, 2, 3, 4], 2, 2);
        TensorSpan<float> view = t.AsTensorSpan();
        view[1, 1] = 40;
        Assert.Equal(40f, t[1, 1]);
        Assert.Equal(3f, t.AsReadOnlyTensorSpan()[1, 0]);
    }

    [Fact]
    public void FromTensorSpan_copies_a_strided_slice_densely()
    {
        var system = SystemTensor.Create<float>([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [3, 4]);
        // Columns 1..2 of every row: a non-dense view with row stride 4.
        ReadOnlyTensorSpan<float> slice = system.AsReadOnlyTensorSpan()[0..3, 1..3];
        var t = Tensor.FromTensorSpan(slice);
        Assert.Equal([3, 2], t.Shape.ToArray());
        Assert.Equal([1f, 2f, 5f, 6f, 9f, 10f], t.AsSpan().ToArray());
    }

    [Fact]
    public void Bad_shapes_and_indices_throw_argument_exceptions()
    {
        Assert.Equal("shape", Assert.Throws<ArgumentException>(() => new Tensor(2, -1)).ParamName);
        Assert.Equal("values", Assert.Throws<ArgumentException>(() => new Tensor([1, 2, 3], 2, 2)).ParamName);
        var t = Tensor.Zeros(2, 3);
        Assert.Equal("shape", Assert.Throws<ArgumentException>(() => t.Reshape(4, 2)).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentException>(() => t.Reshape(-1, -1)).ParamName);
        Assert.Equal("shape", Assert.Throws<ArgumentException>(() => t.Reshape(4, -1)).ParamName);
        Assert.Equal("indices", Assert.Throws<ArgumentException>(() => t[1]).ParamName);
        Assert.Equal("indices", Assert.Throws<ArgumentOutOfRangeException>(() => t[2, 0]).ParamName);
        Assert.Equal("dim", Assert.Throws<ArgumentOutOfRangeException>(() => t.Size(2)).ParamName);
        Assert.Equal("right", Assert.Throws<ArgumentException>(() => t + Tensor.Zeros(3, 2)).ParamName);
        Assert.Throws<InvalidOperationException>(() => Tensor.Zeros(0).Max());
    }
}
