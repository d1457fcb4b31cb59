using Quantization.Assets;
using Xunit;

namespace Quantization.Tests.Assets;

public sealed class MnistDigitsTests : IDisposable
{
    private readonly string _scratch = Path.Combine(Path.GetTempPath(), "quantization-mnist-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_scratch))
            Directory.Delete(_scratch, recursive: true);
    }

    [Fact]
    public void Holds_ten_thousand_28x28_digits_in_0_to_1()
    {
        var mnist = MnistFixture.Digits.Value;
        Assert.Equal(10_000, mnist.Count);
        Assert.Equal(10_000 * 784, mnist.Images.Length);
        Assert.All(mnist.Images, v => Assert.InRange(v, 0f, 1f));
        var counts = Enumerable.Range(0, 10).Select(d => mnist.Labels.Count(l => l == d)).ToArray();
        Assert.All(counts, c => Assert.InRange(c, 800, 1200));
        Assert.Equal(10_000, counts.Sum());
        // Real digits: ink covers a tenth to a quarter of the pixels on average.
        double ink = mnist.Images.Average(v => v > 0.5f ? 1.0 : 0.0);
        Assert.InRange(ink, 0.08, 0.25);
        Assert.Equal(784, mnist.Image(9_999).Length);
    }

    [Fact]
    public void Split_is_stratified_disjoint_complete_and_deterministic()
    {
        var mnist = MnistFixture.Digits.Value;
        var (train, test) = mnist.Split();
        Assert.Equal(8_000, train.Length);
        Assert.Equal(2_000, test.Length);
        Assert.Empty(train.Intersect(test));
        Assert.Equal(10_000, train.Union(test).Count());
        for (int d = 0; d < 10; d++)
        {
            int all = mnist.Labels.Count(l => l == d), inTest = test.Count(i => mnist.Labels[i] == d);
            Assert.InRange(inTest, (int)Math.Floor(all * 0.2), (int)Math.Ceiling(all * 0.2));
        }

        Assert.Equal(test, mnist.Split().Test);
        Assert.NotEqual(test, mnist.Split(seed: 7).Test);
        Assert.Throws<ArgumentOutOfRangeException>(() => mnist.Split(1.5));
    }

    [Theory]
    [InlineData("[1, 2]", "a JSON object")]
    [InlineData("{\"pixels\": []}", "\"data\"")]
    [InlineData("{\"data\": [0.5, 2]}", "[0, 1]")]
    [InlineData("{\"data\": [0.5, 0.5]}", "whole number")]
    [InlineData("{\"data\": [0.5,", "not valid JSON")]
    public void Malformed_files_name_the_file_and_the_problem(string content, string expected)
    {
        string digits = Path.Combine(_scratch, "src", "digits");
        Directory.CreateDirectory(digits);
        File.WriteAllText(Path.Combine(digits, "0.json"), content);
        var e = Assert.Throws<AssetException>(() => MnistDigits.Load(_scratch));
        Assert.Contains("0.json", e.Message);
        Assert.Contains(expected, e.Message);
    }
}
