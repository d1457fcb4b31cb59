namespace Quantization.Cli;

/// <summary>
/// The arguments after the command: positionals, <c>--name value</c> options and <c>--flag</c> switches. Every option
/// a command reads is marked used, so a misspelt one is reported instead of ignored.
/// </summary>
internal sealed class Options
{
    private static readonly HashSet<string> s_valued = ["data", "method", "exclude", "include", "exclude-op", "include-op", "keep-fp32", "format"];
    private readonly List<string> _positionals = [];
    private readonly Dictionary<string, string?> _named = new(StringComparer.Ordinal);
    private readonly HashSet<string> _used = new(StringComparer.Ordinal);

    private Options()
    {
    }

    /// <exception cref="Cli.UsageException">An option that needs a value has none, or appears twice.</exception>
    public static Options Parse(string[] args)
    {
        var options = new Options();
        for (int i = 0; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                options._positionals.Add(args[i]);
                continue;
            }

            string name = args[i][2..];
            string? value = null;
            if (s_valued.Contains(name))
            {
                if (i + 1 >= args.Length || args[i + 1].StartsWith("--", StringComparison.Ordinal))
                    throw new Cli.UsageException($"--{name} needs a value.");
                value = args[++i];
            }

            if (!options._named.TryAdd(name, value))
                throw new Cli.UsageException($"--{name} is given twice.");
        }

        return options;
    }

    /// <summary>The positional argument at <paramref name="index"/>.</summary>
    public string Positional(int index, string what) =>
        index < _positionals.Count ? _positionals[index] : throw new Cli.UsageException($"Missing {what}.");

    /// <summary>Throws when more than <paramref name="count"/> positionals were given.</summary>
    public void EnsureNoMorePositionals(int count)
    {
        if (_positionals.Count > count)
            throw new Cli.UsageException($"Unexpected argument '{_positionals[count]}'.");
    }

    /// <summary>Whether the switch <c>--name</c> was given.</summary>
    public bool Flag(string name)
    {
        _used.Add(name);
        return _named.ContainsKey(name);
    }

    /// <summary>The value of <c>--name</c>, or null.</summary>
    public string? Value(string name)
    {
        _used.Add(name);
        return _named.GetValueOrDefault(name);
    }

    /// <summary>A comma-separated list option, empty when absent.</summary>
    public IReadOnlyList<string> List(string name) =>
        Value(name)?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) ?? [];

    /// <summary>Throws for options the command did not read (unknown or misspelt).</summary>
    public void EnsureAllUsed()
    {
        var unknown = _named.Keys.Where(k => !_used.Contains(k)).ToList();
        if (unknown.Count > 0)
            throw new Cli.UsageException($"Unknown option{(unknown.Count > 1 ? "s" : "")} {string.Join(", ", unknown.Select(k => "--" + k))}.");
    }
}
