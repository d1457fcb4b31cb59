using Quantization.Kernels.Conv;
using Xunit;

namespace Quantization.Tests.Kernels.Conv;

/// <summary>
/// The register-blocked transposes against the definition, on sizes around their 4×4 and 16×16 blocks and channel
/// counts of real layers (3, 12, 24), into a destination with room to spare that they must not touch.
/// </summary>
public class ConvLayoutTests
{
    private static readonly int[] Sizes = [1, 3, 4, 5, 12, 15, 16, 17, 24, 31, 32, 33, 50];

    [Fact]
    public void Byte_transpose_matches_the_definition() => Check<byte>(i => (byte)(i * 37 + 11));

    [Fact]
    public void Float_transpose_matches_the_definition() => Check<float>(i => i * 0.5f - 3);

    [Fact]
    public void Int_transpose_matches_the_definition() => Check<int>(i => i * 7919 - 100000);

    [Fact]
    public void Other_element_sizes_take_the_scalar_path() => Check<short>(i => (short)(i * 3 - 500));

    private static void Check<T>(Func<int, T> value)
    {
        foreach (int rows in Sizes)
        {
            foreach (int cols in Sizes)
            {
                T[] source = Enumerable.Range(0, rows * cols).Select(value).ToArray();
                // Room past the matrix, which the transpose must leave alone (edge blocks store whole vectors).
                T sentinel = value(-1);
                var destination = Enumerable.Repeat(sentinel, rows * cols + 40).ToArray();
                ConvLayout.Transpose<T>(source, rows, cols, destination);
                if (Array.FindIndex(destination, rows * cols, t => !EqualityComparer<T>.Default.Equals(t, sentinel)) is int written and >= 0)
                    Assert.Fail($"{typeof(T).Name} {rows}×{cols}: wrote element {written}, past the matrix.");
                for (int r = 0; r < rows; r++)
                {
                    for (int c = 0; c < cols; c++)
                    {
                        if (!EqualityComparer<T>.Default.Equals(source[r * cols + c], destination[c * rows + r]))
                            Assert.Fail($"{typeof(T).Name} {rows}×{cols}: element ({r}, {c}) moved to the wrong place.");
                    }
                }
            }
        }
    }
}
