using Quantization.Nn;
using Quantization.Nn.Intrinsic;
using Quantization.Nn.Quantized;

namespace Quantization.Workflows;

/// <summary>How much one quantized layer differs from the float layer it replaced (signal-to-quantization-noise ratios, dB).</summary>
/// <param name="Name">The layer's dotted name, the same in both models.</param>
/// <param name="FloatType">The float layer's type.</param>
/// <param name="QuantizedType">The quantized layer's type.</param>
/// <param name="WeightSqnr">The SQNR of the dequantized weights against the float ones, or null for a layer without weights.</param>
/// <param name="OutputSqnr">The SQNR of the layer's (dequantized) output against the float layer's output on the same model input.</param>
public sealed record LayerComparison(string Name, string FloatType, string QuantizedType, double? WeightSqnr, double OutputSqnr);

public static partial class Quantizer
{
    /// <summary>
    /// Runs <paramref name="input"/> through a float model and its quantized version and compares them layer by layer
    /// (PyTorch's numeric suite): for every quantized layer, the SQNR of its weights and of its output against the
    /// float layer at the same name. Low values point at the layers that lose accuracy. Compare with the float model
    /// fused the same way (<see cref="FuseModules"/>), so that fused layers have float counterparts that compute the
    /// same thing. Both models are left as they were (in evaluation mode).
    /// </summary>
    /// <param name="floatModel">The float model.</param>
    /// <param name="quantizedModel">The model returned by <see cref="Convert"/> or <see cref="QuantizeDynamic(Module, IEnumerable{Type}?, QConfig?, QuantDType)"/>.</param>
    /// <param name="input">A representative input batch.</param>
    /// <returns>One entry per quantized layer that has a float counterpart, in model order.</returns>
    /// <exception cref="ArgumentException">The quantized model has no quantized layers.</exception>
    public static IReadOnlyList<LayerComparison> CompareModels(Module floatModel, Module quantizedModel, Tensor input)
    {
        ArgumentNullException.ThrowIfNull(floatModel);
        ArgumentNullException.ThrowIfNull(quantizedModel);
        ArgumentNullException.ThrowIfNull(input);
        var layers = quantizedModel.NamedModules()
            .Where(m => m.Name.Length > 0 && m.Module is QuantizedLinear or QuantizedConv2d or DynamicQuantizedLinear or QuantizedFallback or QdqLayer)
            .Select(m => (m.Name, Quantized: m.Module, Float: TryGetSubmodule(floatModel, m.Name)))
            .Where(m => m.Float is not null)
            .ToList();
        if (layers.Count == 0)
            throw new ArgumentException("The quantized model has no quantized layers with float counterparts of the same name.", nameof(quantizedModel));

        var floatOutputs = Record(floatModel, layers.Select(l => l.Name), input);
        var quantizedOutputs = Record(quantizedModel, layers.Select(l => l.Name), input);
        return layers.Select(l => new LayerComparison(
            l.Name, l.Float!.GetType().Name, l.Quantized.GetType().Name,
            FloatWeight(l.Float) is { } w && QuantizedWeight(l.Quantized) is { } q ? Sqnr(w, q.Dequantize()) : null,
            Sqnr(floatOutputs[l.Name], quantizedOutputs[l.Name]))).ToList();
    }

    /// <summary>10 · log10(Σ r² / Σ (r − x)²); +∞ when the two are equal.</summary>
    private static double Sqnr(Tensor reference, Tensor actual)
    {
        double signal = 0, noise = 0;
        var r = reference.AsSpan();
        var x = actual.AsSpan();
        for (int i = 0; i < r.Length; i++)
        {
            double d = (double)r[i] - x[i];
            signal += (double)r[i] * r[i];
            noise += d * d;
        }

        return noise == 0 ? double.PositiveInfinity : 10 * Math.Log10(signal / noise);
    }

    private static Dictionary<string, Tensor> Record(Module model, IEnumerable<string> names, Tensor input)
    {
        var outputs = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var originals = names.Select(name => (name, Module: model.GetSubmodule(name))).ToList();
        try
        {
            foreach (var (name, module) in originals)
                model.SetSubmodule(name, new RecordingModule(module, value => outputs[name] = value));
            model.Eval();
            model.Forward(input);
        }
        finally
        {
            foreach (var (name, module) in originals)
                model.SetSubmodule(name, module);
        }

        return outputs;
    }

    private static Module? TryGetSubmodule(Module model, string name)
    {
        try
        {
            return model.GetSubmodule(name);
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    private static Tensor? FloatWeight(Module module) => module switch
    {
        Linear l => l.Weight.Value,
        Conv2d c => c.Weight.Value,
        LinearReLU f => f.Linear.Weight.Value,
        ConvReLU2d f => f.Conv.Weight.Value,
        _ => null,
    };

    private static QuantizedTensor? QuantizedWeight(Module module) => module switch
    {
        QuantizedLinear l => l.Weight,
        QuantizedConv2d c => c.Weight,
        DynamicQuantizedLinear d => d.Weight,
        QdqLayer q => QuantizedWeight(q.Layer),
        _ => null,
    };

    /// <summary>Passes data through a layer and hands its output, as FP32, to a callback.</summary>
    private sealed class RecordingModule : Module
    {
        private readonly Module _module;
        private readonly Action<Tensor> _record;

        public RecordingModule(Module module, Action<Tensor> record)
        {
            _module = module;
            _record = record;
        }

        public override Variable Forward(Variable input)
        {
            var output = _module.Forward(input);
            _record(output.Value);
            return output;
        }
    }
}
