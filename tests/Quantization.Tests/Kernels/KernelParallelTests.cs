using Quantization.Kernels.Threading;
using Xunit;

namespace Quantization.Tests.Kernels;

public class KernelParallelTests
{
    [Fact]
    public void Small_problems_stay_on_one_thread() =>
        Assert.Equal(1, KernelParallel.ThreadsFor(KernelParallel.MinWorkPerThread - 1, 100, 8));

    [Fact]
    public void Threads_are_bounded_by_tasks_work_and_limit()
    {
        Assert.Equal(3, KernelParallel.ThreadsFor(KernelParallel.MinWorkPerThread * 100, 3, 8));
        Assert.Equal(2, KernelParallel.ThreadsFor(KernelParallel.MinWorkPerThread * 100, 50, 2));
        Assert.Equal(4, KernelParallel.ThreadsFor(KernelParallel.MinWorkPerThread * 4, 50, 8));
    }

    [Fact]
    public void Every_task_runs_exactly_once()
    {
        var counts = new int[1000];
        KernelParallel.For(counts.Length, long.MaxValue / 2, i => Interlocked.Increment(ref counts[i]), maxThreads: 4);
        Assert.All(counts, c => Assert.Equal(1, c));
    }

    [Fact]
    public void Thread_count_rejects_values_below_one() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => Parallelism.ThreadCount = 0);
}
