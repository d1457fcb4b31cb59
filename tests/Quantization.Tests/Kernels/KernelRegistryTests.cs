using Quantization.Kernels;
using Xunit;

namespace Quantization.Tests.Kernels;

public class KernelRegistryTests
{
    private sealed record Variant(string Name, bool IsSupported) : IKernelVariant;

    [Fact]
    public void Best_is_the_first_supported_variant()
    {
        var registry = new KernelRegistry<Variant>("QUANTIZATION_TEST_UNSET_" + Guid.NewGuid().ToString("N"),
            new Variant("Wide", false), new Variant("Narrow", true), new Variant("Scalar", true));
        Assert.Equal("Narrow", registry.Best.Name);
        Assert.Equal(["Narrow", "Scalar"], registry.Supported.Select(v => v.Name));
        Assert.Equal(3, registry.All.Count);
    }

    [Fact]
    public void Environment_variable_forces_a_supported_variant_and_ignores_unsupported_ones()
    {
        string name = "QUANTIZATION_TEST_" + Guid.NewGuid().ToString("N");
        Environment.SetEnvironmentVariable(name, "scalar");
        try
        {
            var registry = new KernelRegistry<Variant>(name, new Variant("Wide", true), new Variant("Scalar", true));
            Assert.Equal("Scalar", registry.Best.Name);
            Environment.SetEnvironmentVariable(name, "Missing");
            var fallback = new KernelRegistry<Variant>(name, new Variant("Wide", true), new Variant("Scalar", true));
            Assert.Equal("Wide", fallback.Best.Name);
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }
}
