namespace Quantization.Nn;

internal static partial class Functional
{
    /// <summary>
    /// Gathers rows of <paramref name="weight"/> [rows, dim]: output row k is <c>weight[indices[k]]</c>, shaped
    /// <paramref name="outputShape"/>. Backward adds each output row's gradient to its weight row, so repeated indices
    /// sum; the row <paramref name="paddingIdx"/> (-1 for none) gets no gradient, as in PyTorch.
    /// </summary>
    public static Variable Embedding(int[] indices, int[] outputShape, Variable weight, int paddingIdx)
    {
        int dim = weight.Shape[1];
        var y = new Tensor(outputShape);
        var w = weight.Value.AsSpan();
        var ys = y.AsSpan();
        for (int k = 0; k < indices.Length; k++)
            w.Slice(indices[k] * dim, dim).CopyTo(ys.Slice(k * dim, dim));
        return Variable.Record(y, [weight], dy =>
        {
            var dw = new Tensor(weight.Shape);
            var d = dw.AsSpan();
            var g = dy.AsSpan();
            for (int k = 0; k < indices.Length; k++)
            {
                if (indices[k] != paddingIdx)
                    System.Numerics.Tensors.TensorPrimitives.Add(d.Slice(indices[k] * dim, dim), g.Slice(k * dim, dim), d.Slice(indices[k] * dim, dim));
            }

            weight.AccumulateGrad(dw);
        });
    }
}
