using Xunit;

namespace Quantization.Onnx.Tests;

/// <summary>
/// Seeded mutations of the real models: each mutant either loads or throws <see cref="OnnxFormatException"/> —
/// never another exception, a hang or an out-of-memory.
/// </summary>
public sealed class FuzzTests
{
    public static TheoryData<string, int> Cases => new()
    {
        { "hello_deepa", 120 },
        { "silero", 90 },
        { "cls", 60 },
        { "det", 30 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Mutated_models_load_or_throw_OnnxFormatException(string name, int count)
    {
        byte[] original = File.ReadAllBytes(AssetModels.ByName(name));
        int loaded = 0, rejected = 0;
        for (int seed = 0; seed < count; seed++)
        {
            var rng = new Random(seed * 7919 + name.Length);
            (byte[] mutant, string how) = Mutate(original, rng);
            try
            {
                var model = OnnxModel.Load(mutant);
                Assert.NotEmpty(model.Graph.Outputs);
                loaded++;
            }
            catch (OnnxFormatException e)
            {
                Assert.False(string.IsNullOrWhiteSpace(e.Message));
                rejected++;
            }
            catch (Exception e)
            {
                Assert.Fail($"{name}, seed {seed}, {how}: {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }
        }

        Assert.Equal(count, loaded + rejected);
        // Truncations alone must make some mutants fail; if none did, the mutations were not reaching the parser.
        Assert.True(rejected > 0, $"{name}: all {count} mutants loaded");
    }

    private static (byte[] Data, string How) Mutate(byte[] data, Random rng)
    {
        switch (rng.Next(4))
        {
            case 0:
                {
                    byte[] copy = (byte[])data.Clone();
                    int flips = rng.Next(1, 9);
                    // Flip bits near the start half the time: that is where the structure (not the weights) is.
                    int limit = rng.Next(2) == 0 ? Math.Min(copy.Length, 4096) : copy.Length;
                    for (int i = 0; i < flips; i++)
                        copy[rng.Next(limit)] ^= (byte)(1 << rng.Next(8));
                    return (copy, $"{flips} bit flips below {limit}");
                }

            case 1:
                {
                    int length = rng.Next(data.Length);
                    return (data[..length], $"truncated to {length}");
                }

            case 2:
                {
                    int at = rng.Next(data.Length);
                    byte[] inserted = new byte[rng.Next(1, 6)];
                    rng.NextBytes(inserted);
                    return ([.. data[..at], .. inserted, .. data[at..]], $"{inserted.Length} random bytes inserted at {at}");
                }

            default:
                {
                    // Repeat a slice in place: duplicates whole fields when it lands on field boundaries.
                    int at = rng.Next(data.Length);
                    int length = Math.Min(rng.Next(1, 64), data.Length - at);
                    return ([.. data[..(at + length)], .. data[at..]], $"{length} bytes at {at} duplicated");
                }
        }
    }
}
