namespace Quantization.Graph;

/// <summary>
/// The values visible while a graph body runs: its own (inputs, constants, node outputs), then those of the
/// enclosing bodies (a subgraph of <c>If</c> reads names of the graph around it).
/// </summary>
internal sealed class GraphScope(GraphModule owner, GraphScope? parent)
{
    private readonly Dictionary<string, Tensor> _values = [];

    /// <summary>The running body's constants, read after its own values (not copied in on every run).</summary>
    private IReadOnlyDictionary<string, Tensor>? _constants;

    /// <summary>The enclosing scope, or null for the main graph.</summary>
    public GraphScope? Parent => parent;

    /// <summary>The module whose children the layer nodes run.</summary>
    public GraphModule Owner { get; } = owner;

    public bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Tensor? value) =>
        _values.TryGetValue(name, out value) || (_constants is not null && _constants.TryGetValue(name, out value))
        || (parent is not null && parent.TryGet(name, out value));

    /// <summary>Makes the running body's <paramref name="constants"/> visible by name (after the values set here).</summary>
    public void UseConstants(IReadOnlyDictionary<string, Tensor> constants) => _constants = constants;

    public void Set(string name, Tensor value) => _values[name] = value;

    public void Remove(string name)
    {
        _values.Remove(name);
        _quantized.Remove(name);
    }

    private readonly Dictionary<string, QuantizedTensor> _quantized = [];

    /// <summary>A value held as QUInt8 codes (in a graph with an <see cref="Int8Plan"/>), of this body only.</summary>
    public bool TryGetQuantized(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out QuantizedTensor? value) =>
        _quantized.TryGetValue(name, out value);

    public void SetQuantized(string name, QuantizedTensor value) => _quantized[name] = value;

    /// <summary>
    /// Whether a value set here (as floats or codes) other than <paramref name="except"/> uses <paramref name="storage"/>;
    /// the body's constants, read through <see cref="UseConstants"/>, are not among them.
    /// </summary>
    public bool Uses(Array storage, string except) =>
        _values.Any(v => v.Key != except && ReferenceEquals(v.Value.Storage, storage))
        || _quantized.Any(v => v.Key != except && ReferenceEquals(v.Value.Storage, storage));

    /// <summary>
    /// Inputs of the running node that it may overwrite: values this body produced, read for the last time here,
    /// and bound to no other name (see <see cref="GraphBody"/>).
    /// </summary>
    internal HashSet<Tensor> Donated { get; } = new(ReferenceEqualityComparer.Instance);

    /// <summary>
    /// A tensor of <paramref name="shape"/> for a node's output: <paramref name="input"/> itself when it is donated and
    /// has that shape (elementwise kernels read each position before writing it), else a new one, uninitialized: the
    /// kernel writes every position.
    /// </summary>
    public Tensor Output(Tensor input, ReadOnlySpan<int> shape) =>
        Donated.Remove(input) && input.HasShape(shape) ? input : Tensor.Uninitialized(shape.ToArray());

    /// <summary>A donated input among <paramref name="candidates"/> with <paramref name="shape"/>, or null.</summary>
    public Tensor? DonatedWithShape(ReadOnlySpan<int> shape, params ReadOnlySpan<Tensor> candidates)
    {
        foreach (Tensor t in candidates)
        {
            if (t.HasShape(shape) && Donated.Remove(t))
                return t;
        }

        return null;
    }

    /// <summary>A scope for a subgraph that runs inside this one.</summary>
    public GraphScope Child() => new(Owner, this);
}
