using Quantization.Assets;

namespace Quantization.Onnx.Tests;

/// <summary>The real models of DESIGN.md §5, fetched once per process from their pinned npm packages.</summary>
internal static class AssetModels
{
    private static readonly Lazy<string> OcrDirectory = new(() => new AssetCache().GetPackageDirectory(AssetPackages.OcrModels));
    private static readonly Lazy<string> WakeWordDirectory = new(() => new AssetCache().GetPackageDirectory(AssetPackages.OpenWakeWord));
    private static readonly Lazy<string> VadDirectory = new(() => new AssetCache().GetPackageDirectory(AssetPackages.SileroVad));

    public static string OcrClassifier => Path.Combine(OcrDirectory.Value, "assets", "ch_ppocr_mobile_v2.0_cls_infer.onnx");

    public static string OcrDetector => Path.Combine(OcrDirectory.Value, "assets", "ch_PP-OCRv4_det_infer.onnx");

    public static string HelloDeepa => Path.Combine(WakeWordDirectory.Value, "models", "hello_deepa.onnx");

    public static string SileroVadLegacy => Path.Combine(VadDirectory.Value, "dist", "silero_vad_legacy.onnx");

    /// <summary>Name -> path, for theories over every asset model.</summary>
    public static string ByName(string name) => name switch
    {
        "cls" => OcrClassifier,
        "det" => OcrDetector,
        "hello_deepa" => HelloDeepa,
        "silero" => SileroVadLegacy,
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "unknown asset model"),
    };
}
