using Quantization.Nn;
using Quantization.Nn.Intrinsic;
using Quantization.Nn.Quantized;

namespace Quantization.Workflows;

public static partial class Quantizer
{
    /// <summary>
    /// Dynamic quantization (PyTorch's <c>quantize_dynamic</c>): every layer of the given types (default
    /// <see cref="Linear"/> and <see cref="LinearReLU"/>) becomes its dynamically quantized form — s8 weights packed
    /// once, activations quantized per call, FP32 in and out. No calibration is needed. Pass <see cref="LSTM"/> too
    /// to quantize LSTMs (<see cref="DynamicQuantizedLSTM"/>).
    /// </summary>
    /// <param name="model">The float model; changed in place.</param>
    /// <param name="moduleTypes">The layer types to quantize (default: Linear and LinearReLU).</param>
    /// <param name="qconfig">The configuration (default <see cref="QConfig.GetDefaultDynamic"/>): its weight observer, and its activation observer's reduce_range.</param>
    /// <param name="dtype">The weight type; only <see cref="QuantDType.QInt8"/> is supported.</param>
    /// <returns>The model.</returns>
    /// <exception cref="ArgumentException">A type has no dynamic form, or <paramref name="dtype"/> is not QInt8.</exception>
    /// <exception cref="InvalidOperationException">The model is already prepared or quantized.</exception>
    public static Module QuantizeDynamic(Module model, IEnumerable<Type>? moduleTypes = null, QConfig? qconfig = null, QuantDType dtype = QuantDType.QInt8)
    {
        ArgumentNullException.ThrowIfNull(model);
        var types = (moduleTypes ?? [typeof(Linear), typeof(LinearReLU)]).ToHashSet();
        var unsupported = types.Where(t => !HasDynamicForm(t)).ToList();
        if (unsupported.Count > 0)
            throw new ArgumentException($"No dynamically quantized form for {string.Join(", ", unsupported.Select(t => t.Name))}; supported are Linear, LinearReLU and LSTM.", nameof(moduleTypes));
        return QuantizeDynamic(model, (_, module) => types.Contains(module.GetType()), qconfig, dtype);
    }

    /// <summary>Dynamic quantization of the layers at the given dotted names; see <see cref="QuantizeDynamic(Module, IEnumerable{Type}?, QConfig?, QuantDType)"/>.</summary>
    /// <exception cref="ArgumentException">A name matches no module, or names a layer without a dynamic form.</exception>
    public static Module QuantizeDynamic(Module model, IEnumerable<string> names, QConfig? qconfig = null, QuantDType dtype = QuantDType.QInt8)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(names);
        var set = names.ToHashSet(StringComparer.Ordinal);
        foreach (string name in set)
        {
            var module = model.GetSubmodule(name);
            if (!HasDynamicForm(module.GetType()))
                throw new ArgumentException($"'{name}' is a {module.GetType().Name}, which has no dynamically quantized form; supported are Linear, LinearReLU and LSTM.", nameof(names));
        }

        return QuantizeDynamic(model, (name, _) => set.Contains(name), qconfig, dtype);
    }

    private static Module QuantizeDynamic(Module model, Func<string, Module, bool> selected, QConfig? qconfig, QuantDType dtype)
    {
        if (dtype != QuantDType.QInt8)
            throw new ArgumentException($"Dynamic quantization supports QInt8 weights, not {dtype}.", nameof(dtype));
        EnsureFloat(model, nameof(QuantizeDynamic));
        qconfig ??= QConfig.GetDefaultDynamic();
        bool reduceRange = qconfig.Activation().Options.ReduceRange;
        return Rewrite(model, (name, module) =>
        {
            if (!selected(name, module))
                return null;
            return module switch
            {
                Linear linear => new DynamicQuantizedLinear(new QuantizedOutputStage(linear.Weight.Value, linear.Bias?.Value, qconfig.Weight(), relu: false), reduceRange),
                LinearReLU fused => new DynamicQuantizedLinear(new QuantizedOutputStage(fused.Linear.Weight.Value, fused.Linear.Bias?.Value, qconfig.Weight(), relu: true), reduceRange),
                LSTM lstm => new DynamicQuantizedLSTM(lstm, qconfig.Weight, reduceRange),
                _ => null,
            };
        });
    }

    private static bool HasDynamicForm(Type type) => type == typeof(Linear) || type == typeof(LinearReLU) || type == typeof(LSTM);
}
