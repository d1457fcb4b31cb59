using System.Numerics.Tensors;
using Quantization.Kernels.Elementwise;
using Quantization.Ops;

namespace Quantization.Graph;

/// <summary>What an ONNX <c>Cast</c> turns values into (all are still held as FP32, see <see cref="GraphModule"/>).</summary>
internal enum CastTarget
{
    /// <summary>float, double: values unchanged.</summary>
    Float,

    /// <summary>float16: rounded to the nearest half.</summary>
    Half,

    /// <summary>Any integer type: rounded toward zero.</summary>
    Integer,

    /// <summary>bool: 1 for non-zero, 0 for zero.</summary>
    Bool,
}

/// <summary>
/// The node kinds that are not layers: small kernels over whole tensors, built once per node with the node's
/// attributes and run by <see cref="GraphBody"/>. Elementwise and data-movement work goes to <see cref="Quantization.Ops"/>.
/// </summary>
internal static partial class GraphOps
{
    /// <summary>Reads an integer-valued tensor (see <see cref="GraphModule"/>): toward zero, saturating at the INT64 extremes.</summary>
    public static long[] ToInt64s(Tensor t)
    {
        var span = t.AsSpan();
        var result = new long[span.Length];
        for (int i = 0; i < result.Length; i++)
            result[i] = span[i] >= 9.2e18f ? long.MaxValue : span[i] <= -9.2e18f ? long.MinValue : (long)span[i];
        return result;
    }

    /// <summary>A tensor of integral values, e.g. a shape.</summary>
    public static Tensor FromInt64s(ReadOnlySpan<long> values, params ReadOnlySpan<int> shape)
    {
        var t = new Tensor(shape);
        var s = t.AsSpan();
        for (int i = 0; i < values.Length; i++)
            s[i] = values[i];
        return t;
    }

    /// <summary>The input at <paramref name="index"/>, which the operator requires.</summary>
    public static Tensor Required(Tensor?[] inputs, int index) =>
        index < inputs.Length && inputs[index] is Tensor t ? t : throw new ArgumentException($"Input {index} is required.");

    public static GraphKernel Identity() => (inputs, _) => [Required(inputs, 0)];

    /// <summary>Applies a span operation elementwise into a new tensor of the same shape.</summary>
    public static GraphKernel Map(SpanMap op) => (inputs, scope) =>
    {
        Tensor x = Required(inputs, 0);
        Tensor y = scope.Output(x, x.Shape);
        op(x.AsSpan(), y.AsSpan());
        return [y];
    };

    public delegate void SpanMap(ReadOnlySpan<float> x, Span<float> destination);

    /// <summary><c>y = max(x, 0)</c>.</summary>
    public static readonly NodeStep[] ReluSteps = [new(ArithmeticOp.Max, StepOperand.X, StepOperand.Of(0f))];

    public static GraphKernel Sigmoid() => Map(TensorPrimitives.Sigmoid);

    public static GraphKernel Sqrt() => Map(TensorPrimitives.Sqrt);

    public static GraphKernel Neg() => Map(TensorPrimitives.Negate);

    public static GraphKernel Log() => Map(TensorPrimitives.Log);

    public static GraphKernel Tanh() => Map(TensorPrimitives.Tanh);

    /// <summary><c>y = max(0, min(1, alpha·x + beta))</c>, as ONNX <c>HardSigmoid</c>.</summary>
    public static NodeStep[] HardSigmoidSteps(float alpha, float beta) =>
    [
        new(ArithmeticOp.Multiply, StepOperand.X, StepOperand.Of(alpha)),
        new(ArithmeticOp.Add, StepOperand.Previous, StepOperand.Of(beta)),
        new(ArithmeticOp.Min, StepOperand.Previous, StepOperand.Of(1f)),
        new(ArithmeticOp.Max, StepOperand.Previous, StepOperand.Of(0f)),
    ];

    /// <summary>A unary node computed by <paramref name="steps"/>: elementwise into a new tensor (or a donated input) of the same shape.</summary>
    public static GraphKernel Map(NodeStep[] steps) => Map((x, y) => NodeStep.Run(steps, x, default, y));

    /// <summary>The chunk form of a unary node computed by <paramref name="steps"/>.</summary>
    public static PointwiseOp UnaryPointwise(NodeStep[] steps) => new(false, _ => steps);

    /// <summary>
    /// <c>y = min(max(x, lo), hi)</c>; the bounds come from the attributes (opset &lt; 11) or from the optional scalar
    /// inputs 1 and 2 (opset 11+), and an absent bound does not clip.
    /// </summary>
    public static GraphKernel Clip(float min, float max) => (inputs, scope) =>
    {
        Tensor x = Required(inputs, 0);
        var (lo, hi) = ClipBounds(inputs, min, max);
        Tensor y = scope.Output(x, x.Shape);
        NodeStep.Run(ClipSteps(lo, hi), x.AsSpan(), default, y.AsSpan());
        return [y];
    };

    /// <summary><see cref="Clip"/>'s chunk form, for constant bounds.</summary>
    public static PointwiseOp ClipPointwise(float min, float max) => new(false, inputs =>
    {
        var (lo, hi) = ClipBounds(inputs, min, max);
        return ClipSteps(lo, hi);
    });

    private static (float Lo, float Hi) ClipBounds(Tensor?[] inputs, float min, float max) =>
        (inputs.Length > 1 && inputs[1] is Tensor a ? Scalar(a, "min") : min, inputs.Length > 2 && inputs[2] is Tensor b ? Scalar(b, "max") : max);

    private static NodeStep[] ClipSteps(float lo, float hi) =>
        [new(ArithmeticOp.Max, StepOperand.X, StepOperand.Of(lo)), new(ArithmeticOp.Min, StepOperand.Previous, StepOperand.Of(hi))];

    /// <summary>Converts values as ONNX <c>Cast</c> does for the target type.</summary>
    public static GraphKernel Cast(CastTarget target) => Map((x, y) =>
    {
        switch (target)
        {
            case CastTarget.Float:
                x.CopyTo(y);
                break;
            case CastTarget.Half:
                for (int i = 0; i < x.Length; i++)
                    y[i] = (float)(Half)x[i];
                break;
            case CastTarget.Integer:
                TensorPrimitives.Truncate(x, y);
                break;
            default:
                for (int i = 0; i < x.Length; i++)
                    y[i] = x[i] != 0f ? 1f : 0f;
                break;
        }
    });

    public static GraphKernel Add() => Binary(ElementwiseOps.Add);

    /// <summary><see cref="Add"/>'s chunk form: two data operands, or one and a scalar constant.</summary>
    public static readonly PointwiseOp AddPointwise = BinaryPointwise(ArithmeticOp.Add);

    /// <inheritdoc cref="AddPointwise"/>
    public static readonly PointwiseOp SubPointwise = BinaryPointwise(ArithmeticOp.Subtract);

    /// <inheritdoc cref="AddPointwise"/>
    public static readonly PointwiseOp MulPointwise = BinaryPointwise(ArithmeticOp.Multiply);

    /// <inheritdoc cref="AddPointwise"/>
    public static readonly PointwiseOp DivPointwise = BinaryPointwise(ArithmeticOp.Divide);

    /// <summary>A binary op on chunks; a commutative one takes a scalar constant first operand second.</summary>
    private static PointwiseOp BinaryPointwise(ArithmeticOp op) => new(true, inputs => inputs switch
    {
        [null, null] => [new(op, StepOperand.X, StepOperand.Y)],
        [null, { Length: 1 } b] => [new(op, StepOperand.X, StepOperand.Of(b.AsSpan()[0]))],
        [{ Length: 1 } a, null] when op is ArithmeticOp.Add or ArithmeticOp.Multiply => [new(op, StepOperand.X, StepOperand.Of(a.AsSpan()[0]))],
        [{ Length: 1 } a, null] => [new(op, StepOperand.Of(a.AsSpan()[0]), StepOperand.X)],
        _ => null,
    });

    public static GraphKernel Sub() => Binary(ElementwiseOps.Sub);

    public static GraphKernel Mul() => Binary(ElementwiseOps.Mul);

    public static GraphKernel Div() => Binary(ElementwiseOps.Div);

    /// <summary>A broadcasting binary op that writes into a donated operand of the output's shape when there is one.</summary>
    private static GraphKernel Binary(Func<Tensor, Tensor, Tensor?, Tensor> op) => (inputs, scope) =>
    {
        Tensor a = Required(inputs, 0), b = Required(inputs, 1);
        return [op(a, b, scope.DonatedWithShape(Shapes.Broadcast(a.Shape, b.Shape), a, b))];
    };

    /// <summary><c>x^p</c> with broadcasting; a scalar exponent 2 is <c>x · x</c>, exactly as ONNX Runtime computes it.</summary>
    public static GraphKernel Pow() => (inputs, _) =>
    {
        Tensor x = Required(inputs, 0), p = Required(inputs, 1);
        if (p.Length == 1 && p.Rank <= x.Rank)
        {
            var y = new Tensor(Shapes.Broadcast(x.Shape, p.Shape));
            float e = p.AsSpan()[0];
            if (e == 2f)
                TensorPrimitives.Multiply(x.AsSpan(), x.AsSpan(), y.AsSpan());
            else
                TensorPrimitives.Pow(x.AsSpan(), e, y.AsSpan());
            return [y];
        }

        return [Broadcast(x, p, (a, b) => MathF.Pow(a, b))];
    };

    /// <summary>1 where the operands are equal, else 0 (ONNX <c>Equal</c>, booleans held as floats).</summary>
    public static GraphKernel Equal() => (inputs, _) => [Broadcast(Required(inputs, 0), Required(inputs, 1), (a, b) => a == b ? 1f : 0f)];

    /// <summary>A scalar binary operation with numpy broadcasting.</summary>
    public static Tensor Broadcast(Tensor a, Tensor b, Func<float, float, float> op)
    {
        int[] shape = Shapes.Broadcast(a.Shape, b.Shape);
        var y = new Tensor(shape);
        var ys = y.AsSpan();
        var xa = new float[ys.Length];
        var xb = new float[ys.Length];
        Shapes.StridedCopy(a.AsSpan(), shape, Shapes.BroadcastStrides(a.Shape, shape), 0, xa);
        Shapes.StridedCopy(b.AsSpan(), shape, Shapes.BroadcastStrides(b.Shape, shape), 0, xb);
        for (int i = 0; i < ys.Length; i++)
            ys[i] = op(xa[i], xb[i]);
        return y;
    }

    /// <summary>
    /// Softmax along <paramref name="axis"/>; with <paramref name="coerce2D"/> (opset &lt; 13) over all of the axes
    /// from <paramref name="axis"/> on, as one row per index of the leading axes. Each row subtracts its maximum first.
    /// </summary>
    public static GraphKernel Softmax(long axis, bool coerce2D) => (inputs, _) =>
    {
        Tensor x = Required(inputs, 0);
        int a = Shapes.Axis(axis, Math.Max(x.Rank, 1));
        int outer = 1, length = 1, inner = 1;
        for (int d = 0; d < x.Rank; d++)
        {
            if (d < a)
                outer *= x.Shape[d];
            else if (d == a || coerce2D)
                length *= x.Shape[d];
            else
                inner *= x.Shape[d];
        }

        var y = new Tensor(x.Shape);
        var xs = x.AsSpan();
        var ys = y.AsSpan();
        var row = new float[length];
        for (int o = 0; o < outer; o++)
        {
            for (int i = 0; i < inner; i++)
            {
                int start = o * length * inner + i;
                for (int k = 0; k < length; k++)
                    row[k] = xs[start + k * inner];
                TensorPrimitives.SoftMax(row, row);
                for (int k = 0; k < length; k++)
                    ys[start + k * inner] = row[k];
            }
        }

        return [y];
    };

    /// <summary>The mean over <paramref name="axes"/> (all axes when null), keeping them as length 1 when <paramref name="keepDims"/>.</summary>
    public static GraphKernel ReduceMean(long[]? axes, bool keepDims) => (inputs, _) =>
    {
        Tensor x = Required(inputs, 0);
        var reduced = new bool[x.Rank];
        if (axes is null || axes.Length == 0)
            reduced.AsSpan().Fill(true);
        else
        {
            foreach (long axis in axes)
                reduced[Shapes.Axis(axis, x.Rank)] = true;
        }

        return [Mean(x, reduced, keepDims)];
    };

    /// <summary>ONNX <c>GlobalAveragePool</c>: the mean over every axis after the channel axis, kept as length 1.</summary>
    public static GraphKernel GlobalAveragePool() => (inputs, _) =>
    {
        Tensor x = Required(inputs, 0);
        if (x.Rank < 3)
            throw new ArgumentException($"GlobalAveragePool needs an input of rank 3 or more, not {Tensor.FormatShape(x.Shape)}.");
        // The reduced axes are the trailing ones, so each mean is over one contiguous plane: summed in double in order,
        // as Mean would, without its per-element index walk.
        int[] kept = [.. x.Shape];
        kept.AsSpan(2).Fill(1);
        var y = new Tensor(kept);
        int planes = x.Shape[0] * x.Shape[1], size = planes == 0 ? 0 : x.Length / planes;
        var xs = x.AsSpan();
        var ys = y.AsSpan();
        for (int p = 0; p < planes; p++)
        {
            double sum = 0;
            foreach (float v in xs.Slice(p * size, size))
                sum += v;
            ys[p] = (float)(sum / size);
        }

        return [y];
    };

    private static Tensor Mean(Tensor x, bool[] reduced, bool keepDims)
    {
        int rank = x.Rank;
        var kept = new int[rank];
        int count = 1;
        for (int d = 0; d < rank; d++)
        {
            kept[d] = reduced[d] ? 1 : x.Shape[d];
            if (reduced[d])
                count *= x.Shape[d];
        }

        var sums = new double[Shapes.Count(kept)];
        int[] outStrides = Shapes.Strides(kept);
        // Walk the input in row-major order; each element adds to the output slot of its kept coordinates.
        var index = new int[rank];
        var xs = x.AsSpan();
        for (int i = 0; i < xs.Length; i++)
        {
            int o = 0;
            for (int d = 0; d < rank; d++)
                o += reduced[d] ? 0 : index[d] * outStrides[d];
            sums[o] += xs[i];
            for (int d = rank - 1; d >= 0 && ++index[d] == x.Shape[d]; d--)
                index[d] = 0;
        }

        var y = new Tensor(keepDims ? kept : kept.Where((_, d) => !reduced[d]).ToArray());
        var ys = y.AsSpan();
        for (int i = 0; i < ys.Length; i++)
            ys[i] = (float)(sums[i] / count);
        return y;
    }

    private static float Scalar(Tensor t, string what) =>
        t.Length == 1 ? t.AsSpan()[0] : throw new ArgumentException($"The {what} must be a scalar, not {Tensor.FormatShape(t.Shape)}.");
}
