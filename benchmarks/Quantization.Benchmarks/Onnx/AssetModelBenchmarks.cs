using BenchmarkDotNet.Attributes;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Quantization.Assets;
using Quantization.Graph;
using Quantization.Onnx;

namespace Quantization.Benchmarks.Onnx;

/// <summary>
/// Each asset model of DESIGN.md §5 in FP32: our imported <see cref="GraphModule"/> against ONNX Runtime (baseline)
/// on the same seeded inputs, 1 and 2 threads (ORT's intra-op threads and <see cref="Parallelism.ThreadCount"/>).
/// PP-OCR cls at 1×3×48×192, det at 1×3×640×640 on a synthetic page, hello_deepa on 1×25×96 features, Silero VAD on
/// one 512-sample chunk at 16 kHz. ORT runs with graph optimizations on and allocates its outputs per run, as a
/// caller of <c>InferenceSession.Run</c> sees it. Setup throws unless the two agree within 1e-4 of each output's range.
/// </summary>
[MemoryDiagnoser]
public class AssetModelBenchmarks
{
    private GraphModule _graph = null!;
    private Dictionary<string, Tensor> _inputs = [];
    private InferenceSession _session = null!;
    private SessionOptions _options = null!;
    private List<NamedOnnxValue> _feeds = [];

    [Params("cls", "det", "hello_deepa", "silero")]
    public string Model { get; set; } = "cls";

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Parallelism.ThreadCount = Threads;
        string path = ModelPath(Model);
        _graph = OnnxModel.Load(path).ToGraphModule();
        _inputs = Inputs(Model);
        _options = OrtOptions(Threads);
        _session = new InferenceSession(path, _options);
        _feeds = _inputs.Select(kv => _session.InputMetadata[kv.Key].ElementDataType == TensorElementType.Int64
            ? NamedOnnxValue.CreateFromTensor(kv.Key, new DenseTensor<long>(kv.Value.AsSpan().ToArray().Select(v => (long)v).ToArray(), kv.Value.Shape.ToArray()))
            : NamedOnnxValue.CreateFromTensor(kv.Key, new DenseTensor<float>(kv.Value.AsSpan().ToArray(), kv.Value.Shape.ToArray()))).ToList();
        CheckAgreement();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _session.Dispose();
        _options.Dispose();
    }

    [Benchmark(Baseline = true)]
    public void OnnxRuntime()
    {
        using var results = _session.Run(_feeds);
    }

    [Benchmark]
    public IReadOnlyDictionary<string, Tensor> Ours() => _graph.Run(_inputs);

    private void CheckAgreement()
    {
        var ours = _graph.Run(_inputs);
        using var results = _session.Run(_feeds);
        foreach (var result in results)
        {
            float[] expected = result.AsTensor<float>().ToArray();
            ReadOnlySpan<float> actual = ours[result.Name].AsSpan();
            double range = Math.Max(expected.Max(v => Math.Abs(v)), 1e-6), worst = 0;
            for (int i = 0; i < expected.Length; i++)
                worst = Math.Max(worst, Math.Abs(expected[i] - actual[i]));
            if (worst > 1e-4 * range)
                throw new InvalidOperationException($"{Model} {result.Name}: ours differs from ONNX Runtime by {worst} (largest |value| {range}).");
        }
    }

    /// <summary>ORT sessions as both asset benchmarks run them: all graph optimizations, sequential, <paramref name="threads"/> intra-op threads.</summary>
    internal static SessionOptions OrtOptions(int threads) => new()
    {
        IntraOpNumThreads = threads,
        InterOpNumThreads = 1,
        ExecutionMode = ExecutionMode.ORT_SEQUENTIAL,
        GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
    };

    internal static string ModelPath(string model)
    {
        var cache = new AssetCache();
        return model switch
        {
            "cls" => Path.Combine(cache.GetPackageDirectory(AssetPackages.OcrModels), "assets", "ch_ppocr_mobile_v2.0_cls_infer.onnx"),
            "det" => Path.Combine(cache.GetPackageDirectory(AssetPackages.OcrModels), "assets", "ch_PP-OCRv4_det_infer.onnx"),
            "hello_deepa" => Path.Combine(cache.GetPackageDirectory(AssetPackages.OpenWakeWord), "models", "hello_deepa.onnx"),
            "silero" => Path.Combine(cache.GetPackageDirectory(AssetPackages.SileroVad), "dist", "silero_vad_legacy.onnx"),
            _ => throw new ArgumentOutOfRangeException(nameof(model), model, "unknown asset model"),
        };
    }

    internal static Dictionary<string, Tensor> Inputs(string model) => model switch
    {
        "cls" => new() { ["x"] = Random(1, 1, 3, 48, 192) },
        "det" => new() { ["x"] = Page(640, 640) },
        "hello_deepa" => new() { ["onnx::Flatten_0"] = Random(1, 1, 25, 96) },
        _ => new() { ["input"] = Random(1, 1, 512) * 0.3f, ["sr"] = Tensor.Full(16000f), ["h"] = new Tensor(2, 1, 64), ["c"] = new Tensor(2, 1, 64) },
    };

    private static Tensor Random(int seed, params int[] shape)
    {
        var rng = new Random(seed);
        var t = new Tensor(shape);
        foreach (ref float v in t.AsSpan())
            v = (float)(rng.NextDouble() * 2 - 1);
        return t;
    }

    /// <summary>
    /// Dark bars on a light page, normalized with ImageNet's mean and std as PaddleOCR does: noise would give the
    /// detector nothing to find and a map of near-zero probabilities.
    /// </summary>
    private static Tensor Page(int height, int width)
    {
        float[] mean = [0.485f, 0.456f, 0.406f], std = [0.229f, 0.224f, 0.225f];
        var t = new Tensor(1, 3, height, width);
        var s = t.AsSpan();
        for (int c = 0; c < 3; c++)
        {
            for (int y = 0; y < height; y++)
            {
                for (int x = 0; x < width; x++)
                {
                    bool ink = y % 24 is >= 6 and < 16 && x > width / 8 && x < width * 7 / 8 && x % 7 < 4;
                    s[(c * height + y) * width + x] = ((ink ? 0.15f : 0.9f) - mean[c]) / std[c];
                }
            }
        }

        return t;
    }
}
