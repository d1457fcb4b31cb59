namespace Quantization.Benchmarks.Infrastructure;

/// <summary>How many bytes one invocation of the benchmark reads and writes; <see cref="ThroughputColumn"/> turns it into GB/s.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class BytesPerOperationAttribute(long bytes) : Attribute
{
    public long Bytes { get; } = bytes;
}
