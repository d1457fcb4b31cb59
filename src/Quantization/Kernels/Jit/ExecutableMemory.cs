using System.Runtime.InteropServices;

namespace Quantization.Kernels.Jit;

/// <summary>
/// Pages for generated machine code: mapped read-write, filled, then switched to read-execute. A page is never
/// writable and executable at once. Linux (mmap/mprotect) and Windows (VirtualAlloc/VirtualProtect) only.
/// The pages live for the rest of the process, like the kernels cached in them.
/// </summary>
internal static unsafe partial class ExecutableMemory
{
    private const int ProtRead = 1, ProtWrite = 2, ProtExec = 4;
    private const int MapPrivate = 0x02, MapAnonymous = 0x20;
    private const uint MemCommit = 0x1000, MemReserve = 0x2000, PageReadWrite = 0x04, PageExecuteRead = 0x20;

    /// <summary>Copies <paramref name="code"/> into new executable pages; returns null and why when the system refuses.</summary>
    public static nint? TryCreate(ReadOnlySpan<byte> code, out string? failure)
    {
        nuint size = (nuint)((code.Length + Environment.SystemPageSize - 1) / Environment.SystemPageSize * Environment.SystemPageSize);
        if (OperatingSystem.IsLinux())
            return OnLinux(code, size, out failure);
        if (OperatingSystem.IsWindows())
            return OnWindows(code, size, out failure);
        failure = "generated kernels need Linux or Windows";
        return null;
    }

    private static nint? OnLinux(ReadOnlySpan<byte> code, nuint size, out string? failure)
    {
        void* pages = Mmap(null, size, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
        if (pages == (void*)-1)
        {
            failure = $"mmap failed (errno {Marshal.GetLastPInvokeError()})";
            return null;
        }

        code.CopyTo(new Span<byte>(pages, (int)size));
        if (Mprotect(pages, size, ProtRead | ProtExec) != 0)
        {
            // Hardened kernels and SELinux policies may refuse executable anonymous memory.
            failure = $"mprotect to read+execute failed (errno {Marshal.GetLastPInvokeError()})";
            _ = Munmap(pages, size);
            return null;
        }

        failure = null;
        return (nint)pages;
    }

    private static nint? OnWindows(ReadOnlySpan<byte> code, nuint size, out string? failure)
    {
        void* pages = VirtualAlloc(null, size, MemCommit | MemReserve, PageReadWrite);
        if (pages is null)
        {
            failure = $"VirtualAlloc failed (error {Marshal.GetLastPInvokeError()})";
            return null;
        }

        code.CopyTo(new Span<byte>(pages, (int)size));
        uint previous;
        if (!VirtualProtect(pages, size, PageExecuteRead, &previous))
        {
            failure = $"VirtualProtect to execute+read failed (error {Marshal.GetLastPInvokeError()})";
            return null;
        }

        _ = FlushInstructionCache(GetCurrentProcess(), pages, size);
        failure = null;
        return (nint)pages;
    }

    [LibraryImport("libc", EntryPoint = "mmap", SetLastError = true)]
    private static partial void* Mmap(void* address, nuint length, int protection, int flags, int fd, nint offset);

    [LibraryImport("libc", EntryPoint = "mprotect", SetLastError = true)]
    private static partial int Mprotect(void* address, nuint length, int protection);

    [LibraryImport("libc", EntryPoint = "munmap", SetLastError = true)]
    private static partial int Munmap(void* address, nuint length);

    [LibraryImport("kernel32", SetLastError = true)]
    private static partial void* VirtualAlloc(void* address, nuint size, uint allocationType, uint protection);

    [LibraryImport("kernel32", SetLastError = true)]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool VirtualProtect(void* address, nuint size, uint newProtection, uint* oldProtection);

    [LibraryImport("kernel32")]
    [return: MarshalAs(UnmanagedType.Bool)]
    private static partial bool FlushInstructionCache(nint process, void* address, nuint size);

    [LibraryImport("kernel32")]
    private static partial nint GetCurrentProcess();
}
