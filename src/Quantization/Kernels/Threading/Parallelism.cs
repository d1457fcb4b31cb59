namespace Quantization;

/// <summary>
/// How many threads the compute kernels may use (PyTorch's <c>torch.set_num_threads</c>). Problems too small
/// to repay the cost of waking other threads always run on the calling thread.
/// </summary>
public static class Parallelism
{
    private static int _threadCount = Environment.ProcessorCount;

    /// <summary>The most threads one kernel call uses; defaults to the number of logical processors.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public static int ThreadCount
    {
        get => Volatile.Read(ref _threadCount);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            Volatile.Write(ref _threadCount, value);
        }
    }
}
