namespace Quantization.Cli;

/// <summary>
/// A one-line text progress bar: redrawn in place with a carriage return on a terminal, and as occasional plain lines
/// when the output is redirected (so logs stay readable).
/// </summary>
internal sealed class ProgressBar(TextWriter output, int total)
{
    private const int Width = 30;
    private readonly bool _interactive = ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected;
    private int _lastPercent = -1;

    /// <summary>Shows <paramref name="done"/> of the total for <paramref name="stage"/>.</summary>
    public void Report(string stage, int done)
    {
        int percent = total <= 0 ? 100 : (int)Math.Min(100, 100L * done / total);
        if (_interactive)
        {
            int filled = percent * Width / 100;
            output.Write($"\r{stage,-12} [{new string('#', filled)}{new string('.', Width - filled)}] {done}/{total}");
        }
        else if (percent / 10 != _lastPercent / 10)
        {
            output.WriteLine($"{stage}: {done}/{total} ({percent}%)");
        }

        _lastPercent = percent;
    }

    /// <summary>Ends the bar's line.</summary>
    public void Done()
    {
        if (_interactive)
            output.WriteLine();
    }
}
