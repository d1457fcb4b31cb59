using Quantization.Graph;
using Quantization.Nn;
using Quantization.Observers;
using Quantization.Workflows;

namespace Quantization.Onnx.Quantize;

/// <summary>
/// Post-training quantization of imported graphs (ONNX Runtime's <c>quantize_dynamic</c> and
/// <c>quantize_static</c>, natively): the layer nodes of a <see cref="GraphModule"/> — <c>Gemm</c> and <c>MatMul</c>
/// by constant weights (<see cref="Linear"/> children) and <c>Conv</c> (<see cref="Conv2d"/> children) — run on the
/// INT8 kernels; every other node stays FP32.
/// </summary>
/// <remarks>
/// Both methods change the graph in place (they swap its layer children, as <see cref="Quantizer"/> does) and return
/// it; load the model again for a float copy. ONNX conventions apply: symmetric QInt8 weights use [-127, 127]
/// (scale = max|w| / 127), activations are QUInt8. Other nodes with weights (<c>ConvTranspose</c>, <c>LSTM</c>,
/// <c>BatchNormalization</c>) stay FP32. A quantized layer first absorbs a batch norm and a ReLU that alone read its
/// output (PyTorch's Conv+BN+ReLU fusion, ONNX Runtime's pre-processing and Conv+Relu fusion); the FP32 results do not
/// change beyond the folding's rounding.
/// </remarks>
public static partial class OnnxQuantizer
{
    /// <summary>
    /// Dynamic quantization: the weights of every selected <c>Gemm</c>/<c>MatMul</c> node become symmetric QInt8
    /// (per tensor, or per output channel with <see cref="DynamicQuantizationOptions.PerChannel"/>), packed once; its
    /// FP32 input is quantized to QUInt8 on every call from the input's own range (ONNX's <c>DynamicQuantizeLinear</c>
    /// followed by <c>MatMulInteger</c>), and its output is FP32. No calibration is needed.
    /// </summary>
    /// <param name="graph">A float graph; changed in place.</param>
    /// <param name="options">Which nodes to quantize and how (default: every Gemm/MatMul node, per tensor).</param>
    /// <returns>The graph.</returns>
    /// <exception cref="ArgumentException">The options name nodes the graph lacks (the message lists them) or select no node.</exception>
    /// <exception cref="NotSupportedException">A weight type other than QInt8 is requested.</exception>
    /// <exception cref="InvalidOperationException">The graph is already quantized or prepared.</exception>
    public static GraphModule QuantizeDynamic(GraphModule graph, DynamicQuantizationOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        options ??= new DynamicQuantizationOptions();
        CheckWeightType(options);
        var weight = WeightOptions(options.PerChannel, options.ReduceRange);
        var qconfig = new QConfig(
            () => new PlaceholderObserver(new ObserverOptions { ReduceRange = options.ReduceRange }),
            options.PerChannel ? () => new PerChannelMinMaxObserver(weight) : () => new MinMaxObserver(weight));
        var names = Fuse(graph, options, module => module is Linear).Select(n => n.ModuleName!);
        Quantizer.QuantizeDynamic(graph, names, qconfig);
        return graph;
    }

    /// <summary>
    /// Static quantization, per node in the manner of an ONNX QDQ model: <paramref name="calibrationData"/> runs
    /// through the graph once while observers record the FP32 input and output of every selected <c>Conv</c>,
    /// <c>Gemm</c> and <c>MatMul</c> node; then each of those nodes quantizes its input with the calibrated QUInt8
    /// parameters, runs the INT8 kernel with symmetric QInt8 weights (per output channel by default) and requantizes
    /// its output with the calibrated output parameters, which the next node reads dequantized.
    /// </summary>
    /// <param name="graph">A float graph; changed in place (when this throws, its layers are float again, with batch norms and ReLUs fused).</param>
    /// <param name="calibrationData">
    /// Representative named inputs, enumerated once (twice with <see cref="StaticQuantizationOptions.KeepWorstInFp32"/>).
    /// It may be lazy: observers keep bounded state, so memory does not grow with the number of samples.
    /// </param>
    /// <param name="options">Calibration method, weight granularity, types and node selection (default: Histogram, per channel).</param>
    /// <param name="progress">Receives the number of samples processed after each sample.</param>
    /// <param name="cancellationToken">Checked before each sample.</param>
    /// <returns>The graph.</returns>
    /// <exception cref="InvalidOperationException">The calibration data yielded no sample, or the graph is already quantized or prepared.</exception>
    /// <exception cref="ArgumentException">The options name nodes the graph lacks (the message lists them), select no node, or are inconsistent (the message names the option); or a sample does not fit the graph's inputs.</exception>
    /// <exception cref="NotSupportedException">Signed (QInt8) activations or unsigned (QUInt8) weights are requested: the INT8 kernels take u8 activations and s8 weights.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public static GraphModule QuantizeStatic(
        GraphModule graph,
        IEnumerable<IReadOnlyDictionary<string, Tensor>> calibrationData,
        StaticQuantizationOptions? options = null,
        IProgress<CalibrationProgress>? progress = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(calibrationData);
        options ??= new StaticQuantizationOptions();
        var qconfig = StaticQConfig(options);
        var floatLayers = Fuse(graph, options, module => module is Linear or Conv2d)
            .Select(n => n.ModuleName!).Distinct().ToDictionary(name => name, graph.GetSubmodule);
        var mapping = new QConfigMapping();
        foreach (string name in floatLayers.Keys)
            mapping.SetModuleName(name, qconfig);

        try
        {
            Quantizer.Prepare(graph, mapping, perLayer: true);
            var valueObservers = options.KeepActivationsInt8
                ? Int8Plan.CalibrationCandidates(graph).Distinct().ToDictionary(name => name, _ => qconfig.Activation())
                : [];
            graph.ValueObserver = (name, value) => valueObservers.GetValueOrDefault(name)?.Observe(value);
            int samples;
            try
            {
                samples = RunAll(graph, calibrationData, CalibrationStage.Calibrating, progress, cancellationToken);
            }
            finally
            {
                graph.ValueObserver = null;
            }

            if (samples == 0)
                throw new InvalidOperationException("The calibration data yielded no samples; static quantization needs representative inputs to choose activation ranges.");
            Quantizer.Convert(graph);
            if (options.KeepWorstInFp32 > 0)
            {
                var pairs = floatLayers.Select(l => new LayerPair(l.Key, l.Value, graph.GetSubmodule(l.Key))).ToList();
                var sqnr = options.KeepWorstRanking == NodeRanking.LayerSqnr
                    ? Shadow(graph, pairs, null, calibrationData, CalibrationStage.Comparing, progress, cancellationToken).ToDictionary(s => s.Key, s => s.Value.Layer.Sqnr)
                    : SoloOutputSqnr(graph, pairs, calibrationData, progress, cancellationToken);
                foreach (var worst in pairs.OrderBy(p => sqnr[p.Name]).Take(options.KeepWorstInFp32))
                    graph.SetSubmodule(worst.Name, worst.Float);
            }

            if (options.KeepActivationsInt8)
            {
                graph.Plan = Int8Plan.Build(graph, valueObservers.Where(o => o.Value.HasObservedData)
                    .ToDictionary(o => o.Key, o => o.Value.CalculateQParams()));
            }
        }
        catch
        {
            Restore(graph, floatLayers);
            throw;
        }

        return graph;
    }

    /// <summary>The smallest activation scale: ranges narrower than 0.00255 are not resolved more finely.</summary>
    private const float ActivationEps = 1e-5f;

    private static QConfig StaticQConfig(StaticQuantizationOptions options)
    {
        CheckWeightType(options);
        if (options.ActivationType != QuantDType.QUInt8)
            throw new NotSupportedException($"ActivationType {options.ActivationType} is not supported: the INT8 kernels take QUInt8 activations (weights are QInt8).");
        if (!Enum.IsDefined(options.CalibrationMethod))
            throw new ArgumentException($"Unknown CalibrationMethod {options.CalibrationMethod}.", nameof(options));
        if (options.KeepWorstInFp32 < 0)
            throw new ArgumentException($"KeepWorstInFp32 must not be negative but is {options.KeepWorstInFp32}.", nameof(options));
        if (!Enum.IsDefined(options.KeepWorstRanking))
            throw new ArgumentException($"Unknown KeepWorstRanking {options.KeepWorstRanking}.", nameof(options));
        if (options.SymmetricActivations && options.ReduceRange)
            throw new ArgumentException("SymmetricActivations cannot be combined with ReduceRange: a symmetric QUInt8 range is centred on 128.", nameof(options));

        var activation = new ObserverOptions
        {
            QScheme = options.SymmetricActivations ? QScheme.PerTensorSymmetric : QScheme.PerTensorAffine,
            ReduceRange = options.ReduceRange,
            // A node whose input was constant (all zeros after a ReLU) would get scale 1.2e-7, and its int32 bias
            // (bias / (input scale · weight scale)) would saturate; ONNX Runtime gives such ranges scale 1.
            Eps = ActivationEps,
        };
        activation.ResolveRange();
        var weight = WeightOptions(options.PerChannel, options.ReduceRange);
        Func<Observer> observer = options.CalibrationMethod switch
        {
            CalibrationMethod.MinMax => () => new MinMaxObserver(activation),
            CalibrationMethod.Entropy => () => new EntropyObserver(activation),
            CalibrationMethod.Percentile => () => new PercentileObserver(options.Percentile, activation),
            _ => () => new HistogramObserver(activation),
        };
        observer();   // validates the percentile now rather than at the first layer
        return new QConfig(observer, options.PerChannel ? () => new PerChannelMinMaxObserver(weight) : () => new MinMaxObserver(weight));
    }

    private static void CheckWeightType(QuantizationOptions options)
    {
        if (options.WeightType != QuantDType.QInt8)
            throw new NotSupportedException($"WeightType {options.WeightType} is not supported: the INT8 kernels take QInt8 weights.");
    }

    /// <summary>Symmetric QInt8 weights on ONNX's restricted range [-127, 127] (scale = max|w| / 127), halved by reduce_range.</summary>
    private static ObserverOptions WeightOptions(bool perChannel, bool reduceRange) => new()
    {
        DType = QuantDType.QInt8,
        QScheme = perChannel ? QScheme.PerChannelSymmetric : QScheme.PerTensorSymmetric,
        QuantMin = -127,
        QuantMax = 127,
        ReduceRange = reduceRange,
    };

    /// <summary>The layer nodes the options select, among those whose module <paramref name="supported"/> accepts.</summary>
    private static List<GraphNode> Select(GraphModule graph, QuantizationOptions options, Func<Module, bool> supported)
    {
        ArgumentNullException.ThrowIfNull(options.IncludeNodes, nameof(options));
        ArgumentNullException.ThrowIfNull(options.ExcludeNodes, nameof(options));
        ArgumentNullException.ThrowIfNull(options.IncludeOpTypes, nameof(options));
        ArgumentNullException.ThrowIfNull(options.ExcludeOpTypes, nameof(options));
        var known = graph.Nodes.Select(n => n.Name).ToHashSet(StringComparer.Ordinal);
        var unknown = options.IncludeNodes.Concat(options.ExcludeNodes).Where(n => !known.Contains(n)).Distinct().ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"The graph has no nodes named {string.Join(", ", unknown.Select(n => $"'{n}'"))} (IncludeNodes/ExcludeNodes).", nameof(options));

        var selected = graph.Nodes.Where(n => n.ModuleName is { } module && supported(graph.GetSubmodule(module))
            && (options.IncludeNodes.Count == 0 || options.IncludeNodes.Contains(n.Name))
            && (options.IncludeOpTypes.Count == 0 || options.IncludeOpTypes.Contains(n.OpType))
            && !options.ExcludeNodes.Contains(n.Name) && !options.ExcludeOpTypes.Contains(n.OpType)).ToList();
        if (selected.Count == 0)
            throw new ArgumentException("The options select no node this mode quantizes (Conv, Gemm and MatMul with constant weights for static quantization; Gemm and MatMul for dynamic).", nameof(options));
        return selected;
    }

    /// <summary>Selects the nodes to quantize, then fuses each with the batch norm and ReLU after it (<see cref="GraphFusion"/>).</summary>
    private static List<GraphNode> Fuse(GraphModule graph, QuantizationOptions options, Func<Module, bool> supported)
    {
        var selected = Select(graph, options, supported);
        var names = selected.Select(n => n.ModuleName).ToHashSet();
        foreach (var fusion in GraphFusion.Find(graph).Where(f => names.Contains(f.Layer)))
            fusion.Apply(graph);
        return selected;
    }

    /// <summary>Runs every sample through the graph (then <paramref name="afterEach"/> with it and the outputs), checking for cancellation before each; returns the count.</summary>
    private static int RunAll(GraphModule graph, IEnumerable<IReadOnlyDictionary<string, Tensor>> data, CalibrationStage stage,
        IProgress<CalibrationProgress>? progress, CancellationToken cancellationToken, Action<IReadOnlyDictionary<string, Tensor>, IReadOnlyDictionary<string, Tensor>>? afterEach = null)
    {
        int count = 0;
        cancellationToken.ThrowIfCancellationRequested();
        foreach (var sample in data)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var outputs = graph.Run(sample ?? throw new ArgumentException($"Sample {count} is null.", nameof(data)));
            afterEach?.Invoke(sample, outputs);
            count++;
            progress?.Report(new CalibrationProgress(stage, count));
        }

        return count;
    }

    private static void Restore(GraphModule graph, Dictionary<string, Module> layers)
    {
        foreach (var (name, module) in layers)
            graph.SetSubmodule(name, module);
    }
}
