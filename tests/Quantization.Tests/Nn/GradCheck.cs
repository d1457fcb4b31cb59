using Quantization.Nn;
using Xunit;

namespace Quantization.Tests.Nn;

/// <summary>
/// Compares back-propagated gradients with central finite differences. The scalar probed is
/// <c>L = Σ r ⊙ f(inputs)</c> with fixed random weights r, summed in double, so every output element matters and a
/// wrong sign, scale or index shows up as an O(1) error, far above the tolerance.
/// </summary>
internal static class GradCheck
{
    public const double Step = 1e-2;

    /// <summary>Seeded values in [-range, range] at least <paramref name="gap"/> away from each kink (so ±h never crosses one).</summary>
    public static Tensor Smooth(int seed, float range, float gap, float[] kinks, params int[] shape)
    {
        var rng = new Random(seed);
        var t = new Tensor(shape);
        var s = t.AsSpan();
        for (int i = 0; i < s.Length; i++)
        {
            float v;
            do
            {
                v = (float)((rng.NextDouble() * 2 - 1) * range);
            }
            while (kinks.Any(k => Math.Abs(v - k) < gap));
            s[i] = v;
        }

        return t;
    }

    /// <summary>Distinct values (a shuffled grid with spacing 0.1), so maxima stay put under ±h.</summary>
    public static Tensor Distinct(int seed, params int[] shape)
    {
        var t = new Tensor(shape);
        var order = Enumerable.Range(0, t.Length).ToArray();
        new Random(seed).Shuffle(order);
        for (int i = 0; i < order.Length; i++)
            t.AsSpan()[i] = (order[i] - order.Length / 2) * 0.1f;
        return t;
    }

    /// <summary>Checks d L / d input for every input (and every extra leaf such as parameters).</summary>
    public static void Check(Func<Variable[], Variable> f, Tensor[] inputs, Variable[]? leaves = null, double atol = 2e-3, double rtol = 1e-2)
    {
        leaves ??= [];
        var vars = inputs.Select(t => new Variable(t, requiresGrad: true)).ToArray();
        var output = f(vars);
        var r = Smooth(99, 1f, 0f, [], output.Shape.ToArray());
        output.Backward(r);

        foreach (var v in vars.Concat(leaves))
        {
            Assert.NotNull(v.Grad);
            var values = v.Value.AsSpan();
            for (int i = 0; i < values.Length; i++)
            {
                float saved = values[i];
                values[i] = (float)(saved + Step);
                double plus = Probe(f, vars, r);
                values[i] = (float)(saved - Step);
                double minus = Probe(f, vars, r);
                values[i] = saved;
                double numeric = (plus - minus) / (2 * Step);
                double analytic = v.Grad!.AsSpan()[i];
                Assert.True(Math.Abs(numeric - analytic) <= atol + rtol * Math.Abs(numeric),
                    $"Gradient {i} of an input of shape {Tensor.FormatShape(v.Shape)}: analytic {analytic}, numeric {numeric}.");
            }
        }
    }

    private static double Probe(Func<Variable[], Variable> f, Variable[] vars, Tensor r)
    {
        using (Autograd.NoGrad())
        {
            var y = f(vars).Value.AsSpan();
            double sum = 0;
            for (int i = 0; i < y.Length; i++)
                sum += (double)y[i] * r.AsSpan()[i];
            return sum;
        }
    }
}

internal static class SpanTestExtensions
{
    /// <summary>Overwrites the span with <paramref name="values"/>.</summary>
    public static void Set(this Span<float> span, float[] values) => values.CopyTo(span);
}
