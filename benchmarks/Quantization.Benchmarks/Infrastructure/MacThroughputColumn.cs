using System.Globalization;
using System.Reflection;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace Quantization.Benchmarks.Infrastructure;

/// <summary>A benchmark parameter that knows how many multiply-accumulates one operation does.</summary>
public interface IMacCount
{
    long Macs { get; }
}

/// <summary>How many multiply-accumulates one invocation of the benchmark method does.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class MacsPerOperationAttribute(long macs) : Attribute
{
    public long Macs { get; } = macs;
}

/// <summary>Reports G-MAC/s (10^9 multiply-accumulates per second) for benchmarks marked with <see cref="MacsPerOperationAttribute"/> or with an
/// <see cref="IMacCount"/> parameter.</summary>
public sealed class MacThroughputColumn : IColumn
{
    public string Id => nameof(MacThroughputColumn);

    public string ColumnName => "G-MAC/s";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Multiply-accumulates per second, in 10^9";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        long? macs = benchmarkCase.Descriptor.WorkloadMethod.GetCustomAttribute<MacsPerOperationAttribute>()?.Macs
            ?? benchmarkCase.Parameters.Items.Select(p => p.Value).OfType<IMacCount>().FirstOrDefault()?.Macs;
        double? mean = summary[benchmarkCase]?.ResultStatistics?.Mean;
        return macs is null || mean is null or <= 0 ? "-" : (macs.Value / mean.Value).ToString("F1", CultureInfo.InvariantCulture);
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;
}
