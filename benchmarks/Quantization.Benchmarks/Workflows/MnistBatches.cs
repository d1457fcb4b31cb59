using Quantization.Assets;

namespace Quantization.Benchmarks.Workflows;

/// <summary>Real MNIST digits for the workflow benchmarks, and the check that a quantized model still agrees with its float original.</summary>
internal static class MnistBatches
{
    public const int Size = 64;

    /// <summary>A batch of test digits to time, and training batches to calibrate on; both shuffled (seeded), since the digits are stored in label order.</summary>
    public static (Tensor Test, Tensor[] Calibration) Load(int calibrationBatches = 4)
    {
        var mnist = MnistDigits.Load();
        var (train, test) = mnist.Split();
        var rng = new Random(2026);
        rng.Shuffle(train);
        rng.Shuffle(test);
        var calibration = train.Chunk(Size).Take(calibrationBatches).Select(batch => mnist.ToTensors(batch).Images).ToArray();
        return (mnist.ToTensors(test[..Size]).Images, calibration);
    }

    /// <summary>Throws unless the INT8 logits are within <paramref name="minSqnrDb"/> of the FP32 ones (signal-to-quantization-noise ratio) and pick the same digit for most images.</summary>
    public static void RequireClose(Tensor fp32, Tensor int8, double minSqnrDb, string model)
    {
        ReadOnlySpan<float> f = fp32.AsSpan(), q = int8.AsSpan();
        if (!fp32.HasShape(int8.Shape))
            throw new InvalidOperationException($"{model}: the INT8 output's shape differs from the FP32 one's.");
        double signal = 0, noise = 0;
        for (int i = 0; i < f.Length; i++)
        {
            signal += (double)f[i] * f[i];
            noise += ((double)f[i] - q[i]) * ((double)f[i] - q[i]);
        }

        double sqnr = 10 * Math.Log10(signal / noise);
        int classes = fp32.Size(1), agree = 0;
        for (int n = 0; n < fp32.Size(0); n++)
            agree += ArgMax(f.Slice(n * classes, classes)) == ArgMax(q.Slice(n * classes, classes)) ? 1 : 0;
        Console.WriteLine($"// {model}: INT8 vs FP32 logits SQNR {sqnr:F1} dB, same prediction for {agree} of {fp32.Size(0)} digits");
        if (!(sqnr >= minSqnrDb) || agree < 0.9 * fp32.Size(0))
            throw new InvalidOperationException($"{model}: INT8 disagrees with FP32 (SQNR {sqnr:F1} dB, need {minSqnrDb}; {agree} of {fp32.Size(0)} predictions agree).");
    }

    private static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++)
            best = values[i] > values[best] ? i : best;
        return best;
    }
}
