using System.Diagnostics;

namespace Quantization.Kernels;

/// <summary>A named implementation of a kernel for one instruction set, e.g. <c>Int8GemmAvxVnni</c>.</summary>
internal interface IKernelVariant
{
    /// <summary>The name the environment override and test output use, e.g. "AvxVnni".</summary>
    string Name { get; }

    /// <summary>True when this process's CPU and runtime can run the variant.</summary>
    bool IsSupported { get; }
}

/// <summary>
/// The variants of one kernel, best first. <see cref="Best"/> is decided once: the first supported variant,
/// unless the environment variable names another supported one (e.g. <c>QUANTIZATION_INT8_GEMM=Avx2</c>).
/// Tests and benchmarks iterate <see cref="Supported"/> and call each variant directly.
/// </summary>
internal sealed class KernelRegistry<TVariant>
    where TVariant : class, IKernelVariant
{
    private readonly Lazy<TVariant> _best;

    public KernelRegistry(string environmentVariable, params TVariant[] bestFirst)
    {
        Debug.Assert(bestFirst.Length > 0 && bestFirst[^1].IsSupported, "The last variant is the always-supported scalar reference.");
        EnvironmentVariable = environmentVariable;
        All = bestFirst;
        Supported = Array.FindAll(bestFirst, v => v.IsSupported);
        _best = new Lazy<TVariant>(ChooseBest);
    }

    /// <summary>The variable that forces a variant by name (case-insensitive).</summary>
    public string EnvironmentVariable { get; }

    /// <summary>Every variant, best first, whether or not this machine supports it.</summary>
    public IReadOnlyList<TVariant> All { get; }

    /// <summary>The variants this machine runs, best first; the last is the scalar reference.</summary>
    public IReadOnlyList<TVariant> Supported { get; }

    /// <summary>The variant new work uses.</summary>
    public TVariant Best => _best.Value;

    /// <summary>Whether the environment variable chose <see cref="Best"/>.</summary>
    public bool IsForced => Find(Environment.GetEnvironmentVariable(EnvironmentVariable)?.Trim() ?? "") is not null;

    /// <summary>The supported variant called <paramref name="name"/>, or null.</summary>
    public TVariant? Find(string name) =>
        Supported.FirstOrDefault(v => string.Equals(v.Name, name, StringComparison.OrdinalIgnoreCase));

    private TVariant ChooseBest()
    {
        string? forced = Environment.GetEnvironmentVariable(EnvironmentVariable);
        if (string.IsNullOrWhiteSpace(forced))
            return Supported[0];
        TVariant? variant = Find(forced.Trim());
        if (variant is not null)
            return variant;
        Trace.TraceWarning($"{EnvironmentVariable}={forced} names no variant this machine supports ({string.Join(", ", Supported.Select(v => v.Name))}); using {Supported[0].Name}.");
        return Supported[0];
    }
}
