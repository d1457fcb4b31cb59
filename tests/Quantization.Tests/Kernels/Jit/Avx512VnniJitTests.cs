using System.Runtime.InteropServices;
using Quantization.Kernels.Gemm;
using Quantization.Kernels.Jit;
using Xunit;

namespace Quantization.Tests.Kernels.Jit;

/// <summary>
/// The generated-code tier's availability rules. Its numbers are checked by every GEMM and convolution test, which
/// iterate all supported variants.
/// </summary>
public class Avx512VnniJitTests
{
    [Fact]
    public void Runs_wherever_the_cpu_reports_avx512_vnni()
    {
        var jit = Int8GemmAvx512VnniJit.Instance;
        if (Int8GemmAvx512VnniJit.UnavailableReason(Environment.GetEnvironmentVariable(Int8GemmAvx512VnniJit.DisableVariable)) is null)
            Assert.True(jit.IsSupported, $"AVX512-VNNI is reported but the generated kernels did not pass their self-test: {jit.WhyUnavailable}");
        else
            Assert.False(jit.IsSupported);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("true")]
    [InlineData("TRUE")]
    public void The_environment_variable_disables_it(string setting) =>
        Assert.Contains(Int8GemmAvx512VnniJit.DisableVariable, Int8GemmAvx512VnniJit.UnavailableReason(setting));

    [Fact]
    public void Other_settings_do_not_disable_it()
    {
        string? reason = Int8GemmAvx512VnniJit.UnavailableReason("0");
        Assert.True(reason is null || !reason.Contains(Int8GemmAvx512VnniJit.DisableVariable, StringComparison.Ordinal));
    }

    [Fact]
    public void Generated_kernels_follow_the_calling_convention_registers()
    {
        // System V passes (a, panel, tile, init) in rdi, rsi, rdx, rcx; Windows x64 in rcx, rdx, r8, r9. The first
        // accumulator starts from init: "vmovdqu32 zmm31, [rcx]" (62 61 7e 48 6f 39) or "[r9]" (62 41 7e 48 6f 39).
        // Eight K groups are two passes of the four-group loop, counted in rax: "mov rax, 2".
        byte[] sysv = VnniKernelGenerator.Generate(3, 32, VnniKernelGenerator.PanelWidth, windowsAbi: false);
        byte[] windows = VnniKernelGenerator.Generate(3, 32, VnniKernelGenerator.PanelWidth, windowsAbi: true);
        Assert.Equal([0x62, 0x61, 0x7E, 0x48, 0x6F, 0x39], sysv[..6]);
        Assert.Equal([0x62, 0x41, 0x7E, 0x48, 0x6F, 0x39], windows[..6]);
        Assert.True(Contains(sysv, [0x48, 0xC7, 0xC0, 2, 0, 0, 0]));
        Assert.True(Contains(windows, [0x48, 0xC7, 0xC0, 2, 0, 0, 0]));
        Assert.Equal([0xC5, 0xF8, 0x77, 0xC3], sysv[^4..]);
    }

    [Theory]
    [InlineData(0, 8)]
    [InlineData(VnniKernelGenerator.MaxRows + 1, 8)]
    [InlineData(2, 6)]
    [InlineData(2, 0)]
    public void Impossible_shapes_are_refused(int rows, int paddedK) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => VnniKernelGenerator.Generate(rows, paddedK, VnniKernelGenerator.PanelWidth, windowsAbi: false));

    [Theory]
    [InlineData(3, 0, 0)]
    [InlineData(2, 3, 0)]
    [InlineData(2, 2, 16)]
    public void Impossible_widths_are_refused(int rows, int vectors, int tileStride) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => VnniKernelGenerator.Generate(rows, 8, tileStride == 0 ? VnniKernelGenerator.PanelWidth : tileStride, windowsAbi: false, vectors));

    [Theory]
    [InlineData(12, 16)]
    [InlineData(16, 16)]
    [InlineData(24, 32)]
    [InlineData(32, 32)]
    [InlineData(40, 16)]
    [InlineData(64, 64)]
    [InlineData(96, 32)]
    [InlineData(128, 64)]
    [InlineData(192, 64)]
    [InlineData(360, 64)]
    public void Weights_get_the_panel_width_that_pads_the_columns_least(int n, int width)
    {
        Assert.Equal(width, Int8GemmAvx512VnniJit.Instance.ForColumns(n).PanelWidth);
        // A width asked for by name stays.
        Assert.Same(Int8GemmAvx512VnniJit.Narrow, Int8GemmAvx512VnniJit.Narrow.ForColumns(n));
        Assert.Same(Int8GemmAvx512VnniJit.Narrowest, Int8GemmAvx512VnniJit.Narrowest.ForColumns(n));
    }

    [Fact]
    public void Every_width_is_in_the_registry_so_every_gemm_test_runs_it()
    {
        var names = Int8Gemm.Registry.All.Select(v => v.Name).ToList();
        Assert.Equal(["Avx512VnniJit", "Avx512VnniJit32", "Avx512VnniJit16"], names.Take(3));
        if (Int8GemmAvx512VnniJit.Instance.IsSupported)
            Assert.Contains(Int8Gemm.Registry.Supported, v => v.Name == "Avx512VnniJit16");
    }

    [Fact]
    public void Executable_memory_runs_generated_code()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsWindows() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
            Assert.Skip("Executable pages are created on x86-64 Linux and Windows only.");
        // mov rax, 42; ret
        nint? code = ExecutableMemory.TryCreate([0x48, 0xC7, 0xC0, 42, 0, 0, 0, 0xC3], out string? failure);
        Assert.True(code is not null, failure);
        unsafe
        {
            Assert.Equal(42, ((delegate* unmanaged<long>)code.Value)());
        }
    }

    private static bool Contains(byte[] haystack, byte[] needle) =>
        Enumerable.Range(0, haystack.Length - needle.Length + 1).Any(i => haystack.AsSpan(i, needle.Length).SequenceEqual(needle));
}
