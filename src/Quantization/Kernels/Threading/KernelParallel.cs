namespace Quantization.Kernels.Threading;

/// <summary>Splits kernel work into independent tasks and runs them on up to <see cref="Parallelism.ThreadCount"/> threads.</summary>
internal static class KernelParallel
{
    /// <summary>
    /// Below this many multiply-accumulates (or comparable units) per thread a problem stays on the calling thread:
    /// handing work to a pool thread and waiting for it costs several microseconds, about what a core does in this
    /// much work (measured: a 1×768×768 INT8 GEMM, 0.6M MACs, ran slower on two threads than on one).
    /// </summary>
    public const long MinWorkPerThread = 1L << 20;

    /// <summary>How many threads a problem of <paramref name="totalWork"/> units split into <paramref name="taskCount"/> tasks should use.</summary>
    public static int ThreadsFor(long totalWork, int taskCount, int maxThreads)
    {
        long byWork = Math.Max(1, totalWork / MinWorkPerThread);
        return (int)Math.Min(Math.Min(byWork, taskCount), maxThreads);
    }

    /// <summary>
    /// Runs <paramref name="body"/> for every task index in [0, <paramref name="taskCount"/>). Tasks are handed out
    /// in order from a shared counter, so threads that finish early take more. With one thread everything runs
    /// inline, in order.
    /// </summary>
    /// <param name="taskCount">The number of independent tasks.</param>
    /// <param name="totalWork">The work of all tasks together, to decide whether threads pay off.</param>
    /// <param name="body">The task; must be safe to run concurrently for different indices.</param>
    /// <param name="maxThreads">The thread limit; <see cref="Parallelism.ThreadCount"/> when 0.</param>
    public static void For(int taskCount, long totalWork, Action<int> body, int maxThreads = 0)
    {
        int threads = ThreadsFor(totalWork, taskCount, maxThreads > 0 ? maxThreads : Parallelism.ThreadCount);
        if (threads <= 1)
        {
            for (int i = 0; i < taskCount; i++)
                body(i);
            return;
        }

        int next = -1;
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads };
        Parallel.For(0, threads, options, _ =>
        {
            int i;
            while ((i = Interlocked.Increment(ref next)) < taskCount)
                body(i);
        });
    }
}
