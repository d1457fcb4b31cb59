using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Quantization.Kernels.Elementwise;
using Xunit;

namespace Quantization.Tests.Kernels;

/// <summary>
/// An <see cref="ArithmeticProgram"/> gives, compiled into a vector loop and by chunks (its tail and short ranges), the
/// values of the same program evaluated one float at a time, with special values, ragged ends and in place.
/// </summary>
public sealed class ArithmeticProgramTests
{
    /// <summary>Whether this runtime compiles programs into vector loops.</summary>
    public static bool CanCompile => RuntimeFeature.IsDynamicCodeCompiled && Vector128.IsHardwareAccelerated;

    // Every operation in every operand form, a constant used twice, and registers read long after they were written:
    // r1 = x + 3, r2 = max(r1, 0), r3 = min(r2, 6), r4 = x * r3, r5 = r4 / 6 (HardSwish), r6 = 0.5 - r5, r7 = r6 - x,
    // r8 = 2 / r7, r9 = r8 + -0, r10 = max(r9, r1), r11 = min(x, r10), r12 = r11 + r9.
    private static readonly ArithmeticInstruction[] Program =
    [
        new(ArithmeticOp.Add, 0, ~0),
        new(ArithmeticOp.Max, 1, ~1),
        new(ArithmeticOp.Min, 2, ~2),
        new(ArithmeticOp.Multiply, 0, 3),
        new(ArithmeticOp.Divide, 4, ~2),
        new(ArithmeticOp.Subtract, ~3, 5),
        new(ArithmeticOp.Subtract, 6, 0),
        new(ArithmeticOp.Divide, ~4, 7),
        new(ArithmeticOp.Add, 8, ~5),
        new(ArithmeticOp.Max, 9, 1),
        new(ArithmeticOp.Min, 0, 10),
        new(ArithmeticOp.Add, 11, 9),
    ];

    private static readonly float[] Constants = [3f, 0f, 6f, 0.5f, 2f, -0f];

    [Theory]
    [InlineData(0, 0)]
    [InlineData(0, 1)]
    [InlineData(3, 15)]
    [InlineData(0, 16)]
    [InlineData(1, 33)]
    [InlineData(0, 64)]
    [InlineData(5, 512 * 3 + 17)]
    [InlineData(0, 5000)]
    public void Compiled_and_chunked_runs_give_the_values_of_a_float_at_a_time(int start, int count)
    {
        var rng = new Random(count);
        float[] special = [float.NaN, 0f, -0f, float.PositiveInfinity, float.NegativeInfinity, -3f, 3f, 1e-40f, -1e-40f];
        var source = new float[start + count + 3];
        for (int i = 0; i < source.Length; i++)
            source[i] = i % 5 == 2 ? special[rng.Next(special.Length)] : (float)(rng.NextDouble() * 16 - 8);

        var program = new ArithmeticProgram(Program, Constants);
        Assert.Equal(CanCompile, program.IsCompiled);
        var destination = new float[source.Length];
        destination.AsSpan().Fill(42f);
        program.Run(source, destination, start, start + count);

        for (int i = 0; i < source.Length; i++)
        {
            float expected = i >= start && i < start + count ? Reference(source[i]) : 42f;
            Assert.True(Same(expected, destination[i]), $"element {i} of [{start}, {start + count}): {destination[i]} instead of {expected}");
        }

        // Over its own source.
        var inPlace = (float[])source.Clone();
        program.Run(inPlace, inPlace, start, start + count);
        for (int i = start; i < start + count; i++)
            Assert.True(Same(destination[i], inPlace[i]), $"element {i} in place: {inPlace[i]} instead of {destination[i]}");
    }

    [Fact]
    public void A_one_operation_program_and_a_program_without_constants_run_too()
    {
        var source = Enumerable.Range(0, 70).Select(i => i * 0.25f - 5f).ToArray();
        var destination = new float[70];
        new ArithmeticProgram([new(ArithmeticOp.Subtract, ~0, 0)], [1f]).Run(source, destination, 0, 70);
        Assert.Equal(source.Select(v => 1f - v), destination);
        new ArithmeticProgram([new(ArithmeticOp.Multiply, 0, 0), new(ArithmeticOp.Add, 1, 0)], []).Run(source, destination, 0, 70);
        Assert.Equal(source.Select(v => v * v + v), destination);
    }

    [Fact]
    public void Programs_that_read_what_is_not_there_and_ranges_outside_the_arrays_are_rejected()
    {
        Assert.Throws<ArgumentException>(() => new ArithmeticProgram([], []));
        Assert.Throws<ArgumentException>(() => new ArithmeticProgram([new(ArithmeticOp.Add, 0, 1)], []));
        Assert.Throws<ArgumentException>(() => new ArithmeticProgram([new(ArithmeticOp.Add, 0, ~1)], [1f]));
        Assert.Throws<ArgumentException>(() => new ArithmeticProgram([new(ArithmeticOp.Add, ~0, ~0)], [1f]));
        Assert.Throws<ArgumentException>(() => new ArithmeticProgram([new((ArithmeticOp)9, 0, 0)], []));
        var program = new ArithmeticProgram([new(ArithmeticOp.Add, 0, 0)], []);
        Assert.Throws<ArgumentOutOfRangeException>(() => program.Run(new float[8], new float[8], 0, 9));
        Assert.Throws<ArgumentOutOfRangeException>(() => program.Run(new float[8], new float[4], 0, 8));
        Assert.Throws<ArgumentOutOfRangeException>(() => program.Run(new float[8], new float[8], 5, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => program.Run(new float[8], new float[8], -1, 4));
    }

    private static float Reference(float x)
    {
        var r = new float[Program.Length + 1];
        r[0] = x;
        for (int k = 0; k < Program.Length; k++)
        {
            var (op, a, b) = Program[k];
            float p = a >= 0 ? r[a] : Constants[~a], q = b >= 0 ? r[b] : Constants[~b];
            r[k + 1] = op switch
            {
                ArithmeticOp.Add => p + q,
                ArithmeticOp.Subtract => p - q,
                ArithmeticOp.Multiply => p * q,
                ArithmeticOp.Divide => p / q,
                ArithmeticOp.Max => float.IsNaN(p) || float.IsNaN(q) ? float.NaN : p > q || (p == q && !float.IsNegative(p)) ? p : q,
                _ => float.IsNaN(p) || float.IsNaN(q) ? float.NaN : p < q || (p == q && float.IsNegative(p)) ? p : q,
            };
        }

        return r[^1];
    }

    // Bit for bit, except that any NaN matches any NaN (hardware picks the payload).
    private static bool Same(float expected, float actual) =>
        float.IsNaN(expected) ? float.IsNaN(actual) : BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(actual);
}
