using System.Buffers;
using Quantization.Kernels.Threading;

namespace Quantization.Graph;

/// <summary>
/// A float value that is an elementwise function of one other value, <see cref="Source"/>, through elementwise nodes
/// whose other operands are scalar constants or values of the same chain: the scale, bias and decomposed HardSwish
/// (Add, Clip, Mul, Div) after a convolution kept in FP32. It is computed in one pass over chunks that stay in L1 instead
/// of one pass over memory per node.
/// </summary>
/// <remarks>
/// Each chunk goes through the nodes' own chunk operations (<see cref="GraphNode.Pointwise"/>) in node order, so the
/// values are those the nodes give one after another, bit for bit.
/// </remarks>
internal sealed class FloatChain
{
    /// <summary>Floats per chunk: a chain's registers (one per node) stay in L1.</summary>
    private const int Chunk = 512;

    /// <summary>Chunks per parallel task.</summary>
    private const int ChunksPerTask = 32;

    // Operation k writes register k + 1 from registers _x[k] and _y[k] (-1: none); register 0 is the source.
    private readonly ChunkOp[] _ops;
    private readonly int[] _x;
    private readonly int[] _y;

    private FloatChain(string source, int minRank, Expression root)
    {
        Source = source;
        MinRank = minRank;
        Root = root;
        var order = new List<Expression>();
        var register = new Dictionary<Expression, int>(ReferenceEqualityComparer.Instance) { [Expression.Leaf] = 0 };
        Visit(root);
        _ops = order.Select(e => e.Op!).ToArray();
        _x = order.Select(e => register[e.X!]).ToArray();
        _y = order.Select(e => e.Y is null ? -1 : register[e.Y]).ToArray();

        void Visit(Expression e)
        {
            if (register.ContainsKey(e))
                return;
            Visit(e.X!);
            if (e.Y is not null)
                Visit(e.Y);
            order.Add(e);
            register[e] = order.Count;
        }
    }

    /// <summary>The value the chain starts from.</summary>
    public string Source { get; }

    /// <summary>The least rank of the result: the highest rank of a constant operand (broadcasting pads the source's shape with leading 1s).</summary>
    public int MinRank { get; }

    /// <summary>The node count: the passes over memory that one pass replaces.</summary>
    public int Length => _ops.Length;

    private Expression Root { get; }

    /// <summary>
    /// The chain of <paramref name="node"/>'s output, when the node is elementwise with a chunk form and its data
    /// operands all derive from one value (directly or through <paramref name="chains"/>); null otherwise.
    /// </summary>
    public static FloatChain? Of(GraphNode node, IReadOnlyDictionary<string, Tensor> constants, IReadOnlyDictionary<string, FloatChain> chains)
    {
        if (node.Pointwise is not { } pointwise || node.ModuleName is not null || node.Outputs.Count != 1 || node.Outputs[0].Length == 0)
            return null;
        var bound = new Tensor?[node.Inputs.Count];
        var data = new List<int>();
        string? source = null;
        int minRank = 0;
        for (int k = 0; k < bound.Length; k++)
        {
            string name = node.Inputs[k];
            if (name.Length == 0)
                continue;
            if (constants.TryGetValue(name, out var constant))
            {
                bound[k] = constant;
                minRank = Math.Max(minRank, constant.Rank);
                continue;
            }

            string from = name;
            if (chains.TryGetValue(name, out var chain))
                (from, minRank) = (chain.Source, Math.Max(minRank, chain.MinRank));
            if (source is not null && source != from)
                return null;
            source = from;
            data.Add(k);
        }

        bool fits = pointwise.Binary ? bound.Length == 2 && data.Count > 0 : data is [0];
        if (source is null || !fits)
            return null;
        ChunkOp? op;
        try
        {
            op = pointwise.Bind(bound);
        }
        catch (ArgumentException)
        {
            return null;
        }

        if (op is null)
            return null;
        Expression Operand(string name) => chains.TryGetValue(name, out var chain) ? chain.Root : Expression.Leaf;
        var y = data.Count > 1 ? Operand(node.Inputs[data[1]]) : null;
        return new FloatChain(source, minRank, new Expression(op, Operand(node.Inputs[data[0]]), y));
    }

    /// <summary>The chain's value for <paramref name="source"/>, in a new tensor.</summary>
    public Tensor Evaluate(Tensor source)
    {
        int rank = Math.Max(source.Rank, MinRank);
        var shape = new int[rank];
        shape.AsSpan().Fill(1);
        source.Shape.CopyTo(shape.AsSpan(rank - source.Rank));
        int length = source.Length, last = _ops.Length - 1;
        var result = Tensor.Uninitialized(shape);
        float[] input = source.Storage, output = result.Storage;
        int tasks = (length + Chunk * ChunksPerTask - 1) / (Chunk * ChunksPerTask);
        KernelParallel.For(tasks, (long)length * _ops.Length, task =>
        {
            float[] registers = ArrayPool<float>.Shared.Rent(Math.Max(1, last) * Chunk);
            int end = Math.Min(length, (task + 1) * Chunk * ChunksPerTask);
            for (int start = task * Chunk * ChunksPerTask; start < end; start += Chunk)
            {
                int n = Math.Min(Chunk, end - start);
                ReadOnlySpan<float> Register(int r) => r < 0 ? default : r == 0 ? input.AsSpan(start, n) : registers.AsSpan((r - 1) * Chunk, n);
                for (int k = 0; k <= last; k++)
                {
                    var destination = k == last ? output.AsSpan(start, n) : registers.AsSpan(k * Chunk, n);
                    _ops[k](Register(_x[k]), Register(_y[k]), destination);
                }
            }

            ArrayPool<float>.Shared.Return(registers);
        });
        return result;
    }

    /// <summary>A node's operation on the expressions of its data operands; the shared <see cref="Leaf"/> is the source.</summary>
    private sealed class Expression(ChunkOp? op, Expression? x, Expression? y)
    {
        public static readonly Expression Leaf = new(null, null, null);

        public ChunkOp? Op => op;

        public Expression? X => x;

        public Expression? Y => y;
    }
}
