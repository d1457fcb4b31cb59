using Quantization.Ops;
using Xunit;

namespace Quantization.Tests.Ops;

/// <summary>
/// The blockwise broadcast paths of Add/Sub/Mul/Div (a value per channel, a scalar, repeated rows, either operand
/// first) against a direct per-element evaluation of the numpy broadcasting rule.
/// </summary>
public class ElementwiseBroadcastTests
{
    public static TheoryData<int[], int[]> Shapes => new()
    {
        { [2, 3, 4, 5], [3, 1, 1] },          // bias per channel
        { [3, 1, 1], [2, 3, 4, 5] },          // ... as the first operand
        { [2, 3, 4, 5], [2, 3, 1, 1] },       // squeeze-and-excitation scale per image and channel
        { [1], [2, 9] },                      // scalar first
        { [2, 9], [] },                       // rank-0 scalar second
        { [2, 3, 9], [9] },                   // repeated rows
        { [1, 3, 9], [2, 3, 9] },             // repeated blocks of rows, first
        { [2, 3], [3] },                      // rows too short for the blockwise path
        { [2, 1, 4], [3, 1] },                // both broadcast
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Every_operator_matches_the_broadcasting_rule(int[] shapeA, int[] shapeB)
    {
        var rng = new Random(11);
        Tensor a = Fill(shapeA, rng), b = Fill(shapeB, rng);
        Check(a, b, ElementwiseOps.Add(a, b), (x, y) => x + y);
        Check(a, b, ElementwiseOps.Sub(a, b), (x, y) => x - y);
        Check(a, b, ElementwiseOps.Mul(a, b), (x, y) => x * y);
        Check(a, b, ElementwiseOps.Div(a, b), (x, y) => x / y);
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Writing_into_a_full_shape_operand_gives_the_same_values(int[] shapeA, int[] shapeB)
    {
        var rng = new Random(12);
        Tensor a = Fill(shapeA, rng), b = Fill(shapeB, rng);
        Tensor expected = ElementwiseOps.Sub(a, b);
        if (a.HasShape(expected.Shape))
        {
            Tensor inPlace = a.Clone();
            Assert.Same(inPlace, ElementwiseOps.Sub(inPlace, b, inPlace));
            Assert.Equal(expected.AsSpan().ToArray(), inPlace.AsSpan().ToArray());
        }

        if (b.HasShape(expected.Shape))
        {
            Tensor inPlace = b.Clone();
            Assert.Same(inPlace, ElementwiseOps.Sub(a, inPlace, inPlace));
            Assert.Equal(expected.AsSpan().ToArray(), inPlace.AsSpan().ToArray());
        }

        Assert.Throws<ArgumentException>(() => ElementwiseOps.Sub(a, b, new Tensor(7)));
    }

    private static Tensor Fill(int[] shape, Random rng)
    {
        var t = new Tensor(shape);
        foreach (ref float v in t.AsSpan())
            v = (float)(rng.NextDouble() + 0.5) * (rng.Next(2) == 0 ? -1 : 1);
        return t;
    }

    private static void Check(Tensor a, Tensor b, Tensor actual, Func<float, float, float> op)
    {
        int rank = Math.Max(a.Rank, b.Rank);
        var shape = new int[rank];
        for (int d = 0; d < rank; d++)
            shape[d] = Math.Max(Dim(a, d, rank), Dim(b, d, rank));
        Assert.Equal(shape, actual.Shape.ToArray());
        var index = new int[rank];
        for (int i = 0; i < actual.Length; i++)
        {
            Assert.Equal(op(At(a, index), At(b, index)), actual.AsSpan()[i]);
            for (int d = rank - 1; d >= 0 && ++index[d] == shape[d]; d--)
                index[d] = 0;
        }
    }

    private static int Dim(Tensor t, int d, int rank) => d < rank - t.Rank ? 1 : t.Shape[d - (rank - t.Rank)];

    /// <summary>The element of <paramref name="t"/> that output <paramref name="index"/> reads: length-1 axes repeat.</summary>
    private static float At(Tensor t, int[] index)
    {
        int lead = index.Length - t.Rank, flat = 0;
        for (int d = 0; d < t.Rank; d++)
            flat = flat * t.Shape[d] + (t.Shape[d] == 1 ? 0 : index[d + lead]);
        return t.AsSpan()[flat];
    }
}
