using Quantization.Cli;
using Xunit;

namespace Quantization.Onnx.Tests.Cli;

/// <summary>The quantize tool: its .npy/.npz reader, calibration inputs, and commands with their exit codes.</summary>
public sealed class CliTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "quantization-cli-" + Guid.NewGuid().ToString("N"));

    public CliTests() => Directory.CreateDirectory(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Output, string Error) Run(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        int code = Quantization.Cli.Cli.Run(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    [Fact]
    public void Npy_arrays_of_every_supported_dtype_read_as_fp32()
    {
        var f32 = NpyFile.Read(NpyTestFiles.Float32([1.5f, -2f, 3f, 0.25f, 5f, 6f], 2, 3), "f32");
        Assert.Equal([2, 3], f32.Shape.ToArray());
        Assert.Equal([1.5f, -2f, 3f, 0.25f, 5f, 6f], f32.AsSpan().ToArray());

        var f64 = NpyFile.Read(NpyTestFiles.Array("<f8", [2], [.. BitConverter.GetBytes(0.5), .. BitConverter.GetBytes(-7.0)]), "f64");
        Assert.Equal([0.5f, -7f], f64.AsSpan().ToArray());
        var i64 = NpyFile.Read(NpyTestFiles.Array("<i8", [1, 2], [.. BitConverter.GetBytes(-3L), .. BitConverter.GetBytes(40L)]), "i64");
        Assert.Equal([-3f, 40f], i64.AsSpan().ToArray());
        var u8 = NpyFile.Read(NpyTestFiles.Array("|u1", [3], [0, 128, 255]), "u8");
        Assert.Equal([0f, 128f, 255f], u8.AsSpan().ToArray());
        var scalar = NpyFile.Read(NpyTestFiles.Array("<f4", [], BitConverter.GetBytes(2.5f)), "scalar");
        Assert.Equal(0, scalar.Rank);
    }

    [Theory]
    [InlineData("magic")]
    [InlineData("dtype")]
    [InlineData("short")]
    [InlineData("fortran")]
    public void Bad_npy_files_raise_invalid_data_naming_the_problem(string damage)
    {
        byte[] good = NpyTestFiles.Float32([1f, 2f, 3f, 4f], 2, 2);
        byte[] bad = damage switch
        {
            "magic" => [.. good.Select((b, i) => i == 1 ? (byte)'X' : b)],
            "dtype" => NpyTestFiles.Array(">f4", [2], new byte[8]),
            "short" => good[..^3],
            _ => NpyTestFiles.Array("<f4", [2], new byte[8], "'fortran_order': True"),
        };
        var e = Assert.Throws<InvalidDataException>(() => NpyFile.Read(bad, "sample.npy"));
        Assert.StartsWith("sample.npy", e.Message, StringComparison.Ordinal);
        Assert.Contains(damage switch { "magic" => "NUMPY", "dtype" => ">f4", "short" => "bytes", _ => "Fortran" }, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Calibration_folders_stream_one_sample_per_file_by_input_name()
    {
        File.WriteAllBytes(Path.Combine(_dir, "b.npy"), NpyTestFiles.Float32([2f], 1));
        NpyTestFiles.WriteArchive(Path.Combine(_dir, "a.npz"), ("whatever", NpyTestFiles.Float32([1f], 1)));
        File.WriteAllText(Path.Combine(_dir, "notes.txt"), "ignored");

        var samples = CalibrationData.Open(_dir, ["x"]).ToList();

        Assert.Equal([1f, 2f], samples.Select(s => s["x"].AsSpan()[0]));
        Assert.Equal(2, CalibrationData.Count(_dir));
        Assert.Throws<ArgumentException>(() => CalibrationData.Open(_dir, ["x", "y"]));
        Assert.Throws<ArgumentException>(() => CalibrationData.Open(Path.Combine(_dir, "missing"), ["x"]));

        string two = Path.Combine(_dir, "two.npz");
        NpyTestFiles.WriteArchive(two, ("x", NpyTestFiles.Float32([3f], 1)), ("z", NpyTestFiles.Float32([4f], 1)));
        var e = Assert.Throws<InvalidDataException>(() => CalibrationData.Open(two, ["x", "y"]).ToList());
        Assert.Contains("y", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Inspect_lists_ops_and_what_would_be_quantized()
    {
        var (code, output, _) = Run("inspect", AssetModels.OcrClassifier, "--nodes");
        Assert.Equal(Quantization.Cli.Cli.Ok, code);
        Assert.Contains("| Conv | 53 | 53 | 0 |", output, StringComparison.Ordinal);
        Assert.Contains("| MatMul | 1 | 1 | 1 |", output, StringComparison.Ordinal);
        Assert.Contains("opset 9", output, StringComparison.Ordinal);
        Assert.Contains(" (Conv) static", output, StringComparison.Ordinal);
    }

    [Fact]
    public void Bad_command_lines_and_inputs_exit_non_zero_with_a_message()
    {
        Assert.Equal(Quantization.Cli.Cli.UsageError, Run().Code);
        var unknown = Run("frobnicate");
        Assert.Equal(Quantization.Cli.Cli.UsageError, unknown.Code);
        Assert.Contains("Unknown command 'frobnicate'", unknown.Error, StringComparison.Ordinal);
        var option = Run("inspect", AssetModels.OcrClassifier, "--bogus");
        Assert.Equal(Quantization.Cli.Cli.UsageError, option.Code);
        Assert.Empty(option.Output);
        Assert.Equal(Quantization.Cli.Cli.UsageError, Run("inspect").Code);

        string garbage = Path.Combine(_dir, "garbage.onnx");
        File.WriteAllBytes(garbage, [1, 2, 3, 4, 5]);
        var bad = Run("inspect", garbage);
        Assert.Equal(Quantization.Cli.Cli.InputError, bad.Code);
        Assert.StartsWith("error: ", bad.Error, StringComparison.Ordinal);
        Assert.Equal(Quantization.Cli.Cli.InputError, Run("inspect", Path.Combine(_dir, "none.onnx")).Code);
        Assert.Equal(Quantization.Cli.Cli.Ok, Run("--help").Code);
    }

    [Fact]
    public void Static_and_dynamic_write_qdq_models_with_a_summary()
    {
        string data = Path.Combine(_dir, "calibration");
        Directory.CreateDirectory(data);
        for (int i = 0; i < 2; i++)
        {
            var x = GraphModuleAssetTests.Random(10 + i, 1, 3, 48, 192);
            NpyTestFiles.WriteArchive(Path.Combine(data, $"{i}.npz"), ("x", NpyTestFiles.Float32(x.AsSpan().ToArray(), 1, 3, 48, 192)));
        }

        string cls = Path.Combine(_dir, "cls-int8.onnx");
        var (code, output, error) = Run("static", AssetModels.OcrClassifier, cls, "--data", data, "--method", "minmax", "--exclude", "p2o.Conv.0");
        Assert.True(code == Quantization.Cli.Cli.Ok, error);
        Assert.Contains("calibrating: 2/2", output, StringComparison.Ordinal);
        Assert.Contains("| p2o.Conv.1 | Conv |", output, StringComparison.Ordinal);
        Assert.DoesNotContain("| p2o.Conv.0 |", output, StringComparison.Ordinal);
        var exported = OnnxModel.Load(cls);
        Assert.Contains("QuantizeLinear", exported.Graph.CountOpTypes().Keys);

        string qoperator = Path.Combine(_dir, "cls-qop.onnx");
        (code, _, error) = Run("static", AssetModels.OcrClassifier, qoperator, "--data", data, "--format", "qoperator", "--compact-names");
        Assert.True(code == Quantization.Cli.Cli.Ok, error);
        Assert.Equal(53, OnnxModel.Load(qoperator).Graph.CountOpTypes()["QLinearConv"]);
        Assert.True(new FileInfo(qoperator).Length <= 0.3 * new FileInfo(AssetModels.OcrClassifier).Length);
        var format = Run("static", AssetModels.OcrClassifier, qoperator, "--data", data, "--format", "qlinear");
        Assert.Equal(Quantization.Cli.Cli.UsageError, format.Code);
        Assert.Contains("--format must be qdq or qoperator", format.Error, StringComparison.Ordinal);

        string wake = Path.Combine(_dir, "wake-int8.onnx");
        (code, output, error) = Run("dynamic", AssetModels.HelloDeepa, wake, "--per-channel");
        Assert.True(code == Quantization.Cli.Cli.Ok, error);
        Assert.Contains("| wake-int8.onnx |", output, StringComparison.Ordinal);
        Assert.True(new FileInfo(wake).Length < 0.3 * new FileInfo(AssetModels.HelloDeepa).Length);

        Assert.Equal(Quantization.Cli.Cli.UsageError, Run("static", AssetModels.OcrClassifier, cls).Code);
        Assert.Equal(Quantization.Cli.Cli.UsageError, Run("static", AssetModels.OcrClassifier, cls, "--data", data, "--method", "magic").Code);
        Assert.Equal(Quantization.Cli.Cli.InputError, Run("static", AssetModels.OcrClassifier, cls, "--data", Path.Combine(_dir, "none")).Code);
        var unknownNode = Run("dynamic", AssetModels.HelloDeepa, wake, "--exclude", "no-such-node");
        Assert.Equal(Quantization.Cli.Cli.InputError, unknownNode.Code);
        Assert.Contains("no-such-node", unknownNode.Error, StringComparison.Ordinal);
    }
}
