using Quantization.Nn;

namespace Quantization.Graph;

/// <summary>
/// A declared graph input: its name and shape, where a null dimension is dynamic and a null shape means even the
/// rank is unknown.
/// </summary>
/// <param name="Name">The value's name.</param>
/// <param name="Shape">The dimensions (null entries are dynamic), or null.</param>
public sealed record GraphInput(string Name, IReadOnlyList<int?>? Shape);

/// <summary>
/// A model as a graph: named inputs and outputs, constant tensors, and a topologically ordered list of
/// <see cref="GraphNode"/>s. Layer nodes run child modules (<see cref="Conv2d"/>, <see cref="Linear"/>,
/// <see cref="BatchNorm2d"/>...) registered on this module, so workflows that swap layers work on an imported model
/// as on a hand-built one; other nodes run the core ops. Inference only: <see cref="Run(IReadOnlyDictionary{string, Tensor})"/> and
/// <see cref="Forward(Variable)"/> compute values without recording gradients.
/// </summary>
/// <remarks>
/// Every value is an FP32 <see cref="Tensor"/> (a statically quantized graph holds the activations between its
/// quantized nodes as QUInt8 codes inside a run; what <see cref="Run(IReadOnlyDictionary{string, Tensor})"/> returns is FP32). Integer and boolean values (shapes, indices, ONNX <c>Shape</c>,
/// <c>Cast</c> to an integer type, <c>Equal</c>) are held as floats with integral values — exact up to 2^24, far above
/// any shape or index these models compute. Integer operands are read back by rounding toward zero, and values beyond
/// ±2^63 (the INT64 extremes ONNX uses for "to the end" in <c>Slice</c>) saturate to the INT64 extremes.
/// A run frees each intermediate value after its last reader and lets elementwise nodes write into inputs nobody
/// reads again; the caller's input tensors and the graph's constants are never written.
/// </remarks>
public sealed class GraphModule : Module
{
    private readonly GraphBody _body;
    private readonly Dictionary<string, Module> _layers = [];

    internal GraphModule(IReadOnlyList<GraphInput> inputs, GraphBody body, IEnumerable<(string Name, Module Module)> layers)
    {
        Inputs = inputs;
        _body = body;
        foreach (var (name, module) in layers)
            _layers[name] = RegisterModule(name, module);
        Eval();
    }

    /// <summary>The inputs a caller feeds, in declaration order.</summary>
    public IReadOnlyList<GraphInput> Inputs { get; }

    /// <summary>The names of the outputs, in declaration order.</summary>
    public IReadOnlyList<string> OutputNames => _body.Outputs;

    /// <summary>The nodes of the main graph in topological order (subgraphs of control-flow nodes are not listed).</summary>
    public IReadOnlyList<GraphNode> Nodes => _body.Nodes;

    /// <summary>The main graph's constant tensors by name.</summary>
    public IReadOnlyDictionary<string, Tensor> Constants => _body.Constants;

    /// <summary>Runs the graph on the named inputs and returns every output by name.</summary>
    /// <exception cref="ArgumentException">An input is missing, unknown, or has the wrong rank or a wrong fixed dimension
    /// (the message names it), or a node rejects its inputs (the message names the node).</exception>
    public IReadOnlyDictionary<string, Tensor> Run(IReadOnlyDictionary<string, Tensor> inputs)
    {
        var result = new Dictionary<string, Tensor>();
        Run(inputs, result);
        return result;
    }

    /// <summary>
    /// Runs the graph on the named inputs and stores every output in <paramref name="outputs"/> under its name. A tensor
    /// already stored there with the output's shape is overwritten in place; any other entry is replaced by a new
    /// tensor. A loop that passes the same dictionary to every run therefore gets its outputs without new memory after
    /// the first run (a new array of a megabyte or more costs page faults and garbage collections; the 640×640 detector
    /// allocates 0.33 MB a run instead of 1.97 MB), and the run's own array goes back to the graph's buffers where
    /// nothing else holds it.
    /// </summary>
    /// <param name="inputs">The inputs by name.</param>
    /// <param name="outputs">Receives the outputs; its tensors of the right shapes are written, not replaced.</param>
    /// <exception cref="ArgumentException">As for <see cref="Run(IReadOnlyDictionary{string, Tensor})"/>.</exception>
    public void Run(IReadOnlyDictionary<string, Tensor> inputs, IDictionary<string, Tensor> outputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(outputs);
        foreach (string name in inputs.Keys)
        {
            if (!Inputs.Any(i => i.Name == name))
                throw new ArgumentException($"The graph has no input '{name}'; its inputs are {string.Join(", ", Inputs.Select(i => $"'{i.Name}'"))}.", nameof(inputs));
        }

        var scope = new GraphScope(this, null);
        foreach (GraphInput input in Inputs)
        {
            if (!inputs.TryGetValue(input.Name, out Tensor? value) || value is null)
                throw new ArgumentException($"Input '{input.Name}' is missing.", nameof(inputs));
            CheckShape(input, value);
            scope.Set(input.Name, value);
        }

        var reuse = _body.Outputs.Select(name => outputs.TryGetValue(name, out var t) ? t : null).ToArray();
        Tensor[] results;
        using (Autograd.NoGrad())
            results = _body.Run(scope, reuse);
        for (int i = 0; i < results.Length; i++)
            outputs[_body.Outputs[i]] = results[i];
    }

    /// <summary>Runs a graph with one input and one output (no gradients are recorded).</summary>
    /// <exception cref="InvalidOperationException">The graph does not have exactly one input and one output.</exception>
    /// <exception cref="ArgumentException">The input does not fit the declared shape.</exception>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (Inputs.Count != 1 || OutputNames.Count != 1)
            throw new InvalidOperationException($"Forward needs one input and one output; this graph has {Inputs.Count} and {OutputNames.Count}. Use Run.");
        return new Variable(Run(new Dictionary<string, Tensor> { [Inputs[0].Name] = input.Value })[OutputNames[0]]);
    }

    /// <inheritdoc/>
    public override string ToString() =>
        $"GraphModule({string.Join(", ", Inputs.Select(i => i.Name))} -> {string.Join(", ", OutputNames)}; {Nodes.Count} nodes, {_layers.Count} layers)";

    /// <summary>How the quantized layers pass INT8 values to each other, set by static quantization; null runs each layer between quantize and dequantize.</summary>
    internal Int8Plan? Plan { get; set; }

    /// <summary>Called with each value a main-graph node produces (calibration of the values between layers).</summary>
    internal Action<string, Tensor>? ValueObserver { get; set; }

    /// <summary>The child module a layer node runs.</summary>
    internal Module Layer(string name) => _layers[name];

    /// <inheritdoc/>
    private protected override void OnChildReplaced(string name, Module module) => _layers[name] = module;

    private static void CheckShape(GraphInput input, Tensor value)
    {
        if (input.Shape is null)
            return;
        if (value.Rank != input.Shape.Count)
            throw new ArgumentException($"Input '{input.Name}' has rank {value.Rank} but the graph expects rank {input.Shape.Count} ({FormatShape(input.Shape)}).", input.Name);
        for (int d = 0; d < value.Rank; d++)
        {
            if (input.Shape[d] is int expected && value.Shape[d] != expected)
                throw new ArgumentException($"Input '{input.Name}' has shape {Tensor.FormatShape(value.Shape)} but the graph expects {FormatShape(input.Shape)}: dimension {d} must be {expected}.", input.Name);
        }
    }

    private static string FormatShape(IReadOnlyList<int?> shape) => "(" + string.Join(", ", shape.Select(d => d?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?")) + ")";
}
