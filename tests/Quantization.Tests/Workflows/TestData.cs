namespace Quantization.Tests.Workflows;

/// <summary>Deterministic inputs and the error measure the workflow tests share.</summary>
internal static class TestData
{
    /// <summary>Uniform values in [-range, range] from a seeded generator.</summary>
    public static Tensor Random(int seed, float range, params int[] shape)
    {
        var rng = new Random(seed);
        var t = new Tensor(shape);
        for (int i = 0; i < t.Length; i++)
            t.AsSpan()[i] = (float)(rng.NextDouble() * 2 - 1) * range;
        return t;
    }

    /// <summary>Signal-to-quantization-noise ratio of <paramref name="actual"/> against <paramref name="reference"/>, in dB.</summary>
    public static double Sqnr(Tensor reference, Tensor actual)
    {
        double signal = 0, noise = 0;
        for (int i = 0; i < reference.Length; i++)
        {
            double r = reference.AsSpan()[i], d = r - actual.AsSpan()[i];
            signal += r * r;
            noise += d * d;
        }

        return 10 * Math.Log10(signal / Math.Max(noise, 1e-30));
    }
}
