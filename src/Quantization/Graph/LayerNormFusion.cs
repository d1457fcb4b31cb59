using System.Numerics.Tensors;

namespace Quantization.Graph;

/// <summary>
/// Layer normalization written out in ONNX operators, as PyTorch exports it below opset 17:
/// <c>d = Sub(x, ReduceMean(x))</c>, <c>y = Div(d, Sqrt(Add(ReduceMean(Pow(d, 2)), eps)))</c>, then optionally
/// <c>Mul</c> by a weight and <c>Add</c> of a bias, over the trailing axes. One pass per normalized row replaces the
/// nine nodes (each a kernel call, an output array and the interpreter's bookkeeping); it computes the same float and
/// double operations in the same order, so its result is the nodes' result bit for bit.
/// </summary>
/// <remarks>
/// Found where the nodes are consecutive and every intermediate value is read only inside the pattern and is not an
/// output of the body. What the graph cannot tell before a run (the input's shape, the axes against its rank, the
/// constants' values and shapes) is checked on each run; when it does not fit, <see cref="TryRun"/> returns null and
/// the nodes run one by one, with their own errors.
/// </remarks>
internal sealed class LayerNormFusion
{
    private readonly string _x, _two, _epsilon;
    private readonly string? _weight, _bias;
    private readonly long[]? _axes;

    private LayerNormFusion(int first, int last, string output, string x, string two, string epsilon, string? weight, string? bias, long[]? axes)
    {
        (First, Last, Output) = (first, last, output);
        (_x, _two, _epsilon, _weight, _bias, _axes) = (x, two, epsilon, weight, bias, axes);
    }

    /// <summary>The index of the pattern's first node (the first <c>ReduceMean</c>).</summary>
    public int First { get; }

    /// <summary>The index of its last node, whose output <see cref="TryRun"/> computes.</summary>
    public int Last { get; }

    /// <summary>The name of the last node's output.</summary>
    public string Output { get; }

    /// <summary>The patterns in <paramref name="nodes"/>, at the index of their first node (null elsewhere).</summary>
    public static LayerNormFusion?[] Find(IReadOnlyList<GraphNode> nodes, IReadOnlyList<string> outputs)
    {
        var readers = new Dictionary<string, int>();
        foreach (var node in nodes)
        {
            foreach (string name in node.Inputs.Concat(node.CapturedNames))
                readers[name] = readers.GetValueOrDefault(name) + 1;
        }

        var found = new LayerNormFusion?[nodes.Count];
        for (int i = 0; i < nodes.Count; i++)
        {
            if (Match(nodes, i, name => readers.GetValueOrDefault(name), outputs) is { } fusion)
            {
                found[i] = fusion;
                i = fusion.Last;
            }
        }

        return found;
    }

    private static LayerNormFusion? Match(IReadOnlyList<GraphNode> nodes, int first, Func<string, int> readers, IReadOnlyList<string> outputs)
    {
        int next = first;
        GraphNode? Take(string opType, int inputs)
        {
            if (next >= nodes.Count || nodes[next].OpType != opType || nodes[next].Inputs.Count != inputs || nodes[next].Outputs.Count != 1)
                return null;
            return nodes[next++];
        }

        // An intermediate value: read by exactly the pattern's nodes that read it, and not returned.
        bool Internal(string name, int reads) => readers(name) == reads && !outputs.Contains(name);

        // The operand of a commutative node that is not `value`, when the node reads `value` once.
        static string? Other(GraphNode node, string value) =>
            node.Inputs[0] == value && node.Inputs[1] != value ? node.Inputs[1]
            : node.Inputs[1] == value && node.Inputs[0] != value ? node.Inputs[0]
            : null;

        if (nodes[first] is not { OpType: "ReduceMean", Reduce: { KeepDims: true } reduce } || nodes[first].Outputs.Count != 1)
            return null;
        next++;
        string x = nodes[first].Inputs[0], mean = nodes[first].Outputs[0];
        if (Take("Sub", 2) is not { } sub || sub.Inputs[0] != x || sub.Inputs[1] != mean || !Internal(mean, 1))
            return null;
        string d = sub.Outputs[0];
        if (Take("Pow", 2) is not { } pow || pow.Inputs[0] != d || !Internal(d, 2))
            return null;
        string two = pow.Inputs[1], square = pow.Outputs[0];
        if (nodes.Count <= next || nodes[next] is not { OpType: "ReduceMean", Reduce: { KeepDims: true } reduce2 } variance
            || variance.Inputs[0] != square || variance.Outputs.Count != 1 || !SameAxes(reduce.Axes, reduce2.Axes) || !Internal(square, 1))
            return null;
        next++;
        if (Take("Add", 2) is not { } add || Other(add, variance.Outputs[0]) is not { } epsilon || !Internal(variance.Outputs[0], 1))
            return null;
        if (Take("Sqrt", 1) is not { } sqrt || sqrt.Inputs[0] != add.Outputs[0] || !Internal(add.Outputs[0], 1))
            return null;
        if (Take("Div", 2) is not { } div || div.Inputs[0] != d || div.Inputs[1] != sqrt.Outputs[0] || !Internal(sqrt.Outputs[0], 1))
            return null;

        string output = div.Outputs[0];
        string? weight = null, bias = null;
        int last = next - 1;
        if (Internal(output, 1) && Take("Mul", 2) is { } mul)
        {
            if (Other(mul, output) is { } w)
                (weight, output, last) = (w, mul.Outputs[0], next - 1);
            else
                next--;
        }

        if (Internal(output, 1) && Take("Add", 2) is { } shift)
        {
            if (Other(shift, output) is { } b)
                (bias, output, last) = (b, shift.Outputs[0], next - 1);
        }

        // Operands must come from outside the pattern.
        var produced = Enumerable.Range(first, last - first + 1).Select(k => nodes[k].Outputs[0]).ToHashSet();
        if (produced.Contains(x) || produced.Contains(two) || produced.Contains(epsilon)
            || (weight is not null && produced.Contains(weight)) || (bias is not null && produced.Contains(bias)))
            return null;
        return new LayerNormFusion(first, last, output, x, two, epsilon, weight, bias, reduce.Axes);
    }

    private static bool SameAxes(long[]? a, long[]? b) => a is null ? b is null : b is not null && a.AsSpan().SequenceEqual(b);

    /// <summary>
    /// The pattern's output from the values in <paramref name="scope"/>, or null when they do not fit the fused pass
    /// (the axes are not the trailing ones, the exponent is not a scalar 2, a constant would broadcast the result to
    /// another shape or varies across rows).
    /// </summary>
    public Tensor? TryRun(GraphScope scope)
    {
        if (!scope.TryGet(_x, out var x) || !scope.TryGet(_two, out var two) || !scope.TryGet(_epsilon, out var epsilon))
            return null;
        int rank = x.Rank;
        if (two.Length != 1 || two.Rank > rank || two.AsSpan()[0] != 2f || epsilon.Length != 1 || epsilon.Rank > rank)
            return null;
        if (NormalizedFrom(x.Shape) is not { } from)
            return null;
        int length = 1;
        for (int a = from; a < rank; a++)
            length *= x.Shape[a];
        if (length == 0)
            return null;
        Tensor? weight = null, bias = null;
        if ((_weight is not null && (!scope.TryGet(_weight, out weight) || !PerPosition(weight, x.Shape, from)))
            || (_bias is not null && (!scope.TryGet(_bias, out bias) || !PerPosition(bias, x.Shape, from))))
            return null;

        var y = Tensor.Uninitialized([.. x.Shape]);
        Normalize(x.AsSpan(), length, epsilon.AsSpan()[0], weight, bias, y.AsSpan());
        return y;
    }

    /// <summary>The first normalized axis when the axes are the trailing ones of <paramref name="shape"/>, else null.</summary>
    private int? NormalizedFrom(ReadOnlySpan<int> shape)
    {
        int rank = shape.Length;
        if (_axes is null || _axes.Length == 0)
            return rank == 0 ? null : 0;
        Span<bool> reduced = stackalloc bool[rank];
        foreach (long axis in _axes)
        {
            if (axis < -rank || axis >= rank)
                return null;
            reduced[(int)(axis < 0 ? axis + rank : axis)] = true;
        }

        int from = reduced.IndexOf(true);
        return reduced[from..].Contains(false) ? null : from;
    }

    /// <summary>Whether <paramref name="c"/> (a weight or bias) broadcasts to <paramref name="shape"/> without changing it and is the same for every row.</summary>
    private static bool PerPosition(Tensor c, ReadOnlySpan<int> shape, int from)
    {
        if (c.Rank > shape.Length)
            return false;
        if (c.Length == 1)
            return true;
        int offset = shape.Length - c.Rank;
        for (int k = 0; k < c.Rank; k++)
        {
            int axis = offset + k;
            if (c.Shape[k] != (axis < from ? 1 : shape[axis]))
                return false;
        }

        return true;
    }

    /// <summary>
    /// Each row of <paramref name="length"/> values: the means summed in double in order and divided as
    /// <c>ReduceMean</c> does, every other step a float operation as the nodes compute it.
    /// </summary>
    private static void Normalize(ReadOnlySpan<float> x, int length, float epsilon, Tensor? weight, Tensor? bias, Span<float> y)
    {
        for (int start = 0; start < x.Length; start += length)
        {
            var row = x.Slice(start, length);
            var output = y.Slice(start, length);
            double sum = 0;
            foreach (float v in row)
                sum += v;
            TensorPrimitives.Subtract(row, (float)(sum / length), output);
            double squares = 0;
            foreach (float d in output)
                squares += d * d;
            float deviation = MathF.Sqrt((float)(squares / length) + epsilon);
            TensorPrimitives.Divide(output, deviation, output);
            if (weight is { Length: 1 })
                TensorPrimitives.Multiply(output, weight.AsSpan()[0], output);
            else if (weight is not null)
                TensorPrimitives.Multiply(output, weight.AsSpan(), output);
            if (bias is { Length: 1 })
                TensorPrimitives.Add(output, bias.AsSpan()[0], output);
            else if (bias is not null)
                TensorPrimitives.Add(output, bias.AsSpan(), output);
        }
    }
}
