namespace Quantization.Kernels.Gemm;

/// <summary>
/// A compile-time row count for micro-kernels: a generic kernel instantiated with a struct type argument is
/// compiled once per count, and the JIT folds <c>TRows.Value</c> so unused accumulators and branches vanish.
/// </summary>
internal interface IRowCount
{
    static abstract int Value { get; }
}

internal readonly struct Rows1 : IRowCount { public static int Value => 1; }

internal readonly struct Rows2 : IRowCount { public static int Value => 2; }

internal readonly struct Rows3 : IRowCount { public static int Value => 3; }

internal readonly struct Rows4 : IRowCount { public static int Value => 4; }

internal readonly struct Rows5 : IRowCount { public static int Value => 5; }

internal readonly struct Rows6 : IRowCount { public static int Value => 6; }

internal readonly struct Rows7 : IRowCount { public static int Value => 7; }

internal readonly struct Rows8 : IRowCount { public static int Value => 8; }
