using System.Diagnostics;
using Quantization.Graph;
using Quantization.Onnx;
using Quantization.Onnx.Export;
using Quantization.Onnx.Quantize;

namespace Quantization.Cli;

internal static partial class Cli
{
    private static int Dynamic(Options options, TextWriter output)
    {
        var (input, target) = (options.Positional(0, "IN.onnx"), options.Positional(1, "OUT.onnx"));
        options.EnsureNoMorePositionals(2);
        var settings = Select(options, new DynamicQuantizationOptions
        {
            PerChannel = options.Flag("per-channel"),
            ReduceRange = !options.Flag("no-reduce-range"),
        });
        var export = ExportOptions(options);
        options.EnsureAllUsed();
        return Quantize(input, target, export, output, graph => OnnxQuantizer.QuantizeDynamic(graph, settings), comparisonData: null);
    }

    private static int Static(Options options, TextWriter output)
    {
        var (input, target) = (options.Positional(0, "IN.onnx"), options.Positional(1, "OUT.onnx"));
        options.EnsureNoMorePositionals(2);
        string data = options.Value("data") ?? throw new UsageException("Static quantization needs calibration inputs: --data FILE|FOLDER.");
        string method = options.Value("method") ?? "histogram";
        string? keep = options.Value("keep-fp32");
        var settings = Select(options, new StaticQuantizationOptions
        {
            CalibrationMethod = method switch
            {
                "minmax" => CalibrationMethod.MinMax,
                "entropy" => CalibrationMethod.Entropy,
                "percentile" => CalibrationMethod.Percentile,
                "histogram" => CalibrationMethod.Histogram,
                _ => throw new UsageException($"--method must be minmax, entropy, percentile or histogram, not '{method}'."),
            },
            PerChannel = !options.Flag("per-tensor"),
            ReduceRange = options.Flag("reduce-range"),
            KeepActivationsInt8 = !options.Flag("per-layer"),
            KeepWorstInFp32 = keep is null ? 0 : int.TryParse(keep, out int n) && n >= 0 ? n : throw new UsageException($"--keep-fp32 needs a count, not '{keep}'."),
        });
        var export = ExportOptions(options);
        options.EnsureAllUsed();

        var bar = new ProgressBar(output, CalibrationData.Count(data));
        return Quantize(input, target, export, output, graph =>
        {
            var samples = CalibrationData.Open(data, [.. graph.Inputs.Select(i => i.Name)]);
            var quantized = OnnxQuantizer.QuantizeStatic(graph, samples, settings,
                new Reporter<CalibrationProgress>(p => bar.Report(p.Stage.ToString().ToLowerInvariant(), p.SamplesProcessed)));
            bar.Done();
            return quantized;
        }, data);
    }

    /// <summary>The node and op-type selection options shared by both modes.</summary>
    private static T Select<T>(Options options, T settings)
        where T : QuantizationOptions => settings with
        {
            IncludeNodes = options.List("include"),
            ExcludeNodes = options.List("exclude"),
            IncludeOpTypes = options.List("include-op"),
            ExcludeOpTypes = options.List("exclude-op"),
        };

    /// <summary>The output format options shared by both modes.</summary>
    private static OnnxExportOptions ExportOptions(Options options)
    {
        string format = options.Value("format") ?? "qdq";
        return new OnnxExportOptions
        {
            Format = format switch
            {
                "qdq" => QuantFormat.Qdq,
                "qoperator" => QuantFormat.QOperator,
                _ => throw new UsageException($"--format must be qdq or qoperator, not '{format}'."),
            },
            CompactNames = options.Flag("compact-names"),
        };
    }

    /// <summary>Loads, quantizes, writes the model, and prints sizes, time and (with data) the per-node SQNR on the first sample.</summary>
    private static int Quantize(string input, string target, OnnxExportOptions export, TextWriter output, Func<GraphModule, GraphModule> quantize, string? comparisonData)
    {
        var model = OnnxModel.Load(input);
        var watch = Stopwatch.StartNew();
        var quantized = quantize(model.ToGraphModule());
        double seconds = watch.Elapsed.TotalSeconds;
        OnnxExporter.Save(model, quantized, target, export);
        long before = new FileInfo(input).Length, after = new FileInfo(target).Length;
        output.WriteLine();
        output.WriteLine("| model | bytes | of FP32 |");
        output.WriteLine("|---|---:|---:|");
        output.WriteLine($"| {Path.GetFileName(input)} | {before:N0} | 100% |");
        output.WriteLine($"| {Path.GetFileName(target)} | {after:N0} | {(double)after / before:P1} |");
        output.WriteLine($"quantized in {seconds:F1} s");
        if (comparisonData is null)
            return Ok;

        var first = CalibrationData.Open(comparisonData, [.. quantized.Inputs.Select(i => i.Name)]).Take(1);
        output.WriteLine();
        output.WriteLine("| node | op | weight SQNR (dB) | own SQNR (dB) | SQNR in the graph (dB) |");
        output.WriteLine("|---|---|---:|---:|---:|");
        foreach (var node in OnnxQuantizer.CompareNodes(model.ToGraphModule(), quantized, first))
            output.WriteLine($"| {node.NodeName} | {node.OpType} | {node.WeightSqnr:F1} | {node.LayerSqnr:F1} | {node.OutputSqnr:F1} |");
        return Ok;
    }

    /// <summary>Reports on the calling thread (<see cref="Progress{T}"/> would post to the thread pool and print out of order).</summary>
    private sealed class Reporter<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
