using Quantization.Nn;

namespace Quantization.Workflows;

/// <summary>
/// Which <see cref="QConfig"/> each module of a model gets (PyTorch's eager-mode <c>qconfig_dict</c> propagation): a
/// module takes its parent's configuration, replaced by an entry for its type, replaced in turn by an entry for its
/// dotted name. A null configuration keeps a module, and everything below it, in floating point.
/// </summary>
public sealed class QConfigMapping
{
    private readonly Dictionary<Type, QConfig?> _byType = [];
    private readonly Dictionary<string, QConfig?> _byName = new(StringComparer.Ordinal);

    /// <summary>The configuration of the root module (and so of every module nothing else configures).</summary>
    public QConfig? Global { get; private set; }

    /// <summary>Sets the configuration of the root module; returns this mapping.</summary>
    public QConfigMapping SetGlobal(QConfig? qconfig)
    {
        Global = qconfig;
        return this;
    }

    /// <summary>Configures every module of type <paramref name="moduleType"/> (exactly that type); null keeps them float.</summary>
    /// <exception cref="ArgumentException"><paramref name="moduleType"/> is not a <see cref="Module"/> type.</exception>
    public QConfigMapping SetModuleType(Type moduleType, QConfig? qconfig)
    {
        ArgumentNullException.ThrowIfNull(moduleType);
        if (!typeof(Module).IsAssignableFrom(moduleType))
            throw new ArgumentException($"{moduleType.Name} is not a Module type.", nameof(moduleType));
        _byType[moduleType] = qconfig;
        return this;
    }

    /// <summary>Configures the module at dotted path <paramref name="name"/> (and, by inheritance, its descendants); null keeps it float.</summary>
    public QConfigMapping SetModuleName(string name, QConfig? qconfig)
    {
        ArgumentNullException.ThrowIfNull(name);
        _byName[name] = qconfig;
        return this;
    }

    /// <summary>The configuration of every module of <paramref name="model"/>, by dotted name ("" is the root).</summary>
    /// <exception cref="ArgumentException">A name entry matches no module of the model (a typo would silently leave a layer unconfigured).</exception>
    public Dictionary<string, QConfig?> Resolve(Module model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var result = new Dictionary<string, QConfig?>(StringComparer.Ordinal);
        Visit("", model, Global);
        var unknown = _byName.Keys.Where(name => !result.ContainsKey(name)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"The mapping names modules the model does not have: {string.Join(", ", unknown.Select(n => $"'{n}'"))}.", nameof(model));
        return result;

        void Visit(string name, Module module, QConfig? inherited)
        {
            var qconfig = inherited;
            if (_byType.TryGetValue(module.GetType(), out var byType))
                qconfig = byType;
            if (_byName.TryGetValue(name, out var byName))
                qconfig = byName;
            result[name] = qconfig;
            foreach (var (childName, child) in module.NamedChildren())
                Visit(name.Length == 0 ? childName : name + "." + childName, child, qconfig);
        }
    }
}
