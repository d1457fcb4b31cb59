using System.Numerics.Tensors;
using Quantization.Kernels.Conv;
using Quantization.Kernels.Gemm;

namespace Quantization.Nn;

/// <summary>The differentiable operations the layers are built from, each a forward pass plus its backward closure.</summary>
internal static partial class Functional
{
    /// <summary>
    /// <c>y = x Wᵀ + b</c> for x [N, in], W [out, in] (PyTorch's layout), b [out] or null. Forward and both backward
    /// products run on the packed FP32 GEMM: dX = dY W, dW = dYᵀ X, db = Σ_n dY.
    /// </summary>
    public static Variable Linear(Variable x, Variable weight, Variable? bias)
    {
        int n = x.Shape[0], inF = weight.Shape[1], outF = weight.Shape[0];
        var packed = Fp32Gemm.Pack(weight.Value.AsSpan(), inF, outF, transposed: true);
        var y = new Tensor(n, outF);
        Fp32Gemm.Multiply(x.Value.AsSpan(), n, inF, packed, bias is null ? default : bias.Value.AsSpan(), y.AsSpan(), outF);
        Variable[] inputs = bias is null ? [x, weight] : [x, weight, bias];
        return Variable.Record(y, inputs, dy =>
        {
            if (x.RequiresGrad)
            {
                var dx = new Tensor(n, inF);
                Fp32Gemm.MultiplyUnpacked(dy.AsSpan(), n, outF, weight.Value.AsSpan(), inF, dx.AsSpan());
                x.AccumulateGrad(dx.Reshape(x.Shape));
            }

            if (weight.RequiresGrad)
            {
                var dyT = Transpose(dy.AsSpan(), n, outF);
                var dw = new Tensor(outF, inF);
                Fp32Gemm.MultiplyUnpacked(dyT, outF, n, x.Value.AsSpan(), inF, dw.AsSpan());
                weight.AccumulateGrad(dw);
            }

            if (bias is not null && bias.RequiresGrad)
                bias.AccumulateGrad(ColumnSums(dy.AsSpan(), n, outF));
        });
    }

    /// <summary>A rows × cols matrix transposed into a new array (the conv kernels' register-blocked transpose).</summary>
    internal static float[] Transpose(ReadOnlySpan<float> source, int rows, int cols)
    {
        var result = new float[source.Length];
        ConvLayout.Transpose(source, rows, cols, result);
        return result;
    }

    /// <summary>The sum of the rows of a rows × cols matrix, one vector add per row.</summary>
    private static Tensor ColumnSums(ReadOnlySpan<float> source, int rows, int cols)
    {
        var sums = new Tensor(cols);
        var s = sums.AsSpan();
        for (int r = 0; r < rows; r++)
            TensorPrimitives.Add(s, source.Slice(r * cols, cols), s);
        return sums;
    }
}
