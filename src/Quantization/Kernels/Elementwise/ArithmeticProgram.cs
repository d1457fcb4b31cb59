using System.Buffers;
using System.Collections.Concurrent;
using System.Linq.Expressions;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Expr = System.Linq.Expressions.Expression;

namespace Quantization.Kernels.Elementwise;

/// <summary>The IEEE operations of an <see cref="ArithmeticProgram"/>, with <see cref="ChunkMath"/>'s semantics.</summary>
internal enum ArithmeticOp
{
    Add,
    Subtract,
    Multiply,
    Divide,
    Max,
    Min,
}

/// <summary>
/// One operation of an <see cref="ArithmeticProgram"/>: the k-th writes register k + 1 with <c>Op(A, B)</c>. An operand
/// of 0 or more is a register (0 is the source), a negative one <c>~j</c> is constant j.
/// </summary>
internal readonly record struct ArithmeticInstruction(ArithmeticOp Op, int A, int B);

/// <summary>
/// A straight-line elementwise float program, run either as one compiled loop over vectors that keeps every
/// intermediate in registers (a chain of nodes — scale, bias, decomposed HardSwish — then reads and writes memory once
/// per value instead of once per operation) or one operation at a time over short chunks with <see cref="ChunkMath"/>.
/// Both apply the same vector operators in the same order, so they give the same values bit for bit.
/// </summary>
/// <remarks>
/// The loop is built as an expression tree and compiled by the JIT once per program shape (the constants are a
/// parameter), so a model's chains of the same operations share one loop. Where code cannot be compiled at run time
/// (ahead-of-time compilation) or vectors are not accelerated there is no loop and <see cref="Run"/> goes by chunks.
/// A decomposed HardSwish (five operations) over 3.3 M values took 0.13 ns per value compiled against 0.32 by chunks
/// (Zen 5, one thread, same run).
/// </remarks>
internal sealed class ArithmeticProgram
{
    /// <summary>Values per chunk without the loop: all registers stay in L1.</summary>
    private const int Chunk = 512;

    private static readonly ConcurrentDictionary<string, Loop> Compiled = new();

    private readonly ArithmeticInstruction[] _instructions;
    private readonly float[] _constants;
    private readonly Lazy<Loop?> _loop;

    /// <summary>A program of <paramref name="instructions"/> (at least one) over <paramref name="constants"/>.</summary>
    /// <exception cref="ArgumentException">An operand is a register not yet written or a constant not given, or both operands are constants.</exception>
    public ArithmeticProgram(IReadOnlyList<ArithmeticInstruction> instructions, IReadOnlyList<float> constants)
    {
        if (instructions.Count == 0)
            throw new ArgumentException("A program needs at least one instruction.", nameof(instructions));
        for (int k = 0; k < instructions.Count; k++)
        {
            var (op, a, b) = instructions[k];
            if (!Enum.IsDefined(op) || a > k || b > k || ~a >= constants.Count || ~b >= constants.Count || (a < 0 && b < 0))
                throw new ArgumentException($"Instruction {k} ({op}, {a}, {b}) does not read a register written before it or a given constant.", nameof(instructions));
        }

        _instructions = [.. instructions];
        _constants = [.. constants];
        _loop = new Lazy<Loop?>(() => Compile(_instructions, _constants.Length));
    }

    /// <summary>Runs the program on <c>source[start..]</c> into <c>destination</c>, whole pairs of vectors while they fit before <c>end</c>; returns where it stopped.</summary>
    private delegate int Loop(float[] source, float[] destination, int start, int end, float[] constants);

    /// <summary>Whether <see cref="Run"/> goes through a compiled vector loop (compiling it on first use).</summary>
    public bool IsCompiled => _loop.Value is not null;

    /// <summary>
    /// Writes the program's result for <c>source[start..end)</c> into <c>destination</c> at the same indices;
    /// <paramref name="destination"/> may be <paramref name="source"/>.
    /// </summary>
    public void Run(float[] source, float[] destination, int start, int end)
    {
        if (start < 0 || end > source.Length || end > destination.Length || start > end)
            throw new ArgumentOutOfRangeException(nameof(end), $"[{start}, {end}) is not within {source.Length} source and {destination.Length} destination values.");
        if (_loop.Value is { } loop)
            start = loop(source, destination, start, end, _constants);
        if (start == end)
            return;
        float[] registers = ArrayPool<float>.Shared.Rent(Math.Max(1, _instructions.Length - 1) * Chunk);
        for (; start < end; start += Chunk)
            RunChunk(source, destination, registers, start, Math.Min(Chunk, end - start));
        ArrayPool<float>.Shared.Return(registers);
    }

    // Register r > 0 is at registers[(r - 1) * Chunk..]; the last instruction writes the destination.
    private void RunChunk(float[] source, float[] destination, float[] registers, int start, int n)
    {
        for (int k = 0; k < _instructions.Length; k++)
        {
            var (op, a, b) = _instructions[k];
            var target = k == _instructions.Length - 1 ? destination.AsSpan(start, n) : registers.AsSpan(k * Chunk, n);
            if (a >= 0 && b >= 0)
                ChunkMath.Apply(op, Register(a), Register(b), target);
            else if (a >= 0)
                ChunkMath.Apply(op, Register(a), _constants[~b], target);
            else
                ChunkMath.Apply(op, _constants[~a], Register(b), target);
        }

        ReadOnlySpan<float> Register(int r) => r == 0 ? source.AsSpan(start, n) : registers.AsSpan((r - 1) * Chunk, n);
    }

    private static Loop? Compile(ArithmeticInstruction[] program, int constantCount)
    {
        if (!RuntimeFeature.IsDynamicCodeCompiled)
            return null;
        VectorMethods? vectors = Vector512.IsHardwareAccelerated ? VectorMethods.Of512()
            : Vector256.IsHardwareAccelerated ? VectorMethods.Of256()
            : Vector128.IsHardwareAccelerated ? VectorMethods.Of128()
            : null;
        if (vectors is null)
            return null;
        string key = $"{vectors.Width}:{constantCount}:{string.Join(';', program.Select(p => $"{p.Op},{p.A},{p.B}"))}";
        return Compiled.GetOrAdd(key, _ => Build(vectors, program, constantCount));
    }

    /// <summary>
    /// The vector operations a loop calls, for one width, taken from method groups (not looked up by name, so trimming
    /// keeps them).
    /// </summary>
    private sealed record VectorMethods(Type Vector, int Width, MethodInfo Broadcast, MethodInfo Load, MethodInfo Store, MethodInfo Max, MethodInfo Min)
    {
        public static VectorMethods Of512() => new(typeof(Vector512<float>), Vector512<float>.Count,
            ((Func<float, Vector512<float>>)Vector512.Create).Method,
            ((Func<float[], int, Vector512<float>>)Vector512.Create).Method,
            ((Action<Vector512<float>, float[], int>)Vector512.CopyTo).Method,
            ((Func<Vector512<float>, Vector512<float>, Vector512<float>>)Vector512.Max).Method,
            ((Func<Vector512<float>, Vector512<float>, Vector512<float>>)Vector512.Min).Method);

        public static VectorMethods Of256() => new(typeof(Vector256<float>), Vector256<float>.Count,
            ((Func<float, Vector256<float>>)Vector256.Create).Method,
            ((Func<float[], int, Vector256<float>>)Vector256.Create).Method,
            ((Action<Vector256<float>, float[], int>)Vector256.CopyTo).Method,
            ((Func<Vector256<float>, Vector256<float>, Vector256<float>>)Vector256.Max).Method,
            ((Func<Vector256<float>, Vector256<float>, Vector256<float>>)Vector256.Min).Method);

        public static VectorMethods Of128() => new(typeof(Vector128<float>), Vector128<float>.Count,
            ((Func<float, Vector128<float>>)Vector128.Create).Method,
            ((Func<float[], int, Vector128<float>>)Vector128.Create).Method,
            ((Action<Vector128<float>, float[], int>)Vector128.CopyTo).Method,
            ((Func<Vector128<float>, Vector128<float>, Vector128<float>>)Vector128.Max).Method,
            ((Func<Vector128<float>, Vector128<float>, Vector128<float>>)Vector128.Min).Method);
    }

    private static Loop Build(VectorMethods methods, ArithmeticInstruction[] program, int constantCount)
    {
        var (vector, width, broadcast, load, store, max, min) = methods;
        var source = Expr.Parameter(typeof(float[]), "source");
        var destination = Expr.Parameter(typeof(float[]), "destination");
        var start = Expr.Parameter(typeof(int), "start");
        var end = Expr.Parameter(typeof(int), "end");
        var constantArray = Expr.Parameter(typeof(float[]), "constants");
        var i = Expr.Variable(typeof(int), "i");
        var constants = Enumerable.Range(0, constantCount).Select(j => Expr.Variable(vector, $"c{j}")).ToArray();

        var body = new List<Expr> { Expr.Assign(i, start) };
        for (int j = 0; j < constantCount; j++)
            body.Add(Expr.Assign(constants[j], Expr.Call(broadcast, Expr.ArrayIndex(constantArray, Expr.Constant(j)))));

        // Two vectors per step, so one's operations can issue while the other waits on a division's latency.
        var registers = new List<ParameterExpression>();
        var step = new List<Expr>();
        for (int u = 0; u < 2; u++)
        {
            var offset = Expr.Add(i, Expr.Constant(u * width));
            var r = new ParameterExpression[program.Length + 1];
            r[0] = Expr.Variable(vector, $"r{u}_0");
            step.Add(Expr.Assign(r[0], Expr.Call(load, source, offset)));
            for (int k = 0; k < program.Length; k++)
            {
                var (op, a, b) = program[k];
                Expr x = a >= 0 ? r[a] : constants[~a], y = b >= 0 ? r[b] : constants[~b];
                Expr value = op switch
                {
                    ArithmeticOp.Add => Expr.Add(x, y),
                    ArithmeticOp.Subtract => Expr.Subtract(x, y),
                    ArithmeticOp.Multiply => Expr.Multiply(x, y),
                    ArithmeticOp.Divide => Expr.Divide(x, y),
                    ArithmeticOp.Max => Expr.Call(max, x, y),
                    _ => Expr.Call(min, x, y),
                };
                r[k + 1] = Expr.Variable(vector, $"r{u}_{k + 1}");
                step.Add(Expr.Assign(r[k + 1], value));
            }

            step.Add(Expr.Call(store, r[^1], destination, offset));
            registers.AddRange(r);
        }

        step.Add(Expr.AddAssign(i, Expr.Constant(2 * width)));
        var done = Expr.Label("done");
        body.Add(Expr.Loop(
            Expr.IfThenElse(Expr.LessThanOrEqual(i, Expr.Subtract(end, Expr.Constant(2 * width))), Expr.Block(step), Expr.Break(done)),
            done));
        body.Add(i);
        var lambda = Expr.Lambda<Loop>(Expr.Block([i, .. constants, .. registers], body), source, destination, start, end, constantArray);
        return lambda.Compile();
    }
}
