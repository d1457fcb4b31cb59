namespace Quantization.Nn.Intrinsic;

/// <summary>
/// A chain of layers that quantization treats as one (PyTorch's <c>nn.intrinsic</c> modules): it runs its children
/// ("0", "1", ...) in order, and is observed and converted as a unit, so that, for example, a ReLU is fused into the
/// requantization of the convolution before it. Built by <c>Quantizer.FuseModules</c>.
/// </summary>
public abstract class FusedModule : Module
{
    private protected FusedModule(params Module[] modules)
    {
        for (int i = 0; i < modules.Length; i++)
            RegisterModule(i.ToString(System.Globalization.CultureInfo.InvariantCulture), modules[i]);
    }

    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        foreach (var module in Children())
            input = module.Forward(input);
        return input;
    }

    private protected T Part<T>(int index)
        where T : Module => (T)Children().ElementAt(index);
}

/// <summary>Conv2d followed by ReLU (PyTorch's <c>nni.ConvReLU2d</c>).</summary>
public sealed class ConvReLU2d(Conv2d conv, ReLU relu) : FusedModule(conv, relu)
{
    /// <summary>The convolution.</summary>
    public Conv2d Conv => Part<Conv2d>(0);
}

/// <summary>Linear followed by ReLU (PyTorch's <c>nni.LinearReLU</c>).</summary>
public sealed class LinearReLU(Linear linear, ReLU relu) : FusedModule(linear, relu)
{
    /// <summary>The linear layer.</summary>
    public Linear Linear => Part<Linear>(0);
}

/// <summary>Conv2d followed by BatchNorm2d, kept apart for quantization-aware training (PyTorch's <c>nni.ConvBn2d</c>).</summary>
public sealed class ConvBn2d(Conv2d conv, BatchNorm2d bn) : FusedModule(conv, bn)
{
    /// <summary>The convolution.</summary>
    public Conv2d Conv => Part<Conv2d>(0);

    /// <summary>The batch normalization.</summary>
    public BatchNorm2d BatchNorm => Part<BatchNorm2d>(1);
}

/// <summary>Conv2d, BatchNorm2d and ReLU, kept apart for quantization-aware training (PyTorch's <c>nni.ConvBnReLU2d</c>).</summary>
public sealed class ConvBnReLU2d(Conv2d conv, BatchNorm2d bn, ReLU relu) : FusedModule(conv, bn, relu)
{
    /// <summary>The convolution.</summary>
    public Conv2d Conv => Part<Conv2d>(0);

    /// <summary>The batch normalization.</summary>
    public BatchNorm2d BatchNorm => Part<BatchNorm2d>(1);
}
