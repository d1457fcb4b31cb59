using Quantization.Kernels.Elementwise;
using Quantization.Kernels.Threading;

namespace Quantization.Graph;

/// <summary>
/// A float value that is an elementwise function of one other value, <see cref="Source"/>, through elementwise nodes
/// whose other operands are scalar constants or values of the same chain: the scale, bias and decomposed HardSwish
/// (Add, Clip, Mul, Div) after a convolution kept in FP32. It is computed in one pass as an
/// <see cref="ArithmeticProgram"/> of the nodes' steps (compiled into one vector loop where the runtime allows)
/// instead of one pass over memory per node.
/// </summary>
/// <remarks>
/// The program applies the nodes' own steps (<see cref="GraphNode.Pointwise"/>) in node order, so the values are those
/// the nodes give one after another, bit for bit.
/// </remarks>
internal sealed class FloatChain
{
    /// <summary>Values per parallel task.</summary>
    private const int TaskValues = 16384;

    private FloatChain(string source, int minRank, Expression root)
    {
        Source = source;
        MinRank = minRank;
        Root = root;
        var instructions = new List<ArithmeticInstruction>();
        var constants = new List<float>();
        var register = new Dictionary<Expression, int>(ReferenceEqualityComparer.Instance) { [Expression.Leaf] = 0 };
        Visit(root);
        Length = register.Count - 1;
        Program = new ArithmeticProgram(instructions, constants);

        void Visit(Expression e)
        {
            if (register.ContainsKey(e))
                return;
            Visit(e.X!);
            if (e.Y is not null)
                Visit(e.Y);
            int x = register[e.X!], y = e.Y is null ? -1 : register[e.Y], previous = -1;
            foreach (var (op, a, b) in e.Steps!)
            {
                instructions.Add(new ArithmeticInstruction(op, Operand(a), Operand(b)));
                previous = instructions.Count;
            }

            register[e] = previous;

            int Operand(StepOperand operand) => operand.Slot switch
            {
                StepSlot.X => x,
                StepSlot.Y when y >= 0 => y,
                StepSlot.Previous when previous >= 0 => previous,
                StepSlot.Constant => ~Constant(operand.Value),
                _ => throw new InvalidOperationException($"A step reads {operand.Slot}, which its node does not have."),
            };
        }

        // Equal constants (by bits: -0 is not 0, NaNs keep their payloads) share one register.
        int Constant(float value)
        {
            int bits = BitConverter.SingleToInt32Bits(value), index = constants.FindIndex(c => BitConverter.SingleToInt32Bits(c) == bits);
            if (index < 0)
            {
                constants.Add(value);
                index = constants.Count - 1;
            }

            return index;
        }
    }

    /// <summary>The value the chain starts from.</summary>
    public string Source { get; }

    /// <summary>The least rank of the result: the highest rank of a constant operand (broadcasting pads the source's shape with leading 1s).</summary>
    public int MinRank { get; }

    /// <summary>The node count: the passes over memory that one pass replaces.</summary>
    public int Length { get; }

    /// <summary>The nodes' steps as one program.</summary>
    public ArithmeticProgram Program { get; }

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
        NodeStep[]? steps;
        try
        {
            steps = pointwise.Bind(bound);
        }
        catch (ArgumentException)
        {
            return null;
        }

        if (steps is not { Length: > 0 })
            return null;
        Expression Operand(string name) => chains.TryGetValue(name, out var chain) ? chain.Root : Expression.Leaf;
        var y = data.Count > 1 ? Operand(node.Inputs[data[1]]) : null;
        return new FloatChain(source, minRank, new Expression(steps, Operand(node.Inputs[data[0]]), y));
    }

    /// <summary>The chain's value for <paramref name="source"/>, in a new tensor.</summary>
    public Tensor Evaluate(Tensor source)
    {
        int rank = Math.Max(source.Rank, MinRank);
        var shape = new int[rank];
        shape.AsSpan().Fill(1);
        source.Shape.CopyTo(shape.AsSpan(rank - source.Rank));
        int length = source.Length;
        var result = Tensor.Uninitialized(shape);
        float[] input = source.Storage, output = result.Storage;
        KernelParallel.For((length + TaskValues - 1) / TaskValues, (long)length * Length, task =>
            Program.Run(input, output, task * TaskValues, Math.Min(length, (task + 1) * TaskValues)));
        return result;
    }

    /// <summary>A node's steps on the expressions of its data operands; the shared <see cref="Leaf"/> is the source.</summary>
    private sealed class Expression(NodeStep[]? steps, Expression? x, Expression? y)
    {
        public static readonly Expression Leaf = new(null, null, null);

        public NodeStep[]? Steps => steps;

        public Expression? X => x;

        public Expression? Y => y;
    }
}
