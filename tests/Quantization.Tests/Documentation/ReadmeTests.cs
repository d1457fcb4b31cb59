using System.Text.RegularExpressions;
using Quantization.Assets;
using Quantization.Graph;
using Quantization.Nn;
using Quantization.Nn.Models;
using Quantization.Observers;
using Quantization.Onnx;
using Quantization.Onnx.Export;
using Quantization.Onnx.Quantize;
using Quantization.Tests.Assets;
using Quantization.Workflows;
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
    public void Training_example()
    {
        // 3000 training and 1000 test digits drawn at random (the images are stored in label order).
        var mnist = MnistFixture.Digits.Value;
        int[] order = [.. Enumerable.Range(0, mnist.Count)];
        new Random(4).Shuffle(order);
        (Tensor, int[]) Digits(int[] indices) => (
            new Tensor([.. indices.SelectMany(i => mnist.Image(i).ToArray())], indices.Length, 1, 28, 28),
            [.. indices.Select(i => (int)mnist.Labels[i])]);
        var (images, labels) = Digits(order[..3000]);
        var (testImages, testLabels) = Digits(order[3000..4000]);
        string modelPath = Path.Combine(Path.GetTempPath(), $"readme-mlp-{Guid.NewGuid():N}.qnn");

        Init.ManualSeed(1);                              // repeatable initialization, dropout and shuffling
        var model = new Sequential(new Flatten(), new Linear(28 * 28, 128), new ReLU(), new Linear(128, 10));
        var optimizer = new Adam(model.Parameters(), lr: 2e-3f);
        var criterion = new CrossEntropyLoss();
        var loader = new DataLoader(images, labels, batchSize: 64, shuffle: true, seed: 1);   // images [N, 1, 28, 28]

        model.Train();
        for (int epoch = 0; epoch < 2; epoch++)
        {
            foreach (var (inputs, targets) in loader)
            {
                optimizer.ZeroGrad();
                Variable loss = criterion.Forward(model.Forward(new Variable(inputs)), targets);
                loss.Backward();                         // gradients into every Parameter's Grad
                optimizer.Step();
            }
        }

        model.Eval();
        Tensor logits = model.Forward(testImages);       // inference: no graph is recorded
        model.Save(modelPath);                           // parameters and buffers; model.Load(modelPath) restores them

        try
        {
            int correct = Enumerable.Range(0, testLabels.Length)
                .Count(i => System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.AsSpan().Slice(i * 10, 10)) == testLabels[i]);
            // Chance is 100 of 1000; this seeded run gets 876.
            Assert.True(correct > 800, $"{correct} of 1000 test digits right.");
            Assert.All(model.Parameters(), p => Assert.NotNull(p.Grad));
            var restored = new Sequential(new Flatten(), new Linear(28 * 28, 128), new ReLU(), new Linear(128, 10));
            restored.Load(modelPath);
            Assert.Equal(logits.AsSpan().ToArray(), restored.Forward(testImages).AsSpan().ToArray());
        }
        finally
        {
            File.Delete(modelPath);
        }
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
    public void Workflows_example()
    {
        string dir = Path.Combine(Path.GetTempPath(), "quantization-readme-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        string mlpPath = Path.Combine(dir, "mlp.qnn"), cnnPath = Path.Combine(dir, "cnn.qnn"), int8Path = Path.Combine(dir, "cnn-int8.qnn");
        var mnist = MnistFixture.Digits.Value;
        var (images, labels) = mnist.ToTensors(Enumerable.Range(0, 10).Select(i => i * 997).ToArray().Concat(Enumerable.Range(0, 502).Select(i => i * 19)).ToArray());
        Init.ManualSeed(5);
        MnistModels.Mlp().Save(mlpPath);
        var floatCnn = MnistModels.Cnn();
        Training.Fit(floatCnn, new Adam(floatCnn.Parameters(), 2e-3f), new DataLoader(images, labels, 64, shuffle: true, seed: 1), epochs: 1);
        floatCnn.Save(cnnPath);
        Tensor[] calibrationBatches = [.. new DataLoader(images, labels, 128).Select(b => b.Inputs)];
        var trainLoader = new DataLoader(images, labels, 64, shuffle: true, seed: 2);
        try
        {
            // 1. Dynamic: Linear (and LSTM) weights become INT8; activations are quantized per call. No calibration.
            Module mlp = MnistModels.Mlp();
            mlp.Load(mlpPath);
            Module dynamicMlp = Quantizer.QuantizeDynamic(mlp.Eval());

            // 2. Static: stubs around the model (QuantWrapper), fuse conv+bn+relu, observe, calibrate, convert.
            Module TrainedCnn() { Module m = MnistModels.Cnn(); m.Load(cnnPath); return m; }
            string[][] blocks = [["module.features.0", "module.features.1", "module.features.2"],
                                 ["module.features.4", "module.features.5", "module.features.6"]];
            var cnn = new QuantWrapper(TrainedCnn());
            Quantizer.FuseModules(cnn.Eval(), blocks);
            Module prepared = Quantizer.Prepare(cnn, QConfig.GetDefault(QuantBackend.X86));
            foreach (Tensor batch in calibrationBatches)
                prepared.Forward(batch);
            Module staticCnn = Quantizer.Convert(prepared);
            staticCnn.Save(int8Path);                        // INT8 weights: about a quarter of the float file

            // 3. Quantization-aware training: fake quantization in the forward pass, straight-through gradients.
            var qat = new QuantWrapper(TrainedCnn());
            Quantizer.FuseModulesQat(qat, blocks);            // batch norms keep training until Convert folds them
            Module training = Quantizer.PrepareQat(qat, QConfig.GetDefaultQat(QuantBackend.X86));
            Training.Fit(training, new Adam(training.Parameters(), 1e-4f), trainLoader, epochs: 1);
            Quantizer.DisableObservers(training);
            Quantizer.FreezeBatchNormStats(training);
            Module qatCnn = Quantizer.Convert(training.Eval());

            // 4. A saved quantized model: quantize the float architecture the same way, then load the INT8 state.
            var again = new QuantWrapper(MnistModels.Cnn());
            Quantizer.FuseModules(again.Eval(), blocks);
            Module loaded = Quantizer.Quantize(again, QConfig.GetDefault(QuantBackend.X86), m => m.Forward(calibrationBatches[0]));
            loaded.Load(int8Path);

            // Which layers lose accuracy? Per-layer weight and output SQNR against the (fused) float model.
            foreach (LayerComparison layer in Quantizer.CompareModels(cnn, staticCnn, calibrationBatches[0]))
                Console.WriteLine($"{layer.Name}: weights {layer.WeightSqnr:F1} dB, output {layer.OutputSqnr:F1} dB");

            Assert.Equal(3, dynamicMlp.NamedModules().Count(m => m.Module is Quantization.Nn.Quantized.DynamicQuantizedLinear));
            Assert.Equal(2, staticCnn.NamedModules().Count(m => m.Module is Quantization.Nn.Quantized.QuantizedConv2d));
            Assert.Equal(2, qatCnn.NamedModules().Count(m => m.Module is Quantization.Nn.Quantized.QuantizedConv2d));
            Assert.True(new FileInfo(cnnPath).Length > 3.8 * new FileInfo(int8Path).Length);
            Assert.Equal(staticCnn.Forward(calibrationBatches[1]).AsSpan().ToArray(), loaded.Forward(calibrationBatches[1]).AsSpan().ToArray());
            double agree = Training.Accuracy(staticCnn, images, [.. Enumerable.Range(0, labels.Length).Select(i => Argmax(floatCnn.Eval().Forward(new Tensor(images.AsSpan().Slice(i * 784, 784), 1, 1, 28, 28))))]);
            Assert.True(agree > 0.95, $"INT8 agrees with FP32 on {agree:P1} of the digits");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        static int Argmax(Tensor logits) => System.Numerics.Tensors.TensorPrimitives.IndexOfMax(logits.AsSpan());
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
        var reused = new Dictionary<string, Tensor>();
        module.Run(new Dictionary<string, Tensor> { ["onnx::Flatten_0"] = features }, reused);   // later runs write into reused's tensors

        var held = reused["39"];
        module.Run(new Dictionary<string, Tensor> { ["onnx::Flatten_0"] = features }, reused);
        Assert.Same(held, reused["39"]);
        Assert.Equal(score.AsSpan().ToArray(), held.AsSpan().ToArray());
        Assert.Equal([1, 1], score.Shape.ToArray());
        Assert.InRange(score.AsSpan()[0], 0f, 1f);
        Assert.Equal(score.AsSpan().ToArray(), outputs["39"].AsSpan().ToArray());
        Assert.Equal("layer1_Gemm", firstLayer);
        Assert.IsType<Quantization.Nn.Linear>(module.GetSubmodule(firstLayer));
    }

    [Fact]
    public void Onnx_export_example()
    {
        string classifierPath = Path.Combine(new AssetCache().GetPackageDirectory(AssetPackages.OcrModels), "assets", "ch_ppocr_mobile_v2.0_cls_infer.onnx");
        var rng = new Random(7);
        var calibrationImages = new List<Tensor>();
        for (int i = 0; i < 2; i++)
        {
            var image = new Tensor(2, 3, 48, 192);
            foreach (ref float v in image.AsSpan())
                v = (float)(rng.NextDouble() * 2 - 1);
            calibrationImages.Add(image);
        }

        string int8Path = Path.GetTempFileName(), smallPath = Path.GetTempFileName();
        try
        {
            OnnxModel original = OnnxModel.Load(classifierPath);                      // PP-OCR's text-orientation classifier
            GraphModule graph = Quantizer.FoldBatchNorms(original.ToGraphModule());   // Conv -> BatchNormalization becomes one Conv
            Quantizer.Prepare(graph, new QConfigMapping().SetGlobal(QConfig.GetDefault()), perLayer: true);
            foreach (Tensor batch in calibrationImages)                               // [N, 3, 48, 192]
                graph.Run(new Dictionary<string, Tensor> { ["x"] = batch });
            Quantizer.Convert(graph);                                                 // each Conv/Gemm/MatMul: a QdqLayer on our INT8 kernels
            OnnxExporter.SaveQdq(original, graph, int8Path);                          // or SaveQdq(original, graph, stream)
            OnnxExporter.Save(original, graph, smallPath,                             // QLinearConv instead of QDQ groups: 30 % of FP32
                new OnnxExportOptions { Format = QuantFormat.QOperator, CompactNames = true });

            Assert.Equal(53, graph.NamedModules().Count(m => m.Module is Quantization.Nn.Quantized.QdqLayer { Layer: Quantization.Nn.Quantized.QuantizedConv2d }));
            OnnxModel exported = OnnxModel.Load(int8Path);
            Assert.Equal(13, exported.OpsetVersion);
            Assert.Contains("QuantizeLinear", exported.Graph.CountOpTypes().Keys);
            Assert.True(new FileInfo(int8Path).Length < 0.45 * new FileInfo(classifierPath).Length);
            Assert.Equal(53, OnnxModel.Load(smallPath).Graph.CountOpTypes()["QLinearConv"]);
            Assert.True(new FileInfo(smallPath).Length <= 0.3 * new FileInfo(classifierPath).Length);
        }
        finally
        {
            File.Delete(int8Path);
            File.Delete(smallPath);
        }
    }

    [Fact]
    public void Onnx_quantization_example()
    {
        string wakeWordPath = Path.Combine(new AssetCache().GetPackageDirectory(AssetPackages.OpenWakeWord), "models", "hello_deepa.onnx");
        string classifierPath = Path.Combine(new AssetCache().GetPackageDirectory(AssetPackages.OcrModels), "assets", "ch_ppocr_mobile_v2.0_cls_infer.onnx");
        var random = new Random(5);
        var calibrationInputs = Enumerable.Range(0, 3).Select(_ =>
        {
            var x = new Tensor(1, 3, 48, 192);
            foreach (ref float v in x.AsSpan())
                v = random.NextSingle() * 2 - 1;
            return (IReadOnlyDictionary<string, Tensor>)new Dictionary<string, Tensor> { ["x"] = x };
        }).ToList();
        CancellationToken cancellationToken = TestContext.Current.CancellationToken;

        // Dynamic: no calibration.
        GraphModule wakeWord = OnnxQuantizer.QuantizeDynamic(OnnxModel.Load(wakeWordPath).ToGraphModule());

        // Static: calibrate, with progress and cancellation; keep the first convolution and the 2 worst nodes in FP32.
        GraphModule classifier = OnnxQuantizer.QuantizeStatic(OnnxModel.Load(classifierPath).ToGraphModule(), calibrationInputs,
            new StaticQuantizationOptions { ExcludeNodes = ["p2o.Conv.0"], KeepWorstInFp32 = 2 },
            new Progress<CalibrationProgress>(p => Console.Write($"\r{p.Stage}: {p.SamplesProcessed} samples")), cancellationToken);

        // Which nodes lose accuracy? Sort by their own SQNR against the float graph.
        GraphModule floatClassifier = OnnxModel.Load(classifierPath).ToGraphModule();
        foreach (NodeComparison node in OnnxQuantizer.CompareNodes(floatClassifier, classifier, calibrationInputs, cancellationToken).OrderBy(n => n.LayerSqnr).Take(3))
            Console.WriteLine($"{node.NodeName} ({node.OpType}): own {node.LayerSqnr:F1} dB, in the graph {node.OutputSqnr:F1} dB");

        Assert.Equal(3, wakeWord.NamedModules().Count(m => m.Module is Quantization.Nn.Quantized.DynamicQuantizedLinear));
        Assert.Equal(53 - 1 - 2 + 1, classifier.NamedModules().Count(m => m.Module is Quantization.Nn.Quantized.QdqLayer));
        Assert.Equal(classifier.NamedModules().Count(m => m.Module is Quantization.Nn.Quantized.QdqLayer), OnnxQuantizer.CompareNodes(floatClassifier, classifier, calibrationInputs, cancellationToken).Count);
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
