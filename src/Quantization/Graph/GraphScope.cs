namespace Quantization.Graph;

/// <summary>
/// The values visible while a graph body runs: its own (inputs, constants, node outputs), then those of the
/// enclosing bodies (a subgraph of <c>If</c> reads names of the graph around it).
/// </summary>
internal sealed class GraphScope(GraphModule owner, GraphScope? parent)
{
    private readonly Dictionary<string, Tensor> _values = [];

    /// <summary>The module whose children the layer nodes run.</summary>
    public GraphModule Owner { get; } = owner;

    public bool TryGet(string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out Tensor? value) =>
        _values.TryGetValue(name, out value) || (parent is not null && parent.TryGet(name, out value));

    public void Set(string name, Tensor value) => _values[name] = value;

    public void Remove(string name) => _values.Remove(name);

    /// <summary>A scope for a subgraph that runs inside this one.</summary>
    public GraphScope Child() => new(Owner, this);
}
