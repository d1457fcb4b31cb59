namespace Quantization.Graph;

internal static partial class GraphOps
{
    /// <summary>ONNX <c>If</c>: runs <paramref name="then"/> when the scalar condition is non-zero, else <paramref name="otherwise"/>, in a scope that sees the enclosing values.</summary>
    public static GraphKernel If(GraphBody then, GraphBody otherwise) => (inputs, scope) =>
    {
        Tensor condition = Required(inputs, 0);
        if (condition.Length != 1)
            throw new ArgumentException($"The If condition must hold one value, not {Tensor.FormatShape(condition.Shape)}.");
        return (condition.AsSpan()[0] != 0f ? then : otherwise).Run(scope.Child());
    };
}
