using System.Diagnostics;
using Quantization.Nn;
using Quantization.Nn.Intrinsic;
using Quantization.Nn.Qat;
using Quantization.Nn.Quantized;

namespace Quantization.Workflows;

/// <summary>
/// The eager-mode quantization workflows of PyTorch's <c>torch.ao.quantization</c>: <see cref="FuseModules"/>,
/// static <see cref="Prepare(Module, QConfig)"/> → calibrate → <see cref="Convert"/>, <see cref="QuantizeDynamic(Module, IEnumerable{Type}?, QConfig?, QuantDType)"/>
/// and quantization-aware training with <see cref="PrepareQat(Module, QConfig)"/>.
/// </summary>
/// <remarks>
/// <para>
/// Every workflow changes the model in place (PyTorch's <c>inplace=True</c>) by replacing children, and returns the
/// model; use the returned module, which is a new object only when the model itself is a single layer that gets
/// replaced. A custom module must therefore reach its children through the module tree at forward time (for
/// example <see cref="Sequential"/>, or <see cref="Module.GetSubmodule"/> by name), not through fields captured
/// when it was built.
/// </para>
/// <para>
/// Static quantization follows PyTorch's eager mode: a <see cref="QuantStub"/> marks where FP32 data becomes QUInt8
/// and a <see cref="DeQuantStub"/> where it becomes FP32 again; in between, quantized layers pass INT8 tensors to each
/// other. ReLU, ReLU6, max and average pooling, Flatten, Dropout and Identity work on quantized data directly and
/// need no observer; Sigmoid and Hardsigmoid produce PyTorch's fixed output parameters (scale 1/256, zero point 0). A configured layer without an integer kernel runs in FP32 between a dequantize and a quantize
/// (<see cref="QuantizedFallback"/>), and <see cref="Convert"/> reports it.
/// </para>
/// </remarks>
public static partial class Quantizer
{
    /// <summary>
    /// Fuses groups of layers for inference (PyTorch's <c>fuse_modules</c>): Conv2d+BatchNorm2d → Conv2d with the
    /// batch norm folded in; Conv2d+BatchNorm2d+ReLU and Conv2d+ReLU → <see cref="ConvReLU2d"/>; Linear+ReLU →
    /// <see cref="LinearReLU"/>; Linear+BatchNorm1d → Linear with the batch norm folded in. The fused module takes the
    /// first name of its group and the others become <see cref="Identity"/>. Batch norms must be in evaluation mode.
    /// </summary>
    /// <param name="model">The model; changed in place.</param>
    /// <param name="groups">Dotted names of consecutive layers, e.g. <c>["features.0", "features.1", "features.2"]</c>.</param>
    /// <returns>The model.</returns>
    /// <exception cref="ArgumentException">A name matches no module, a group's types match no pattern, the channel counts differ, or a batch norm is in training mode.</exception>
    public static Module FuseModules(Module model, IEnumerable<IReadOnlyList<string>> groups) => Fuse(model, groups, qat: false);

    /// <summary>
    /// Fuses groups of layers for quantization-aware training (PyTorch's <c>fuse_modules_qat</c>): as
    /// <see cref="FuseModules"/>, except that Conv2d+BatchNorm2d(+ReLU) become <see cref="ConvBn2d"/> /
    /// <see cref="ConvBnReLU2d"/>, whose batch norm keeps training until <see cref="Convert"/> folds it.
    /// Linear+BatchNorm1d is folded with the running statistics in both variants.
    /// </summary>
    /// <inheritdoc cref="FuseModules"/>
    public static Module FuseModulesQat(Module model, IEnumerable<IReadOnlyList<string>> groups) => Fuse(model, groups, qat: true);

    /// <summary>Prepares every layer of <paramref name="model"/> with one configuration; see <see cref="Prepare(Module, QConfigMapping, bool)"/>.</summary>
    public static Module Prepare(Module model, QConfig qconfig)
    {
        ArgumentNullException.ThrowIfNull(qconfig);
        return Prepare(model, new QConfigMapping().SetGlobal(qconfig));
    }

    /// <summary>
    /// Inserts observers for post-training static quantization (PyTorch's <c>prepare</c>): every configured layer
    /// that computes new values (Linear, Conv2d, fused modules, <see cref="QuantStub"/>, other float layers) is wrapped
    /// in an <see cref="ObservedModule"/> that records its outputs, and every configured <see cref="FloatFunctional"/>
    /// gets an observer. Then run calibration data through the model (in evaluation mode) and call <see cref="Convert"/>.
    /// </summary>
    /// <param name="model">The float model; changed in place.</param>
    /// <param name="mapping">Which configuration each layer gets; layers with a null configuration stay float.</param>
    /// <param name="perLayer">
    /// Instead of PyTorch's stub-delimited regions, quantize each configured Linear, Conv2d or fused layer on its own:
    /// its input is observed too, and <see cref="Convert"/> makes it quantize its FP32 input, run the INT8 kernel and
    /// dequantize its output (<see cref="QdqLayer"/>, the way ONNX QDQ models run). No stubs are needed and other
    /// layers stay FP32, which suits models whose forward is not a chain of modules, such as imported graphs.
    /// </param>
    /// <returns>The prepared model.</returns>
    /// <exception cref="InvalidOperationException">The model is already prepared or quantized.</exception>
    /// <exception cref="ArgumentException">The mapping names a module the model lacks, or an activation observer is not per-tensor QUInt8.</exception>
    public static Module Prepare(Module model, QConfigMapping mapping, bool perLayer = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(mapping);
        EnsureFloat(model, nameof(Prepare));
        var qconfigs = mapping.Resolve(model);
        return Rewrite(model, (name, module) =>
        {
            if (qconfigs[name] is not { } qconfig || !IsLeaf(module))
                return null;
            if (perLayer)
            {
                return module is Linear or Conv2d or LinearReLU or ConvReLU2d or ConvBn2d or ConvBnReLU2d
                    ? new ObservedModule(module, ActivationObserver(qconfig, name), qconfig, fakeQuantize: false, ActivationObserver(qconfig, name))
                    : module;
            }

            if (module is FloatFunctional functional)
            {
                functional.Observe(ActivationObserver(qconfig, name), fakeQuantize: false);
                return functional;
            }

            return WorksOnQuantizedData(module) ? module : new ObservedModule(module, ActivationObserver(qconfig, name), qconfig, fakeQuantize: false);
        });
    }

    /// <summary>
    /// Replaces every observed layer by its quantized form (PyTorch's <c>convert</c>): weights are quantized by the
    /// configuration's weight observer and packed once, outputs use the calibrated scale and zero point, and stubs
    /// become <see cref="Nn.Quantized.Quantize"/>. Layers quantized by <see cref="PrepareQat(Module, QConfig)"/> take
    /// the parameters their fake quantization learned, with batch norms folded.
    /// </summary>
    /// <param name="model">A prepared and calibrated (or QAT-trained) model; changed in place.</param>
    /// <param name="log">Receives one message per layer that stays in FP32 (default: <see cref="Trace.TraceWarning(string)"/>).</param>
    /// <returns>The quantized model.</returns>
    /// <exception cref="InvalidOperationException">The model was not prepared, or some observers saw no data (the message names them).</exception>
    public static Module Convert(Module model, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        log ??= message => Trace.TraceWarning(message);
        var observed = model.NamedModules().Where(m => m.Module is ObservedModule or FloatFunctional { Observer: not null } or IQatModule).ToList();
        if (observed.Count == 0)
            throw new InvalidOperationException("The model has no observers: call Quantizer.Prepare (or PrepareQat) and calibrate it before Convert.");
        var empty = observed.Where(m => !HasData(m.Module)).Select(m => m.Name.Length == 0 ? "(root)" : $"'{m.Name}'").ToList();
        if (empty.Count > 0)
            throw new InvalidOperationException($"Calibration saw no data for {string.Join(", ", empty)}: run representative inputs through the prepared model before Convert.");

        return Rewrite(model, (name, module) => module switch
        {
            ObservedModule o => ConvertObserved(name, o, log),
            FloatFunctional { Observer: { } observer } f => ConvertFunctional(f, observer.CalculateQParams(), name),
            IQatModule qat => qat.ToQuantized(),
            _ => null,
        });
    }

    /// <summary>
    /// Static quantization in one call: <see cref="Prepare(Module, QConfig)"/>, then <paramref name="calibrate"/> runs
    /// representative data through the prepared model (in evaluation mode, without gradients), then <see cref="Convert"/>.
    /// </summary>
    /// <exception cref="InvalidOperationException">Calibration ran no data through some observed layer.</exception>
    public static Module Quantize(Module model, QConfig qconfig, Action<Module> calibrate, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(calibrate);
        var prepared = Prepare(model, qconfig);
        prepared.Eval();
        using (Autograd.NoGrad())
            calibrate(prepared);
        return Convert(prepared, log);
    }

    private static Module Fuse(Module model, IEnumerable<IReadOnlyList<string>> groups, bool qat)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(groups);
        foreach (var group in groups)
        {
            ArgumentNullException.ThrowIfNull(group, nameof(groups));
            var modules = group.Select(name => Find(model, name, group)).ToArray();
            var fused = FusePattern(modules, qat) ?? throw new ArgumentException(
                $"Cannot fuse [{string.Join(", ", group)}]: types ({string.Join(", ", modules.Select(m => m.GetType().Name))}) match no pattern; supported are Conv2d+BatchNorm2d(+ReLU), Conv2d+ReLU, Linear+ReLU and Linear+BatchNorm1d.", nameof(groups));
            model.SetSubmodule(group[0], fused);
            foreach (string name in group.Skip(1))
                model.SetSubmodule(name, new Identity());
        }

        return model;
    }

    private static Module? FusePattern(Module[] m, bool qat) => m switch
    {
        [Conv2d conv, BatchNorm2d bn] => qat ? new ConvBn2d(conv, bn) : BatchNormFolding.Fold(conv, EvalOnly(bn)),
        [Conv2d conv, BatchNorm2d bn, ReLU relu] => qat ? new ConvBnReLU2d(conv, bn, relu) : new ConvReLU2d(BatchNormFolding.Fold(conv, EvalOnly(bn)), relu),
        [Conv2d conv, ReLU relu] => new ConvReLU2d(conv, relu),
        [Linear linear, ReLU relu] => new LinearReLU(linear, relu),
        [Linear linear, BatchNorm1d bn] => BatchNormFolding.Fold(linear, bn),
        _ => null,
    };

    private static BatchNorm EvalOnly(BatchNorm bn) => bn.IsTraining
        ? throw new ArgumentException("Folding a batch norm needs evaluation mode (its running statistics): call model.Eval() first, or use FuseModulesQat for training.", "groups")
        : bn;

    private static Module Find(Module model, string name, IReadOnlyList<string> group)
    {
        try
        {
            return model.GetSubmodule(name);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"Cannot fuse [{string.Join(", ", group)}]: {e.Message}", "groups", e);
        }
    }

    private static Module ConvertObserved(string name, ObservedModule observed, Action<string> log)
    {
        var layer = ConvertObservedLayer(name, observed, log);
        return observed.InputObserver is null ? layer : new QdqLayer(observed.InputObserver.CalculateQParams(), layer);
    }

    private static Module ConvertObservedLayer(string name, ObservedModule observed, Action<string> log)
    {
        var output = observed.Observer.CalculateQParams();
        var weightObserver = observed.QConfig.Weight;
        switch (observed.Module)
        {
            case QuantStub:
                return new Nn.Quantized.Quantize(output);
            case Linear linear:
                return new QuantizedLinear(new QuantizedOutputStage(linear.Weight.Value, linear.Bias?.Value, weightObserver(), relu: false), output);
            case LinearReLU fused:
                return new QuantizedLinear(new QuantizedOutputStage(fused.Linear.Weight.Value, fused.Linear.Bias?.Value, weightObserver(), relu: true), output);
            case Conv2d conv:
                return new QuantizedConv2d(conv.Geometry, new QuantizedOutputStage(conv.Weight.Value, conv.Bias?.Value, weightObserver(), relu: false), output);
            case ConvReLU2d fused:
                return new QuantizedConv2d(fused.Conv.Geometry, new QuantizedOutputStage(fused.Conv.Weight.Value, fused.Conv.Bias?.Value, weightObserver(), relu: true), output);
            case ConvBn2d or ConvBnReLU2d:
                var conv2 = observed.Module is ConvBn2d cb ? cb.Conv : ((ConvBnReLU2d)observed.Module).Conv;
                var bn = observed.Module is ConvBn2d cb2 ? cb2.BatchNorm : ((ConvBnReLU2d)observed.Module).BatchNorm;
                var folded = BatchNormFolding.Fold(conv2, bn);
                return new QuantizedConv2d(folded.Geometry, new QuantizedOutputStage(folded.Weight.Value, folded.Bias?.Value, weightObserver(), relu: observed.Module is ConvBnReLU2d), output);
            case Hardswish:
                return new QuantizedHardswish(output);
            default:
                log($"'{(name.Length == 0 ? "(root)" : name)}' ({observed.Module.GetType().Name}) has no quantized kernel; it runs in FP32 between a dequantize and a quantize.");
                return new QuantizedFallback(observed.Module, output);
        }
    }

    private static FloatFunctional ConvertFunctional(FloatFunctional functional, QuantParams output, string name)
    {
        CheckActivation(output, name);
        functional.ConvertToQuantized(output);
        return functional;
    }

    private static bool HasData(Module module) => module switch
    {
        ObservedModule o => o.Observer.HasObservedData && o.InputObserver?.HasObservedData != false,
        FloatFunctional f => f.Observer!.HasObservedData,
        IQatModule q => q.HasObservedData,
        _ => true,
    };

    /// <summary>
    /// Rebuilds the tree depth first: <paramref name="replace"/> returns a replacement for a module (which is then not
    /// descended into; the same instance when it was changed in place) or null to descend into its children.
    /// </summary>
    private static Module Rewrite(Module root, Func<string, Module, Module?> replace)
    {
        var rootReplacement = replace("", root);
        if (rootReplacement is not null)
            return rootReplacement;
        Visit("", root);
        return root;

        void Visit(string prefix, Module parent)
        {
            foreach (var (childName, child) in parent.NamedChildren().ToList())
            {
                string name = prefix.Length == 0 ? childName : prefix + "." + childName;
                var replacement = replace(name, child);
                if (replacement is null)
                    Visit(name, child);
                else if (!ReferenceEquals(replacement, child))
                    parent.SetSubmodule(childName, replacement);
            }
        }
    }

    /// <summary>Layers quantization treats as units: modules without children, and fused chains.</summary>
    private static bool IsLeaf(Module module) => module is FusedModule || !module.Children().Any();

    /// <summary>Layers that compute on quantized data and keep its parameters, so they need no observer.</summary>
    private static bool WorksOnQuantizedData(Module module) =>
        module is ReLU or ReLU6 or MaxPool2d or AvgPool2d or AdaptiveAvgPool2d or Flatten or Dropout or Identity or DeQuantStub
            or Sigmoid or Hardsigmoid;

    private static Observers.Observer ActivationObserver(QConfig qconfig, string name)
    {
        var observer = qconfig.Activation();
        // Symmetric QUInt8 is affine with zero point 128, which the kernels take like any other.
        if (observer.Options.DType != QuantDType.QUInt8 || observer.Options.QScheme.IsPerChannel())
            throw new ArgumentException($"The activation observer of '{name}' targets {observer.Options.DType} {observer.Options.QScheme}; quantized layers take per-tensor QUInt8 activations.", "mapping");
        return observer;
    }

    private static void CheckActivation(QuantParams qparams, string name)
    {
        if (qparams.DType != QuantDType.QUInt8 || qparams.IsPerChannel)
            throw new InvalidOperationException($"The activation parameters of '{name}' are {qparams}; quantized layers take per-tensor QUInt8 activations.");
    }

    private static void EnsureFloat(Module model, string workflow)
    {
        var done = model.NamedModules().FirstOrDefault(m => m.Module is ObservedModule or IQatModule or QuantizedLinear or QuantizedConv2d
            or Nn.Quantized.Quantize or QuantizedFallback or QuantizedHardswish or QdqLayer or DynamicQuantizedLinear or DynamicQuantizedLSTM or FloatFunctional { Observer: not null } or FloatFunctional { IsQuantized: true });
        if (done.Module is not null)
            throw new InvalidOperationException($"{workflow} needs a float model, but '{(done.Name.Length == 0 ? "(root)" : done.Name)}' is already a {done.Module.GetType().Name}.");
    }
}
