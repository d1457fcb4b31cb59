using Quantization.Nn;
using Xunit;

namespace Quantization.Tests.Nn;

public class EmbeddingTests
{
    private static Embedding Table()
    {
        // Row r of the 4 × 2 table is [r, 10 r + 1].
        var layer = new Embedding(4, 2, paddingIdx: 3);
        layer.Weight.Value.AsSpan().Set([0, 1, 1, 11, 2, 21, 3, 31]);
        return layer;
    }

    [Fact]
    public void Looks_up_rows_and_appends_the_embedding_dim_to_the_index_shape()
    {
        var y = Table().Forward(new Tensor([2, 0, 2, 1, 3, 0], 2, 3));
        Assert.Equal([2, 3, 2], y.Shape.ToArray());
        Assert.Equal([2f, 21, 0, 1, 2, 21, 1, 11, 3, 31, 0, 1], y.AsSpan().ToArray());
    }

    [Fact]
    public void Gradient_sums_repeated_indices_and_skips_the_padding_row()
    {
        var layer = Table();
        var indices = new Variable(new Tensor([2, 0, 2, 3], 4), requiresGrad: true);
        var y = layer.Forward(indices);
        y.Backward(new Tensor([1, 2, 3, 4, 5, 6, 7, 8], 4, 2));
        Assert.Null(indices.Grad);
        // Row 2 receives dy rows 0 and 2: [1 + 5, 2 + 6]; row 0 row 1 of dy; row 1 nothing; row 3 is padding.
        Assert.Equal([3f, 4, 0, 0, 6, 8, 0, 0], layer.Weight.Grad!.AsSpan().ToArray());
    }

    [Fact]
    public void Gradient_matches_finite_differences()
    {
        Init.ManualSeed(4);
        var layer = new Embedding(5, 3);
        var indices = new Tensor([4, 1, 1, 0, 4, 2], 3, 2);
        GradCheck.Check(_ => layer.Forward(new Variable(indices)), [], [layer.Weight]);
    }

    [Fact]
    public void Initialization_is_standard_normal_with_a_zero_padding_row()
    {
        Init.ManualSeed(7);
        var layer = new Embedding(200, 50, paddingIdx: -1);
        Assert.Equal(199, layer.PaddingIdx);
        var w = layer.Weight.Value.AsSpan().ToArray();
        Assert.All(w[(199 * 50)..], v => Assert.Equal(0f, v));
        var rest = w[..(199 * 50)];
        double mean = rest.Average(v => (double)v), variance = rest.Average(v => (v - mean) * (v - mean));
        // 9950 draws: the standard error of the mean is 0.01, of the variance about 0.014.
        Assert.InRange(mean, -0.04, 0.04);
        Assert.InRange(variance, 0.94, 1.06);
        Assert.Contains(rest, v => Math.Abs(v) > 3f);
    }

    [Theory]
    [InlineData(1.5f)]
    [InlineData(-1f)]
    [InlineData(4f)]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    public void Indices_that_are_not_whole_numbers_in_range_throw(float bad)
    {
        var ex = Assert.Throws<ArgumentException>(() => Table().Forward(new Tensor([0, bad], 2)));
        Assert.Equal("input", ex.ParamName);
        Assert.Contains("position 1", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_constructor_arguments_throw_naming_them()
    {
        Assert.Equal("numEmbeddings", Assert.Throws<ArgumentOutOfRangeException>(() => new Embedding(0, 2)).ParamName);
        Assert.Equal("embeddingDim", Assert.Throws<ArgumentOutOfRangeException>(() => new Embedding(3, 0)).ParamName);
        Assert.Equal("paddingIdx", Assert.Throws<ArgumentOutOfRangeException>(() => new Embedding(3, 2, paddingIdx: 3)).ParamName);
        Assert.Equal("paddingIdx", Assert.Throws<ArgumentOutOfRangeException>(() => new Embedding(3, 2, paddingIdx: -4)).ParamName);
    }
}
