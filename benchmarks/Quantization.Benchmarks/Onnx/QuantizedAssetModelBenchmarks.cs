using BenchmarkDotNet.Attributes;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using Quantization.Graph;
using Quantization.Onnx;
using Quantization.Onnx.Export;
using Quantization.Onnx.Quantize;

namespace Quantization.Benchmarks.Onnx;

/// <summary>
/// The asset models quantized by <see cref="OnnxQuantizer"/>, in one run and on the same input: our INT8 execution,
/// ONNX Runtime on the FP32 model (baseline), and ONNX Runtime on the QDQ model <see cref="OnnxExporter"/> writes from
/// our quantized graph; 1 and 2 threads. PP-OCR cls and det are quantized statically (Histogram, per channel, on a
/// few inputs like the measured one; det with its 20 most sensitive nodes FP32), hello_deepa dynamically; ours also
/// writing into the previous run's outputs (<see cref="GraphModule.Run(IReadOnlyDictionary{string, Tensor}, IDictionary{string, Tensor})"/>). ORT
/// sessions use all graph optimizations, so the QDQ model runs on its integer operators. Setup throws unless our INT8 output and ORT's QDQ output agree with the FP32
/// output within a loose bound (the accuracy itself is tested in Quantization.Onnx.Tests).
/// </summary>
[MemoryDiagnoser]
public class QuantizedAssetModelBenchmarks
{
    private GraphModule _graph = null!;
    private Dictionary<string, Tensor> _inputs = [];
    private readonly Dictionary<string, Tensor> _outputs = [];
    private SessionOptions _options = null!;
    private InferenceSession _fp32 = null!;
    private InferenceSession _qdq = null!;
    private List<NamedOnnxValue> _feeds = [];
    private string _qdqPath = "";

    [Params("cls", "det", "hello_deepa")]
    public string Model { get; set; } = "cls";

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Parallelism.ThreadCount = Threads;
        string path = AssetModelBenchmarks.ModelPath(Model);
        var model = OnnxModel.Load(path);
        _graph = model.ToGraphModule();
        _inputs = AssetModelBenchmarks.Inputs(Model);
        if (Model == "hello_deepa")
        {
            OnnxQuantizer.QuantizeDynamic(_graph);
        }
        else
        {
            var calibration = Enumerable.Range(0, 4).Select(i => (IReadOnlyDictionary<string, Tensor>)Perturbed(_inputs, i)).ToList();
            // The detector as the accuracy test deploys it: its 20 most sensitive nodes FP32, ranked by the output's error.
            OnnxQuantizer.QuantizeStatic(_graph, calibration, Model == "det" ? new StaticQuantizationOptions { KeepWorstInFp32 = 20 } : null);
        }

        _qdqPath = Path.Combine(Path.GetTempPath(), $"quantization-bench-{Model}-{Environment.ProcessId}.onnx");
        OnnxExporter.SaveQdq(model, _graph, _qdqPath);
        _options = AssetModelBenchmarks.OrtOptions(Threads);
        _fp32 = new InferenceSession(path, _options);
        _qdq = new InferenceSession(_qdqPath, _options);
        _feeds = _inputs.Select(kv => NamedOnnxValue.CreateFromTensor(kv.Key, new DenseTensor<float>(kv.Value.AsSpan().ToArray(), kv.Value.Shape.ToArray()))).ToList();
        CheckAgreement();
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _fp32.Dispose();
        _qdq.Dispose();
        _options.Dispose();
        File.Delete(_qdqPath);
    }

    [Benchmark(Baseline = true)]
    public void OrtFp32()
    {
        using var results = _fp32.Run(_feeds);
    }

    [Benchmark]
    public void OrtOurQdq()
    {
        using var results = _qdq.Run(_feeds);
    }

    [Benchmark]
    public IReadOnlyDictionary<string, Tensor> OursInt8() => _graph.Run(_inputs);

    /// <summary>Ours writing into the outputs of the previous run, as a loop over frames would (no new output memory).</summary>
    [Benchmark]
    public IDictionary<string, Tensor> OursInt8ReusedOutputs()
    {
        _graph.Run(_inputs, _outputs);
        return _outputs;
    }

    /// <summary>
    /// Both INT8 executions must stay near FP32: a mean absolute difference within 5% of the output's range (single
    /// pixels of a probability map may flip; a broken model is far off everywhere).
    /// </summary>
    private void CheckAgreement()
    {
        var ours = _graph.Run(_inputs);
        using var fp32 = _fp32.Run(_feeds);
        using var qdq = _qdq.Run(_feeds);
        foreach (var expected in fp32)
        {
            float[] reference = expected.AsTensor<float>().ToArray();
            float[] exported = qdq.First(r => r.Name == expected.Name).AsTensor<float>().ToArray();
            ReadOnlySpan<float> actual = ours[expected.Name].AsSpan();
            double range = Math.Max(reference.Max(v => Math.Abs(v)), 1e-6), ourError = 0, exportedError = 0;
            for (int i = 0; i < reference.Length; i++)
            {
                ourError += Math.Abs(reference[i] - actual[i]) / reference.Length;
                exportedError += Math.Abs(reference[i] - exported[i]) / reference.Length;
            }

            if (ourError > 0.05 * range || exportedError > 0.05 * range)
                throw new InvalidOperationException($"{Model} {expected.Name}: INT8 differs from FP32 by {ourError} (ours) and {exportedError} (ORT on the QDQ export) on average; largest |value| {range}.");
        }
    }

    /// <summary>The measured input with a little seeded noise: calibration data of the same kind, not the same values.</summary>
    private static Dictionary<string, Tensor> Perturbed(Dictionary<string, Tensor> inputs, int seed)
    {
        var rng = new Random(seed);
        return inputs.ToDictionary(kv => kv.Key, kv =>
        {
            var t = kv.Value.Clone();
            foreach (ref float v in t.AsSpan())
                v += (float)(rng.NextDouble() - 0.5) * 0.2f;
            return t;
        });
    }
}
