using Quantization.Nn;
using Quantization.Nn.Intrinsic;
using Quantization.Nn.Qat;

namespace Quantization.Workflows;

public static partial class Quantizer
{
    /// <summary>Prepares every layer for quantization-aware training with one configuration; see <see cref="PrepareQat(Module, QConfigMapping)"/>.</summary>
    public static Module PrepareQat(Module model, QConfig qconfig)
    {
        ArgumentNullException.ThrowIfNull(qconfig);
        return PrepareQat(model, new QConfigMapping().SetGlobal(qconfig));
    }

    /// <summary>
    /// Prepares a model for quantization-aware training (PyTorch's <c>prepare_qat</c>): Linear, Conv2d and the fused
    /// modules become QAT layers (<see cref="QatLinear"/>, <see cref="QatConv2d"/>, <see cref="QatConvBn2d"/>) that
    /// fake-quantize their weights and outputs and keep training the same parameters; other configured layers,
    /// stubs and <see cref="FloatFunctional"/>s fake-quantize their outputs. Train as usual (the model is put in
    /// training mode), optionally call <see cref="DisableObservers"/> and <see cref="FreezeBatchNormStats"/> for the
    /// last epochs, then <see cref="Convert"/>.
    /// </summary>
    /// <param name="model">The float model (fused with <see cref="FuseModulesQat"/> where wanted); changed in place.</param>
    /// <param name="mapping">Which configuration each layer gets (usually <see cref="QConfig.GetDefaultQat"/>).</param>
    /// <returns>The prepared model, in training mode.</returns>
    /// <exception cref="InvalidOperationException">The model is already prepared or quantized.</exception>
    /// <exception cref="ArgumentException">The mapping names a module the model lacks, or an observer targets an unsupported type.</exception>
    public static Module PrepareQat(Module model, QConfigMapping mapping)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(mapping);
        EnsureFloat(model, nameof(PrepareQat));
        var qconfigs = mapping.Resolve(model);
        var prepared = Rewrite(model, (name, module) =>
        {
            if (qconfigs[name] is not { } qconfig || !IsLeaf(module))
                return null;
            ActivationObserver(qconfig, name);
            switch (module)
            {
                case Linear linear:
                    return new QatLinear(linear, qconfig, relu: false);
                case LinearReLU fused:
                    return new QatLinear(fused.Linear, qconfig, relu: true);
                case Conv2d conv:
                    return new QatConv2d(conv, qconfig, relu: false);
                case ConvReLU2d fused:
                    return new QatConv2d(fused.Conv, qconfig, relu: true);
                case ConvBn2d fused:
                    return new QatConvBn2d(fused.Conv, fused.BatchNorm, qconfig, relu: false);
                case ConvBnReLU2d fused:
                    return new QatConvBn2d(fused.Conv, fused.BatchNorm, qconfig, relu: true);
                case FloatFunctional functional:
                    functional.Observe(ActivationObserver(qconfig, name), fakeQuantize: true);
                    return functional;
                default:
                    return WorksOnQuantizedData(module) ? module : new ObservedModule(module, ActivationObserver(qconfig, name), qconfig, fakeQuantize: true);
            }
        });
        prepared.Train();
        return prepared;
    }

    /// <summary>Stops every <see cref="FakeQuantize"/> of <paramref name="model"/> from updating its observer, freezing the scales and zero points (PyTorch's <c>disable_observer</c>).</summary>
    public static void DisableObservers(Module model) => ForEachFakeQuantize(model, fq => fq.ObserverEnabled = false);

    /// <summary>Lets every <see cref="FakeQuantize"/> of <paramref name="model"/> update its observer again (PyTorch's <c>enable_observer</c>).</summary>
    public static void EnableObservers(Module model) => ForEachFakeQuantize(model, fq => fq.ObserverEnabled = true);

    /// <summary>Makes every <see cref="QatConvBn2d"/> normalize with its running statistics and stop updating them (PyTorch's <c>freeze_bn_stats</c>).</summary>
    public static void FreezeBatchNormStats(Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        foreach (var (_, module) in model.NamedModules())
        {
            if (module is QatConvBn2d convBn)
                convBn.FreezeBatchNorm = true;
        }
    }

    private static void ForEachFakeQuantize(Module model, Action<FakeQuantize> action)
    {
        ArgumentNullException.ThrowIfNull(model);
        foreach (var (_, module) in model.NamedModules())
        {
            if (module is FakeQuantize fq)
                action(fq);
            else if (module is FloatFunctional { FakeQuantize: { } inner })
                action(inner);
        }
    }
}
