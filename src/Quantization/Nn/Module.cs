namespace Quantization.Nn;

/// <summary>
/// The base of every layer and model, shaped like PyTorch's <c>torch.nn.Module</c>: named children, parameters and
/// buffers in registration order, training/evaluation mode, state dicts, and replacement of a child by its dotted
/// name (how quantization workflows swap a float layer for a quantized one).
/// </summary>
public abstract class Module
{
    private readonly List<KeyValuePair<string, Module>> _children = [];
    private readonly List<KeyValuePair<string, Parameter?>> _parameters = [];
    private readonly List<KeyValuePair<string, Tensor>> _buffers = [];
    private readonly List<KeyValuePair<string, (Func<QuantizedTensor> Get, Action<QuantizedTensor> Set)>> _quantized = [];

    /// <summary>True in training mode (the default), false after <see cref="Eval"/>.</summary>
    public bool IsTraining { get; private set; } = true;

    /// <summary>Runs the layer on <paramref name="input"/>, recording the graph when gradients are needed.</summary>
    public abstract Variable Forward(Variable input);

    /// <summary>Inference convenience: runs <see cref="Forward(Variable)"/> without recording a graph and returns the values.</summary>
    public Tensor Forward(Tensor input)
    {
        using (Autograd.NoGrad())
            return Forward(new Variable(input)).Value;
    }

    /// <summary>Sets training mode on this module and every descendant; returns this module.</summary>
    public Module Train(bool mode = true)
    {
        foreach (var (_, module) in NamedModules())
            module.IsTraining = mode;
        return this;
    }

    /// <summary>Sets evaluation mode (<c>Train(false)</c>): BatchNorm uses its running statistics, Dropout does nothing.</summary>
    public Module Eval() => Train(false);

    /// <summary>The direct children with their names.</summary>
    public IEnumerable<(string Name, Module Module)> NamedChildren()
    {
        foreach (var (name, child) in _children)
            yield return (name, child);
    }

    /// <summary>The direct children.</summary>
    public IEnumerable<Module> Children() => NamedChildren().Select(c => c.Module);

    /// <summary>This module (name <paramref name="prefix"/>, "" by default) and every descendant with its dotted name, depth first.</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules(string prefix = "")
    {
        yield return (prefix, this);
        foreach (var (name, child) in _children)
        {
            foreach (var item in child.NamedModules(Join(prefix, name)))
                yield return item;
        }
    }

    /// <summary>Every parameter of this module and (when <paramref name="recurse"/>) its descendants, with dotted names.</summary>
    public IEnumerable<(string Name, Parameter Parameter)> NamedParameters(bool recurse = true)
    {
        foreach (var (prefix, module) in recurse ? NamedModules() : [("", this)])
        {
            foreach (var (name, parameter) in module._parameters)
            {
                if (parameter is not null)
                    yield return (Join(prefix, name), parameter);
            }
        }
    }

    /// <summary>Every parameter, for an optimizer.</summary>
    public IEnumerable<Parameter> Parameters(bool recurse = true) => NamedParameters(recurse).Select(p => p.Parameter);

    /// <summary>Every buffer (state that is saved but not learned, such as BatchNorm's running mean) with dotted names.</summary>
    public IEnumerable<(string Name, Tensor Buffer)> NamedBuffers()
    {
        foreach (var (prefix, module) in NamedModules())
        {
            foreach (var (name, buffer) in module._buffers)
                yield return (Join(prefix, name), buffer);
        }
    }

    /// <summary>Parameters and buffers by dotted name, in registration order; the tensors are the live ones, not copies.</summary>
    public Dictionary<string, Tensor> StateDict()
    {
        var state = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (prefix, module) in NamedModules())
        {
            foreach (var (name, parameter) in module._parameters)
            {
                if (parameter is not null)
                    state.Add(Join(prefix, name), parameter.Value);
            }

            foreach (var (name, buffer) in module._buffers)
                state.Add(Join(prefix, name), buffer);
        }

        return state;
    }

    /// <summary>The quantized tensors (the integer weights of quantized layers) by dotted name; empty for a float model.</summary>
    public Dictionary<string, QuantizedTensor> QuantizedStateDict()
    {
        var state = new Dictionary<string, QuantizedTensor>(StringComparer.Ordinal);
        foreach (var (prefix, module) in NamedModules())
        {
            foreach (var (name, slot) in module._quantized)
                state.Add(Join(prefix, name), slot.Get());
        }

        return state;
    }

    /// <summary>
    /// Loads float and quantized state (as <see cref="StateDict"/> and <see cref="QuantizedStateDict"/> return them),
    /// for example into a model quantized the same way as the one that was saved.
    /// </summary>
    /// <exception cref="ArgumentException">A key is missing or unexpected (when strict), or a shape or quantized dtype differs; nothing is changed then.</exception>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, IReadOnlyDictionary<string, QuantizedTensor> quantized, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(quantized);
        var slots = new Dictionary<string, (Func<QuantizedTensor> Get, Action<QuantizedTensor> Set)>(StringComparer.Ordinal);
        foreach (var (prefix, module) in NamedModules())
        {
            foreach (var (name, slot) in module._quantized)
                slots.Add(Join(prefix, name), slot);
        }

        if (strict)
        {
            var missing = slots.Keys.Where(k => !quantized.ContainsKey(k)).ToList();
            var unexpected = quantized.Keys.Where(k => !slots.ContainsKey(k)).ToList();
            if (missing.Count > 0 || unexpected.Count > 0)
                throw new ArgumentException($"Quantized state keys do not match. Missing: [{string.Join(", ", missing)}]; unexpected: [{string.Join(", ", unexpected)}].", nameof(quantized));
        }

        foreach (var (key, slot) in slots)
        {
            var current = slot.Get();
            if (quantized.TryGetValue(key, out var source) && (!source.Shape.SequenceEqual(current.Shape) || source.DType != current.DType))
                throw new ArgumentException($"Mismatch for quantized '{key}': the state dict has {source}, the model expects {current}.", nameof(quantized));
        }

        LoadStateDict(state, strict);
        foreach (var (key, slot) in slots)
        {
            if (quantized.TryGetValue(key, out var source))
                slot.Set(source);
        }

        foreach (var (_, module) in NamedModules())
            module.OnStateLoaded();
    }

    /// <param name="state">Tensors by dotted name, as <see cref="StateDict"/> returns them.</param>
    /// <param name="strict">When true, every key must match in both directions.</param>
    /// <exception cref="ArgumentException">A key is missing or unexpected (when strict), or a shape differs; the message names the key and both shapes.</exception>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(state);
        var own = StateDict();
        if (strict)
        {
            var missing = own.Keys.Where(k => !state.ContainsKey(k)).ToList();
            var unexpected = state.Keys.Where(k => !own.ContainsKey(k)).ToList();
            if (missing.Count > 0 || unexpected.Count > 0)
                throw new ArgumentException($"State dict keys do not match. Missing: [{string.Join(", ", missing)}]; unexpected: [{string.Join(", ", unexpected)}].", nameof(state));
        }

        // Check every shape before copying anything, so a failed load leaves the model unchanged.
        foreach (var (key, target) in own)
        {
            if (state.TryGetValue(key, out var source) && !source.HasShape(target.Shape))
                throw new ArgumentException($"Shape mismatch for '{key}': the state dict has {Tensor.FormatShape(source.Shape)}, the model expects {Tensor.FormatShape(target.Shape)}.", nameof(state));
        }

        foreach (var (key, target) in own)
        {
            if (state.TryGetValue(key, out var source))
                source.AsSpan().CopyTo(target.AsSpan());
        }

        foreach (var (_, module) in NamedModules())
            module.OnStateLoaded();
    }

    /// <summary>Saves <see cref="StateDict"/> and <see cref="QuantizedStateDict"/> to one file in the <see cref="StateDictFile"/> format.</summary>
    public void Save(string path) => StateDictFile.Save(StateDict(), QuantizedStateDict(), path);

    /// <summary>
    /// Loads parameters, buffers and quantized weights saved by <see cref="Save"/> into this model, which must have the
    /// same structure (for a quantized model: the float model prepared and converted the same way).
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not a state dict, or is truncated or corrupt.</exception>
    /// <exception cref="ArgumentException">The keys or shapes differ from this model's.</exception>
    public void Load(string path)
    {
        var (state, quantized) = StateDictFile.LoadAll(path);
        LoadStateDict(state, quantized);
    }

    /// <summary>Calls <paramref name="action"/> on every descendant and then on this module (children first, as PyTorch); returns this module.</summary>
    public Module Apply(Action<Module> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        foreach (var (_, child) in _children)
            child.Apply(action);
        action(this);
        return this;
    }

    /// <summary>The descendant at a dotted path such as <c>"features.0"</c>; "" is this module.</summary>
    /// <exception cref="ArgumentException">No module has that name.</exception>
    public Module GetSubmodule(string target)
    {
        ArgumentNullException.ThrowIfNull(target);
        Module current = this;
        if (target.Length == 0)
            return current;
        foreach (string part in target.Split('.'))
            current = current.FindChild(part) ?? throw new ArgumentException($"Module '{target}' not found: no child '{part}'.", nameof(target));
        return current;
    }

    /// <summary>Replaces the descendant at a dotted path with <paramref name="module"/>, keeping its position and name.</summary>
    /// <exception cref="ArgumentException">No module has that name.</exception>
    public void SetSubmodule(string target, Module module)
    {
        ArgumentNullException.ThrowIfNull(target);
        ArgumentNullException.ThrowIfNull(module);
        if (target.Split('.').Any(part => part.Length == 0))
            throw new ArgumentException($"Module '{target}' not found: the name has an empty part.", nameof(target));
        int dot = target.LastIndexOf('.');
        var parent = dot < 0 ? this : GetSubmodule(target[..dot]);
        string name = target[(dot + 1)..];
        int index = parent._children.FindIndex(c => c.Key == name);
        if (index < 0)
            throw new ArgumentException($"Module '{target}' not found: no child '{name}'.", nameof(target));
        parent._children[index] = new(name, module);
        parent.OnChildReplaced(name, module);
    }

    /// <inheritdoc/>
    public override string ToString() => GetType().Name;

    /// <summary>Adds a child module (or replaces the one with that name).</summary>
    protected T RegisterModule<T>(string name, T module)
        where T : Module
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(module);
        if (name.Contains('.', StringComparison.Ordinal))
            throw new ArgumentException($"A module name cannot contain '.': '{name}'.", nameof(name));
        int index = _children.FindIndex(c => c.Key == name);
        if (index >= 0)
            _children[index] = new(name, module);
        else
            _children.Add(new(name, module));
        return module;
    }

    /// <summary>Adds a parameter; null records an absent one (such as a layer without bias).</summary>
    protected Parameter? RegisterParameter(string name, Parameter? parameter)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        _parameters.Add(new(name, parameter));
        return parameter;
    }

    /// <summary>Adds a buffer: state saved in the state dict but not learned.</summary>
    protected Tensor RegisterBuffer(string name, Tensor buffer)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ArgumentNullException.ThrowIfNull(buffer);
        _buffers.Add(new(name, buffer));
        return buffer;
    }

    /// <summary>Adds quantized state (integer weights): saved and loaded with the model, replaced through <paramref name="set"/>.</summary>
    private protected void RegisterQuantized(string name, Func<QuantizedTensor> get, Action<QuantizedTensor> set)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        _quantized.Add(new(name, (get, set)));
    }

    /// <summary>Lets a module rebuild what it derives from its state (packed weights) after a load.</summary>
    private protected virtual void OnStateLoaded()
    {
    }

    /// <summary>Lets a container that keeps its own references to its children follow a <see cref="SetSubmodule"/>.</summary>
    private protected virtual void OnChildReplaced(string name, Module module)
    {
    }

    private Module? FindChild(string name)
    {
        foreach (var (key, child) in _children)
        {
            if (key == name)
                return child;
        }

        return null;
    }

    private static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;
}
