using System.Text.RegularExpressions;
using Quantization.Assets;
using Quantization.Graph;
using Quantization.Observers;
using Quantization.Onnx;
using Xunit;

namespace Quantization.Tests.Documentation;

/// <summary>
/// The README's C# examples, run as tests: each code block of README.md must appear in this file (white space
/// aside), and the test that holds it asserts what the README's comments promise.
/// </summary>
public partial class ReadmeTests
{
    [Fact]
    public void Quantize_example()
    {
        var x = new Tensor([-1.0f, -0.5f, 0f, 0.26f, 1.5f], 5);

        // PyTorch's torch.quantize_per_tensor: q = clamp(zp + round_half_even(x / scale), 0, 255).
        QuantizedTensor q = QuantizedTensor.QuantizePerTensor(x, scale: 0.01f, zeroPoint: 100, QuantDType.QUInt8);
        int[] codes = q.IntRepr();          // [0, 50, 100, 126, 250]
        Tensor back = q.Dequantize();       // scale * (q - zp): [-1, -0.5, 0, 0.26, 1.5]

        // One scale and zero point per slice along an axis (weights: axis 0, the output channels).
        var w = new Tensor([0.5f, -0.25f, 4f, -8f], 2, 2);
        QuantizedTensor qw = QuantizedTensor.QuantizePerChannel(w, [0.5f / 127, 8f / 127], [0, 0], axis: 0, QuantDType.QInt8);
        int[] weightCodes = qw.IntRepr();   // [127, -64, 64, -127]

        // Fake quantization stays in FP32 (used by quantization-aware training).
        Tensor fake = x.FakeQuantizePerTensor(0.01f, 100, quantMin: 0, quantMax: 255);

        Assert.Equal([0, 50, 100, 126, 250], codes);
        float[] expected = [-1f, -0.5f, 0f, 0.26f, 1.5f];
        for (int i = 0; i < expected.Length; i++)
            Assert.Equal(expected[i], back.AsSpan()[i], 5);
        Assert.Equal([127, -64, 64, -127], weightCodes);
        Assert.Equal(back.AsSpan().ToArray(), fake.AsSpan().ToArray());
    }

    [Fact]
    public void Observer_example()
    {
        var rng = new Random(3);
        Tensor[] calibrationBatches = Enumerable.Range(0, 4)
            .Select(_ => new Tensor(Enumerable.Range(0, 1000).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray(), 1000))
            .ToArray();
        var w = new Tensor([0.5f, -0.25f, 4f, -8f], 2, 2);

        var observer = new HistogramObserver(new ObserverOptions { DType = QuantDType.QUInt8, ReduceRange = true });
        foreach (Tensor batch in calibrationBatches)
            observer.Observe(batch);
        QuantParams activationParams = observer.CalculateQParams();   // QUInt8, codes in [0, 127]

        var weightObserver = new PerChannelMinMaxObserver(new ObserverOptions { DType = QuantDType.QInt8, QScheme = QScheme.PerChannelSymmetric });
        weightObserver.Observe(w);
        QuantizedTensor qWeights = QuantizedTensor.Quantize(w, weightObserver.CalculateQParams());

        Assert.Equal((0, 127), (observer.QuantMin, observer.QuantMax));
        // Uniform data on [-1, 1]: the search keeps about that range, 2 / 127 per step with zero near the middle.
        Assert.InRange(activationParams.Scale * 127, 1.8f, 2.05f);
        Assert.InRange(activationParams.ZeroPoint, 60, 67);
        Assert.Equal([127, -64, 64, -127], qWeights.IntRepr());
    }

    [Fact]
    public void Onnx_loading_example()
    {
        string modelPath = Path.Combine(new AssetCache().GetPackageDirectory(AssetPackages.OpenWakeWord), "models", "hello_deepa.onnx");

        OnnxModel model = OnnxModel.Load(modelPath);   // validated; a bad file throws OnnxFormatException
        OnnxGraph graph = model.Graph;
        long opset = model.OpsetVersion;               // 13
        OnnxValueInfo input = graph.Inputs[0];         // "onnx::Flatten_0", Float, shape [1, 25, 96]
        var gemmWeights = new List<Tensor>();
        foreach (OnnxNode node in graph.Nodes)         // topological order
        {
            if (node.OpType == "Gemm" && node.GetInt("transB", 0) == 1)
                gemmWeights.Add(graph.FindConstant(node.Inputs[1])!.ToTensor());   // FP32 weights, [out, in]
        }

        Assert.Equal(13, opset);
        Assert.Equal("onnx::Flatten_0", input.Name);
        Assert.Equal(OnnxElementType.Float, input.ElementType);
        Assert.Equal([1L, 25, 96], input.Shape!.Select(d => d.Value!.Value));
        Assert.Equal(3, gemmWeights.Count);
        Assert.Equal(25 * 96, gemmWeights[0].Shape[1]);
        Assert.Equal(1, gemmWeights[^1].Shape[0]);
    }

    [Fact]
    public void Graph_module_example()
    {
        string modelPath = Path.Combine(new AssetCache().GetPackageDirectory(AssetPackages.OpenWakeWord), "models", "hello_deepa.onnx");

        GraphModule module = OnnxModel.Load(modelPath).ToGraphModule();
        Tensor features = new Tensor(1, 25, 96);                        // one input, one output: Forward
        Tensor score = module.Forward(features);                        // [1, 1], a probability
        IReadOnlyDictionary<string, Tensor> outputs = module.Run(new Dictionary<string, Tensor> { ["onnx::Flatten_0"] = features });
        string firstLayer = module.Nodes.First(n => n.ModuleName is not null).ModuleName!;   // "layer1_Gemm", a Linear

        Assert.Equal([1, 1], score.Shape.ToArray());
        Assert.InRange(score.AsSpan()[0], 0f, 1f);
        Assert.Equal(score.AsSpan().ToArray(), outputs["39"].AsSpan().ToArray());
        Assert.Equal("layer1_Gemm", firstLayer);
        Assert.IsType<Quantization.Nn.Linear>(module.GetSubmodule(firstLayer));
    }

    [Fact]
    public void Every_readme_code_block_is_in_this_file()
    {
        string root = FindRepositoryRoot();
        string readme = File.ReadAllText(Path.Combine(root, "README.md"));
        string tests = Normalize(File.ReadAllText(Path.Combine(root, "tests", "Quantization.Tests", "Documentation", "ReadmeTests.cs")));
        var blocks = CSharpBlock().Matches(readme).Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(blocks);
        foreach (string block in blocks)
        {
            // Usings live at the top of a test file; the body must match.
            string body = string.Join('\n', block.Split('\n').Where(l => !l.TrimStart().StartsWith("using ", StringComparison.Ordinal)));
            Assert.True(tests.Contains(Normalize(body), StringComparison.Ordinal), $"README block not mirrored in ReadmeTests.cs:\n{block}");
        }
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Quantization.sln")))
                return dir.FullName;
        }

        throw new InvalidOperationException("Quantization.sln not found above " + AppContext.BaseDirectory);
    }

    private static string Normalize(string code) => WhiteSpace().Replace(code, " ").Trim();

    [GeneratedRegex(@"```csharp\n(.*?)```", RegexOptions.Singleline)]
    private static partial Regex CSharpBlock();

    [GeneratedRegex(@"\s+")]
    private static partial Regex WhiteSpace();
}
