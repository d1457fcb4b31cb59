namespace Quantization;

/// <summary>
/// Arrays of dead intermediate tensors, kept for the next tensors of the same length. A graph run activates one on
/// its thread, so the <see cref="Tensor(ReadOnlySpan{int})"/> its ops call takes a recycled (zeroed) array instead of
/// a fresh one, and quantized layers take their u8 buffers from it: activations above 85 KB would otherwise each be a
/// new large-object allocation, whose first writes and collections cost far more than the ops that fill them.
/// </summary>
/// <remarks>
/// Only the owner returns arrays, and only those no live value can reach (see <c>GraphBody.Run</c>). At most
/// <see cref="MaxBytes"/> are kept; arrays beyond that are left to the garbage collector.
/// </remarks>
internal sealed class TensorArena
{
    /// <summary>Smaller float arrays are cheap to allocate and stay with the garbage collector.</summary>
    public const int MinLength = 4096;

    /// <summary>
    /// Smaller byte arrays stay with the garbage collector. Lower than for floats: the many small activations of a
    /// classifier (12 KB and 14 KB codes) were most of what a run allocated, and their collections cost time.
    /// </summary>
    public const int MinBytes = 1024;

    /// <summary>The most the arena keeps (a graph's activations of one run, for the models this library targets).</summary>
    public const long MaxBytes = 256L << 20;

    [ThreadStatic]
    private static TensorArena? t_current;

    private readonly Dictionary<int, Stack<float[]>> _free = [];
    private readonly Dictionary<int, Stack<byte[]>> _freeBytes = [];
    private long _bytes;

    /// <summary>The arena active on this thread, or null.</summary>
    public static TensorArena? Current => t_current;

    /// <summary>Makes <paramref name="arena"/> this thread's arena until the returned scope is disposed.</summary>
    public static ActiveScope Activate(TensorArena arena)
    {
        var previous = t_current;
        t_current = arena;
        return new ActiveScope(previous);
    }

    /// <summary>
    /// An array of exactly <paramref name="length"/> values, zeroed unless <paramref name="clear"/> is false (for a
    /// caller that writes every value), or null when none is free.
    /// </summary>
    public float[]? TryTake(int length, bool clear = true)
    {
        if (length < MinLength || !_free.TryGetValue(length, out var stack) || !stack.TryPop(out var array))
            return null;
        _bytes -= (long)length * sizeof(float);
        if (clear)
            Array.Clear(array);
        return array;
    }

    /// <summary>Keeps <paramref name="array"/>, which nothing else may use any more, for a later <see cref="TryTake"/>.</summary>
    public void Return(float[] array)
    {
        long bytes = (long)array.Length * sizeof(float);
        if (array.Length < MinLength || _bytes + bytes > MaxBytes)
            return;
        if (!_free.TryGetValue(array.Length, out var stack))
            _free[array.Length] = stack = new Stack<float[]>();
        stack.Push(array);
        _bytes += bytes;
    }

    /// <summary>A byte array of exactly <paramref name="length"/> from this thread's arena (contents undefined), or a new one.</summary>
    public static byte[] RentBytes(int length)
    {
        var arena = t_current;
        if (arena is null || length < MinBytes || !arena._freeBytes.TryGetValue(length, out var stack) || !stack.TryPop(out var array))
            return new byte[length];
        arena._bytes -= length;
        return array;
    }

    /// <summary>Keeps <paramref name="array"/>, which nothing else may use any more, for a later <see cref="RentBytes"/>.</summary>
    public void Return(byte[] array)
    {
        if (array.Length < MinBytes || _bytes + array.Length > MaxBytes)
            return;
        if (!_freeBytes.TryGetValue(array.Length, out var stack))
            _freeBytes[array.Length] = stack = new Stack<byte[]>();
        stack.Push(array);
        _bytes += array.Length;
    }

    /// <summary>Restores the previously active arena when disposed.</summary>
    public readonly struct ActiveScope(TensorArena? previous) : IDisposable
    {
        public void Dispose() => t_current = previous;
    }
}
