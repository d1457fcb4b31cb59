using System.Globalization;
using Quantization.Graph;
using Quantization.Nn;
using Quantization.Onnx;

namespace Quantization.Cli;

/// <summary>The commands of the <c>quantize</c> tool; <see cref="Run"/> returns the process exit code.</summary>
internal static partial class Cli
{
    /// <summary>Success.</summary>
    public const int Ok = 0;

    /// <summary>The command line is wrong (unknown command or option, missing argument).</summary>
    public const int UsageError = 1;

    /// <summary>An input (model, data) is missing, malformed or unsupported.</summary>
    public const int InputError = 2;

    private const string Usage = """
        usage:
          quantize inspect MODEL.onnx [--nodes]
          quantize dynamic IN.onnx OUT.onnx [--per-channel] [--no-reduce-range] [SELECTION] [OUTPUT]
          quantize static IN.onnx OUT.onnx --data FILE.npz|FILE.npy|FOLDER [--method histogram|minmax|entropy|percentile]
                          [--per-tensor] [--reduce-range] [--keep-fp32 N] [--per-layer] [SELECTION] [OUTPUT]
        SELECTION: --include NODE,... --exclude NODE,... --include-op OP,... --exclude-op OP,... (node names and op types)
        OUTPUT: --format qdq|qoperator (default qdq) --compact-names (short generated names inside the graph)
        Calibration data: one sample per .npz (one array per model input) or .npy (single-input models), or a folder of them.
        Static quantization keeps activations INT8 between nodes; --per-layer quantizes and dequantizes around each layer instead.
        OUT.onnx runs in ONNX Runtime on its integer kernels. QDQ keeps the original operators between quantize and
        dequantize nodes; QOperator writes quantized Conv and MatMul as QLinearConv and QLinearMatMul, which is smaller.
        """;

    /// <summary>Runs the command in <paramref name="args"/>, writing results to <paramref name="output"/> and problems to <paramref name="error"/>.</summary>
    public static int Run(string[] args, TextWriter output, TextWriter error)
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            (args.Length == 0 ? error : output).WriteLine(Usage);
            return args.Length == 0 ? UsageError : Ok;
        }

        try
        {
            var options = Options.Parse(args[1..]);
            return args[0] switch
            {
                "inspect" => Inspect(options, output),
                "dynamic" => Dynamic(options, output),
                "static" => Static(options, output),
                _ => throw new UsageException($"Unknown command '{args[0]}'."),
            };
        }
        catch (UsageException e)
        {
            error.WriteLine($"error: {e.Message}");
            error.WriteLine(Usage);
            return UsageError;
        }
        catch (Exception e) when (e is OnnxFormatException or InvalidDataException or ArgumentException or IOException or NotSupportedException or InvalidOperationException or UnauthorizedAccessException)
        {
            error.WriteLine($"error: {e.Message}");
            return InputError;
        }
    }

    private static int Inspect(Options options, TextWriter output)
    {
        string path = options.Positional(0, "MODEL.onnx");
        options.EnsureNoMorePositionals(1);
        bool listNodes = options.Flag("nodes");
        options.EnsureAllUsed();
        var model = OnnxModel.Load(path);
        var graph = model.ToGraphModule();
        output.WriteLine($"{path}: {new FileInfo(path).Length:N0} bytes, opset {model.OpsetVersion}, producer '{model.ProducerName}'");
        foreach (var input in graph.Inputs)
            output.WriteLine($"  input  {input.Name} [{string.Join(", ", input.Shape?.Select(d => d?.ToString(CultureInfo.InvariantCulture) ?? "?") ?? [])}]");
        foreach (string name in graph.OutputNames)
            output.WriteLine($"  output {name}");

        var rows = graph.Nodes.Select(node => (node, Kind: Quantizable(graph, node))).ToList();
        output.WriteLine();
        output.WriteLine("| op | nodes | static INT8 | dynamic INT8 |");
        output.WriteLine("|---|---:|---:|---:|");
        foreach (var group in rows.GroupBy(r => r.node.OpType).OrderByDescending(g => g.Count()).ThenBy(g => g.Key, StringComparer.Ordinal))
            output.WriteLine($"| {group.Key} | {group.Count()} | {group.Count(r => r.Kind.Static)} | {group.Count(r => r.Kind.Dynamic)} |");
        output.WriteLine($"| all | {rows.Count} | {rows.Count(r => r.Kind.Static)} | {rows.Count(r => r.Kind.Dynamic)} |");

        if (listNodes)
        {
            output.WriteLine();
            foreach (var (node, kind) in rows)
                output.WriteLine($"  {node.Name} ({node.OpType}){(kind.Static ? " static" : "")}{(kind.Dynamic ? " dynamic" : "")}");
        }

        return Ok;
    }

    /// <summary>Whether a node runs a layer that static (Conv, Gemm, MatMul) or dynamic (Gemm, MatMul) quantization replaces.</summary>
    private static (bool Static, bool Dynamic) Quantizable(GraphModule graph, GraphNode node)
    {
        if (node.ModuleName is null)
            return (false, false);
        var layer = graph.GetSubmodule(node.ModuleName);
        return (layer is Conv2d or Linear, layer is Linear);
    }

    /// <summary>A wrong command line; reported with the usage text.</summary>
    internal sealed class UsageException(string message) : Exception(message);
}
