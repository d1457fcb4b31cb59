using Quantization.Kernels.Elementwise;

namespace Quantization.Graph;

/// <summary>
/// Computes a node's outputs from its inputs (null for an omitted optional input) within <paramref name="scope"/>,
/// which resolves layer modules and, for control flow, the enclosing values.
/// </summary>
internal delegate Tensor[] GraphKernel(Tensor?[] inputs, GraphScope scope);

/// <summary>
/// A data-movement node's kernel on codes: every output element is one of <paramref name="data"/>'s elements (or, for
/// MaxPool, the largest of several, which quantization's monotonicity keeps), so it moves QUInt8 codes and keeps the
/// parameters. <paramref name="inputs"/> are the node's other inputs as floats (entry 0 is null).
/// </summary>
internal delegate QuantizedTensor QuantizedKernel(QuantizedTensor data, Tensor?[] inputs);

/// <summary>
/// A node's INT8 kernel for operands held as codes (<see cref="Int8Steps.Operand"/>), quantizing its result with
/// <paramref name="output"/>; null when it cannot take these operands (the node then runs FP32 on decoded values).
/// </summary>
internal delegate QuantizedTensor? Int8Kernel(IReadOnlyList<Int8Steps.Operand> operands, QuantParams output);

/// <summary>
/// One step of an elementwise node's arithmetic: <c>Op(A, B)</c>, each operand one of the node's data operands (its
/// inputs that are not constants, in input order), the previous step's result, or a constant. Steps after the first
/// read only the previous result and constants, so a node may write its output over its input.
/// </summary>
internal readonly record struct NodeStep(ArithmeticOp Op, StepOperand A, StepOperand B)
{
    /// <summary>Runs <paramref name="steps"/> on <paramref name="x"/> (and <paramref name="y"/>, empty when unread) into <paramref name="destination"/>.</summary>
    public static void Run(IReadOnlyList<NodeStep> steps, ReadOnlySpan<float> x, ReadOnlySpan<float> y, Span<float> destination)
    {
        for (int k = 0; k < steps.Count; k++)
        {
            var (op, a, b) = steps[k];
            if (k > 0 != (a.Slot == StepSlot.Previous || b.Slot == StepSlot.Previous) || k > 0 && (a.Slot <= StepSlot.Y || b.Slot <= StepSlot.Y))
                throw new ArgumentException($"Step {k} reads {a.Slot} and {b.Slot}: the first step reads data operands, later ones only the previous result.", nameof(steps));
            ReadOnlySpan<float> first = a.Slot switch { StepSlot.X => x, StepSlot.Y => y, _ => destination };
            ReadOnlySpan<float> second = b.Slot switch { StepSlot.X => x, StepSlot.Y => y, _ => destination };
            if (a.Slot == StepSlot.Constant)
                ChunkMath.Apply(op, a.Value, second, destination);
            else if (b.Slot == StepSlot.Constant)
                ChunkMath.Apply(op, first, b.Value, destination);
            else
                ChunkMath.Apply(op, first, second, destination);
        }
    }
}

/// <summary>Where a <see cref="StepOperand"/> comes from.</summary>
internal enum StepSlot
{
    /// <summary>The node's first data operand.</summary>
    X,

    /// <summary>The node's second data operand.</summary>
    Y,

    /// <summary>The previous step's result.</summary>
    Previous,

    /// <summary>A constant.</summary>
    Constant,
}

/// <summary>An operand of a <see cref="NodeStep"/>: its slot and, for a constant, the value.</summary>
internal readonly record struct StepOperand(StepSlot Slot, float Value = 0f)
{
    public static StepOperand X => new(StepSlot.X);

    public static StepOperand Y => new(StepSlot.Y);

    public static StepOperand Previous => new(StepSlot.Previous);

    public static StepOperand Of(float value) => new(StepSlot.Constant, value);
}

/// <summary>
/// An elementwise node's arithmetic, for running a chain of such nodes in one pass (<see cref="FloatChain"/>). A unary
/// op reads data only at input 0; a binary op at input 0, input 1 or both. <see cref="Bind"/> takes the node's inputs
/// with the data operands null and the constants present, and returns the node's steps, or null (or throws
/// <see cref="ArgumentException"/>) when the constants are not what it computes with steps (scalars).
/// </summary>
internal sealed record PointwiseOp(bool Binary, Func<Tensor?[], NodeStep[]?> Bind);

/// <summary>What a reduction node reduces: the axes as written (negative from the end; null for all) and whether it keeps them as length 1.</summary>
internal sealed record Reduction(long[]? Axes, bool KeepDims);

/// <summary>
/// One step of a <see cref="GraphModule"/>: an operator (<see cref="OpType"/>, ONNX names) reading and writing named
/// values. Layer nodes (convolutions, fully connected layers, batch norms) run the child module named
/// <see cref="ModuleName"/>, so replacing that child (<see cref="Nn.Module.SetSubmodule"/>) changes what the node
/// runs; other nodes run the core ops.
/// </summary>
public sealed class GraphNode
{
    internal GraphNode(string name, string opType, string[] inputs, string[] outputs, GraphKernel kernel, string? moduleName = null, string[]? capturedNames = null)
    {
        Name = name;
        OpType = opType;
        Inputs = inputs.AsReadOnly();
        Outputs = outputs.AsReadOnly();
        Kernel = kernel;
        ModuleName = moduleName;
        CapturedNames = capturedNames ?? [];
    }

    /// <summary>The node's name, used in messages (ONNX names may be empty; the importer then labels by position).</summary>
    public string Name { get; }

    /// <summary>The operator, e.g. <c>Conv</c> or <c>Reshape</c>.</summary>
    public string OpType { get; }

    /// <summary>The values read, in operator order; an empty name is an omitted optional input.</summary>
    public IReadOnlyList<string> Inputs { get; }

    /// <summary>The values written; an empty name is an output nobody reads.</summary>
    public IReadOnlyList<string> Outputs { get; }

    /// <summary>The child module a layer node runs, or null for an op node.</summary>
    public string? ModuleName { get; }

    /// <summary>Values the node reads besides <see cref="Inputs"/> (names its subgraphs take from the enclosing scope).</summary>
    internal string[] CapturedNames { get; }

    internal GraphKernel Kernel { get; }

    /// <summary>The same operation on QUInt8 codes, for nodes that only move or select values; null otherwise.</summary>
    internal QuantizedKernel? CodeKernel { get; init; }

    /// <summary>The node computed from quantized operands and requantized (Concat), for nodes that have such a kernel; null otherwise.</summary>
    internal Int8Kernel? Int8Kernel { get; init; }

    /// <summary>The node as an operation on chunks, for elementwise nodes that compute the same values chunk by chunk; null otherwise.</summary>
    internal PointwiseOp? Pointwise { get; init; }

    /// <summary>For a <c>ReduceMean</c> node, its axes (null: all) and whether it keeps them; null for other nodes.</summary>
    internal Reduction? Reduce { get; init; }

    /// <inheritdoc/>
    public override string ToString() =>
        $"{Name} ({OpType}{(ModuleName is null ? "" : " -> " + ModuleName)}): ({string.Join(", ", Inputs)}) -> ({string.Join(", ", Outputs)})";
}
