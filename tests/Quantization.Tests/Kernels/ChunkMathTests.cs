using System.Numerics.Tensors;
using Quantization.Kernels.Elementwise;
using Xunit;

namespace Quantization.Tests.Kernels;

/// <summary><see cref="ChunkMath"/> gives <see cref="TensorPrimitives"/>' values bit for bit, in place too.</summary>
public sealed class ChunkMathTests
{
    public static TheoryData<int> Lengths()
    {
        var data = new TheoryData<int>();
        foreach (int n in new[] { 0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 33, 64, 70, 512 })
            data.Add(n);
        return data;
    }

    [Theory]
    [MemberData(nameof(Lengths))]
    public void Every_operation_matches_TensorPrimitives_bit_for_bit(int length)
    {
        var rng = new Random(41 + length);
        float[] special = [float.NaN, 0f, -0f, float.PositiveInfinity, float.NegativeInfinity, 1e-40f, -3f, 6f];
        float[] Values() => Enumerable.Range(0, length).Select(i => i % 5 == 0 ? special[rng.Next(special.Length)] : (float)(rng.NextDouble() * 20 - 10)).ToArray();
        float[] x = Values(), y = Values();
        foreach (float c in new[] { 3f, -0f, 0f, 0.1f, float.NaN })
        {
            Check("x + y", (a, d) => ChunkMath.Apply(ArithmeticOp.Add, a, y, d), (a, d) => TensorPrimitives.Add(a, y, d));
            Check("x + c", (a, d) => ChunkMath.Apply(ArithmeticOp.Add, a, c, d), (a, d) => TensorPrimitives.Add(a, c, d));
            Check("c + x", (a, d) => ChunkMath.Apply(ArithmeticOp.Add, c, a, d), (a, d) => TensorPrimitives.Add(a, c, d));
            Check("x - y", (a, d) => ChunkMath.Apply(ArithmeticOp.Subtract, a, y, d), (a, d) => TensorPrimitives.Subtract(a, y, d));
            Check("x - c", (a, d) => ChunkMath.Apply(ArithmeticOp.Subtract, a, c, d), (a, d) => TensorPrimitives.Subtract(a, c, d));
            Check("c - x", (a, d) => ChunkMath.Apply(ArithmeticOp.Subtract, c, a, d), (a, d) => TensorPrimitives.Subtract(c, a, d));
            Check("x * y", (a, d) => ChunkMath.Apply(ArithmeticOp.Multiply, a, y, d), (a, d) => TensorPrimitives.Multiply(a, y, d));
            Check("x * c", (a, d) => ChunkMath.Apply(ArithmeticOp.Multiply, a, c, d), (a, d) => TensorPrimitives.Multiply(a, c, d));
            Check("x / y", (a, d) => ChunkMath.Apply(ArithmeticOp.Divide, a, y, d), (a, d) => TensorPrimitives.Divide(a, y, d));
            Check("x / c", (a, d) => ChunkMath.Apply(ArithmeticOp.Divide, a, c, d), (a, d) => TensorPrimitives.Divide(a, c, d));
            Check("c / x", (a, d) => ChunkMath.Apply(ArithmeticOp.Divide, c, a, d), (a, d) => TensorPrimitives.Divide(c, a, d));
            Check("max(x, y)", (a, d) => ChunkMath.Apply(ArithmeticOp.Max, a, y, d), (a, d) => TensorPrimitives.Max(a, y, d));
            Check("max(x, c)", (a, d) => ChunkMath.Apply(ArithmeticOp.Max, a, c, d), (a, d) => TensorPrimitives.Max(a, c, d));
            Check("min(x, y)", (a, d) => ChunkMath.Apply(ArithmeticOp.Min, a, y, d), (a, d) => TensorPrimitives.Min(a, y, d));
            Check("min(c, x)", (a, d) => ChunkMath.Apply(ArithmeticOp.Min, c, a, d), (a, d) => TensorPrimitives.Min(a, c, d));
        }

        void Check(string what, SpanOp ours, SpanOp reference)
        {
            var expected = new float[length];
            reference(x, expected);
            var actual = new float[length];
            ours(x, actual);
            Assert.True(Bits(expected).SequenceEqual(Bits(actual)), $"{what} over {length} values");
            // Written over its own operand.
            var inPlace = (float[])x.Clone();
            ours(inPlace, inPlace);
            Assert.True(Bits(expected).SequenceEqual(Bits(inPlace)), $"{what} in place over {length} values");
        }
    }

    [Fact]
    public void Operands_of_different_lengths_or_a_short_destination_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => ChunkMath.Apply(ArithmeticOp.Add, new float[4], new float[3], new float[4]));
        Assert.Throws<ArgumentException>(() => ChunkMath.Apply(ArithmeticOp.Multiply, new float[4], 2f, new float[3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => ChunkMath.Apply((ArithmeticOp)17, new float[4], 2f, new float[4]));
    }

    private delegate void SpanOp(ReadOnlySpan<float> x, Span<float> destination);

    private static IEnumerable<int> Bits(float[] values) => values.Select(BitConverter.SingleToInt32Bits);
}
