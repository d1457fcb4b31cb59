using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Quantization.Graph;
using Xunit;

namespace Quantization.Onnx.Tests;

/// <summary>
/// Every asset model imported as a <see cref="GraphModule"/> and run in FP32 agrees with ONNX Runtime on the same
/// seeded input: the largest difference, relative to the largest output magnitude, is at most 1e-4.
/// </summary>
public sealed class GraphModuleAssetTests(ITestOutputHelper output)
{
    private const int Seed = 6;

    [Fact]
    public void Ocr_classifier_matches_onnx_runtime()
    {
        var model = OnnxModel.Load(AssetModels.OcrClassifier);
        GraphModule graph = model.ToGraphModule();
        Assert.Equal(53, graph.Modules<Nn.Conv2d>().Count());
        Assert.Equal(35, graph.Modules<Nn.BatchNorm2d>().Count());
        // Weights live in the layers, not also among the graph's constants.
        Assert.DoesNotContain(graph.Constants.Values, t => t.Rank == 4);
        Tensor x = Random(Seed, 2, 3, 48, 192), copy = x.Clone();
        float[] first = Compare(AssetModels.OcrClassifier, graph, new() { ["x"] = x })["softmax_0.tmp_0"].AsSpan().ToArray();
        // Intermediate buffers are reused within a run, never the caller's input or the model's constants.
        Assert.Equal(copy.AsSpan().ToArray(), x.AsSpan().ToArray());
        Assert.Equal(first, graph.Forward(x).AsSpan().ToArray());
    }

    [Fact]
    public void Hello_deepa_matches_onnx_runtime()
    {
        GraphModule graph = OnnxModel.Load(AssetModels.HelloDeepa).ToGraphModule();
        Assert.Equal(3, graph.Modules<Nn.Linear>().Count());
        Compare(AssetModels.HelloDeepa, graph, new() { ["onnx::Flatten_0"] = Random(Seed, 1, 25, 96) });
        // Forward works for a single-input, single-output graph.
        Tensor y = graph.Forward(Random(Seed, 1, 25, 96));
        Assert.Equal([1, 1], y.Shape.ToArray());
    }

    [Fact]
    public void Ocr_detector_matches_onnx_runtime()
    {
        GraphModule graph = OnnxModel.Load(AssetModels.OcrDetector).ToGraphModule();
        Assert.Equal(6, graph.Nodes.Count(n => n.OpType == "Resize"));
        // ConvTranspose weights were packed at import; only biases shaped [1, C, 1, 1] for Add remain.
        Assert.DoesNotContain(graph.Constants.Values, t => t.Rank == 4 && t.Shape[0] > 1);
        // Noise gives a map of near-zero probabilities; dark strokes on a light page give the detector text to find.
        Compare(AssetModels.OcrDetector, graph, new() { ["x"] = Page(Seed, 160, 224) });
    }

    [Fact]
    public void Asset_models_match_onnx_runtime_on_other_inputs_and_batch_sizes()
    {
        GraphModule classifier = OnnxModel.Load(AssetModels.OcrClassifier).ToGraphModule();
        foreach (int batch in new[] { 1, 3 })
            Compare(AssetModels.OcrClassifier, classifier, new() { ["x"] = Random(Seed + batch, batch, 3, 48, 192) });
        // The classifier's width is dynamic too: a longer text line.
        Compare(AssetModels.OcrClassifier, classifier, new() { ["x"] = Random(Seed + 7, 2, 3, 48, 256) });

        GraphModule wakeWord = OnnxModel.Load(AssetModels.HelloDeepa).ToGraphModule();
        foreach (int seed in new[] { 11, 12, 13 })
            Compare(AssetModels.HelloDeepa, wakeWord, new() { ["onnx::Flatten_0"] = Random(seed, 1, 25, 96) * 3f });

        GraphModule detector = OnnxModel.Load(AssetModels.OcrDetector).ToGraphModule();
        var pages = new Tensor(2, 3, 96, 128);
        Page(Seed + 1, 96, 128).AsSpan().CopyTo(pages.AsSpan());
        Page(Seed + 2, 96, 128).AsSpan().CopyTo(pages.AsSpan()[(3 * 96 * 128)..]);
        Compare(AssetModels.OcrDetector, detector, new() { ["x"] = pages });
    }

    [Fact]
    public void Silero_vad_matches_onnx_runtime_over_consecutive_chunks()
    {
        GraphModule graph = OnnxModel.Load(AssetModels.SileroVadLegacy).ToGraphModule();
        // Three 512-sample chunks at 16 kHz, the state carried from one call to the next as a VAD client does.
        Tensor h = new(2, 1, 64), c = new(2, 1, 64);
        for (int chunk = 0; chunk < 3; chunk++)
        {
            Tensor audio = Random(Seed + chunk, 1, 512) * 0.3f;
            var outputs = Compare(AssetModels.SileroVadLegacy, graph, new() { ["input"] = audio, ["sr"] = Tensor.Full(16000f), ["h"] = h, ["c"] = c });
            (h, c) = (outputs["hn"], outputs["cn"]);
        }

        // The 8 kHz model is the other branch of the top-level If.
        Compare(AssetModels.SileroVadLegacy, graph, new() { ["input"] = Random(Seed, 1, 256) * 0.3f, ["sr"] = Tensor.Full(8000f), ["h"] = h, ["c"] = c });
    }

    /// <summary>Runs both engines and asserts every output agrees; returns our outputs.</summary>
    private IReadOnlyDictionary<string, Tensor> Compare(string path, GraphModule graph, Dictionary<string, Tensor> inputs, double tolerance = 1e-4)
    {
        var ours = graph.Run(inputs);
        using var session = new InferenceSession(path);
        var feeds = inputs.Select(kv => session.InputMetadata[kv.Key].ElementDataType == TensorElementType.Int64
            ? NamedOnnxValue.CreateFromTensor(kv.Key, new DenseTensor<long>(kv.Value.AsSpan().ToArray().Select(v => (long)v).ToArray(), kv.Value.Shape.ToArray()))
            : NamedOnnxValue.CreateFromTensor(kv.Key, new DenseTensor<float>(kv.Value.AsSpan().ToArray(), kv.Value.Shape.ToArray()))).ToList();
        using var results = session.Run(feeds);
        foreach (var result in results)
        {
            var expected = result.AsTensor<float>();
            Tensor actual = ours[result.Name];
            Assert.Equal(expected.Dimensions.ToArray(), actual.Shape.ToArray());
            float[] e = expected.ToArray();
            double scale = Math.Max(e.Max(v => Math.Abs(v)), 1e-6), worst = 0;
            for (int i = 0; i < e.Length; i++)
                worst = Math.Max(worst, Math.Abs(e[i] - actual.AsSpan()[i]));
            output.WriteLine($"{Path.GetFileName(path)} {result.Name}: max |diff| {worst:G3}, max |value| {scale:G3}, relative {worst / scale:G3}");
            Assert.True(worst / scale <= tolerance, $"{result.Name}: max |diff| {worst} against max |value| {scale}.");
        }

        return ours;
    }

    /// <summary>A light page with dark bars like lines of text, normalized as PaddleOCR does (ImageNet mean and std), NCHW.</summary>
    internal static Tensor Page(int seed, int height, int width)
    {
        var rng = new Random(seed);
        var gray = new float[height * width];
        gray.AsSpan().Fill(0.9f);
        for (int line = 0; line < height / 24; line++)
        {
            int top = line * 24 + 6, left = rng.Next(8, width / 3), right = rng.Next(width / 2, width - 8);
            for (int y = top; y < top + 10; y++)
            {
                for (int x = left; x < right; x++)
                    gray[y * width + x] = x % 7 < 4 ? 0.1f + 0.1f * (float)rng.NextDouble() : 0.85f;
            }
        }

        float[] mean = [0.485f, 0.456f, 0.406f], std = [0.229f, 0.224f, 0.225f];
        var t = new Tensor(1, 3, height, width);
        var s = t.AsSpan();
        for (int c = 0; c < 3; c++)
        {
            for (int i = 0; i < gray.Length; i++)
                s[c * gray.Length + i] = (gray[i] - mean[c]) / std[c];
        }

        return t;
    }

    internal static Tensor Random(int seed, params int[] shape)
    {
        var rng = new Random(seed);
        var t = new Tensor(shape);
        foreach (ref float v in t.AsSpan())
            v = (float)(rng.NextDouble() * 2 - 1);
        return t;
    }
}

internal static class ModuleExtensions
{
    public static IEnumerable<T> Modules<T>(this Nn.Module module) => module.NamedModules().Select(m => m.Module).OfType<T>();
}
