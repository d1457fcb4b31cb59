namespace Quantization.Nn;

/// <summary>Runs its children in order, each on the previous one's output, as PyTorch's <c>nn.Sequential</c>; the children are named "0", "1", ...</summary>
public sealed class Sequential : Module
{
    /// <summary>Creates a sequence of <paramref name="modules"/>.</summary>
    public Sequential(params IEnumerable<Module> modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        int i = 0;
        foreach (var module in modules)
            RegisterModule((i++).ToString(System.Globalization.CultureInfo.InvariantCulture), module);
    }

    /// <summary>The number of children.</summary>
    public int Count => Children().Count();

    /// <summary>The child at <paramref name="index"/>.</summary>
    public Module this[int index] => Children().ElementAt(index);

    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        foreach (var module in Children())
            input = module.Forward(input);
        return input;
    }
}
