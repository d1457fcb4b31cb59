using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using Quantization.Kernels.Jit;

namespace Quantization.Kernels.Gemm;

/// <summary>
/// AVX512-VNNI through generated code: 512-bit <c>vpdpbusd</c> (64 MACs per instruction, twice AVX-VNNI's), which
/// .NET's intrinsics cannot express (they offer VNNI on 256-bit vectors only). Micro-kernels of up to 8 rows × 32
/// columns come from <see cref="VnniKernelGenerator"/>, are placed in executable pages once per shape, and are called
/// through an unmanaged function pointer.
/// </summary>
/// <remarks>
/// Available on x86-64 Linux and Windows when the CPU reports AVX512-VNNI (CPUID leaf 7, ECX bit 11) and the OS
/// keeps 512-bit state (AVX-512F), unless <c>QUANTIZATION_DISABLE_JIT=1</c>. Before first use a generated kernel is
/// run on known data; any failure — no executable memory (hardened kernels, SELinux), a wrong answer — leaves the
/// variant unavailable with the reason traced, and the registry picks a managed variant. The code is built only
/// from fixed templates and integers this library computes; the driver checks every buffer's size before a call.
/// </remarks>
internal sealed unsafe class Int8GemmAvx512VnniJit : Int8GemmVariant
{
    public const string DisableVariable = "QUANTIZATION_DISABLE_JIT";

    private readonly ConcurrentDictionary<(int Rows, int Stride, int PaddedK), nint> _kernels = new();
    private readonly Lazy<string?> _unavailableReason;

    private Int8GemmAvx512VnniJit() => _unavailableReason = new Lazy<string?>(() =>
    {
        string? reason = UnavailableReason(Environment.GetEnvironmentVariable(DisableVariable)) ?? SelfTest();
        if (reason is not null)
            Trace.TraceInformation($"{nameof(Int8GemmAvx512VnniJit)} is unavailable: {reason}. The managed INT8 kernels run instead.");
        return reason;
    });

    public static Int8GemmAvx512VnniJit Instance { get; } = new();

    public override string Name => "Avx512VnniJit";

    public override bool IsSupported => _unavailableReason.Value is null;

    /// <summary>Why the variant cannot run here, or null.</summary>
    public string? WhyUnavailable => _unavailableReason.Value;

    public override int PanelWidth => VnniKernelGenerator.PanelWidth;

    public override int MaxRows => VnniKernelGenerator.MaxRows;

    public override int KStep => 4;

    public override int WeightElementSize => 1;

    public override int ActivationElementSize => 1;

    /// <summary>True when the CPU reports AVX512-VNNI: CPUID leaf 7, sub-leaf 0, ECX bit 11.</summary>
    public static bool CpuHasAvx512Vnni => X86Base.IsSupported && (X86Base.CpuId(7, 0).Ecx & (1 << 11)) != 0;

    public override void Kernel(int rows, byte* a, int aStride, byte* panel, int paddedK, int* tile)
    {
        nint code = _kernels.GetOrAdd((rows, aStride, paddedK), static key => Create(key.Rows, key.Stride, key.PaddedK));
        ((delegate* unmanaged<byte*, byte*, int*, void>)code)(a, panel, tile);
    }

    /// <summary>The static reasons the variant cannot run, given the value of <see cref="DisableVariable"/>.</summary>
    internal static string? UnavailableReason(string? disableSetting)
    {
        if (disableSetting is "1" || string.Equals(disableSetting, "true", StringComparison.OrdinalIgnoreCase))
            return $"{DisableVariable} is set";
        if (RuntimeInformation.ProcessArchitecture != Architecture.X64)
            return "the process is not x86-64";
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsWindows())
            return "generated kernels need Linux or Windows";
        if (!Avx512F.IsSupported)
            return "AVX-512F is not supported or not enabled by the OS";
        return CpuHasAvx512Vnni ? null : "the CPU does not report AVX512-VNNI";
    }

    private static nint Create(int rows, int stride, int paddedK)
    {
        byte[] code = VnniKernelGenerator.Generate(rows, stride, paddedK, OperatingSystem.IsWindows());
        return ExecutableMemory.TryCreate(code, out string? failure)
            ?? throw new InvalidOperationException($"Executable memory for a generated kernel was refused: {failure}.");
    }

    /// <summary>Generates and runs one kernel on known values; null when it computes the right sums.</summary>
    private static string? SelfTest()
    {
        const int Rows = 3, K = 8;
        byte[] code = VnniKernelGenerator.Generate(Rows, K, K, OperatingSystem.IsWindows());
        nint? kernel = ExecutableMemory.TryCreate(code, out string? failure);
        if (kernel is null)
            return failure;

        var a = new byte[Rows * K];
        var panel = new sbyte[K * VnniKernelGenerator.PanelWidth];
        var tile = new int[Rows * VnniKernelGenerator.PanelWidth];
        for (int i = 0; i < a.Length; i++)
            a[i] = (byte)(250 - i);
        for (int i = 0; i < panel.Length; i++)
            panel[i] = (sbyte)(i % 2 == 0 ? -128 + i % 7 : 127 - i % 5);
        fixed (byte* pa = a)
        fixed (sbyte* pw = panel)
        fixed (int* pt = tile)
            ((delegate* unmanaged<byte*, byte*, int*, void>)kernel.Value)(pa, (byte*)pw, pt);

        for (int r = 0; r < Rows; r++)
        {
            for (int j = 0; j < VnniKernelGenerator.PanelWidth; j++)
            {
                int sum = 0;
                for (int p = 0; p < K; p++)
                    sum += a[r * K + p] * panel[((p >> 2) * VnniKernelGenerator.PanelWidth + j) * 4 + (p & 3)];
                if (tile[r * VnniKernelGenerator.PanelWidth + j] != sum)
                    return $"the self-test kernel computed {tile[r * VnniKernelGenerator.PanelWidth + j]} instead of {sum}";
            }
        }

        return null;
    }
}
