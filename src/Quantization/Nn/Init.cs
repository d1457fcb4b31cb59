namespace Quantization.Nn;

/// <summary>
/// Parameter initialization and the random generator that modules, dropout and data loaders draw from, like
/// PyTorch's <c>torch.manual_seed</c> and <c>torch.nn.init</c>.
/// </summary>
public static class Init
{
    [ThreadStatic]
    private static Random? t_generator;

    /// <summary>Seeds the generator of the current thread, so model initialization and training repeat exactly.</summary>
    public static void ManualSeed(int seed) => t_generator = new Random(seed);

    /// <summary>The current thread's generator (randomly seeded until <see cref="ManualSeed"/> is called).</summary>
    internal static Random Generator => t_generator ??= new Random();

    /// <summary>Fills <paramref name="values"/> from U(-bound, bound).</summary>
    internal static void Uniform(Span<float> values, double bound)
    {
        var rng = Generator;
        for (int i = 0; i < values.Length; i++)
            values[i] = (float)((rng.NextDouble() * 2 - 1) * bound);
    }

    /// <summary>
    /// PyTorch's default for Linear and Conv weights, <c>kaiming_uniform_(a = sqrt(5))</c>: the gain sqrt(2 / (1 + a²))
    /// times sqrt(3 / fan_in) reduces to a bound of 1 / sqrt(fan_in). Biases use the same bound.
    /// </summary>
    internal static void KaimingUniformDefault(Span<float> values, int fanIn) => Uniform(values, 1.0 / Math.Sqrt(fanIn));
}
