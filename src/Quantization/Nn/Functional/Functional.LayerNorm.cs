using System.Numerics.Tensors;

namespace Quantization.Nn;

internal static partial class Functional
{
    /// <summary>
    /// Layer normalization of each run of the last <paramref name="normalizedLength"/> values of x:
    /// <c>y = (x - mean) / sqrt(var + eps) · γ + β</c> with the biased variance (PyTorch's <c>F.layer_norm</c>); γ and β
    /// hold <paramref name="normalizedLength"/> values or are null. Backward per run, with x̂ the normalized values,
    /// g = dy·γ and M = <paramref name="normalizedLength"/>: <c>dx = (g - mean(g) - x̂ · mean(g · x̂)) / sqrt(var + eps)</c>;
    /// dγ = Σ_runs dy·x̂, dβ = Σ_runs dy.
    /// </summary>
    public static Variable LayerNorm(Variable x, int normalizedLength, Variable? weight, Variable? bias, float eps)
    {
        int m = normalizedLength, runs = x.Value.Length / m;
        var xs = x.Value.AsSpan();
        var xhat = new Tensor(x.Shape);
        var y = new Tensor(x.Shape);
        var invStd = new float[runs];
        var xh = xhat.AsSpan();
        var ys = y.AsSpan();
        for (int r = 0; r < runs; r++)
        {
            var run = xs.Slice(r * m, m);
            // Two passes in double: the mean first, then the squared deviations, so a large offset costs no precision.
            double mean = 0;
            foreach (float v in run)
                mean += v;
            mean /= m;
            double sumSq = 0;
            foreach (float v in run)
                sumSq += (v - mean) * (v - mean);
            invStd[r] = (float)(1.0 / Math.Sqrt(sumSq / m + eps));
            var hat = xh.Slice(r * m, m);
            TensorPrimitives.Subtract(run, (float)mean, hat);
            TensorPrimitives.Multiply(hat, invStd[r], hat);
            var output = ys.Slice(r * m, m);
            if (weight is null)
                hat.CopyTo(output);
            else
                TensorPrimitives.Multiply(hat, weight.Value.AsSpan(), output);
            if (bias is not null)
                TensorPrimitives.Add(output, bias.Value.AsSpan(), output);
        }

        Variable[] inputs = (weight, bias) switch
        {
            (null, null) => [x],
            (null, not null) => [x, bias],
            (not null, null) => [x, weight],
            _ => [x, weight, bias],
        };
        return Variable.Record(y, inputs, dy =>
        {
            var g = dy.AsSpan();
            if (x.RequiresGrad)
            {
                var dx = new Tensor(x.Shape);
                var d = dx.AsSpan();
                var scaled = new float[m];
                for (int r = 0; r < runs; r++)
                {
                    var hat = xhat.AsSpan().Slice(r * m, m);
                    if (weight is null)
                        g.Slice(r * m, m).CopyTo(scaled);
                    else
                        TensorPrimitives.Multiply(g.Slice(r * m, m), weight.Value.AsSpan(), scaled);
                    float meanG = TensorPrimitives.Sum(scaled) / m, meanGHat = TensorPrimitives.Dot(scaled, hat) / m;
                    var run = d.Slice(r * m, m);
                    TensorPrimitives.MultiplyAdd(hat, -meanGHat, scaled, run);
                    TensorPrimitives.Subtract(run, meanG, run);
                    TensorPrimitives.Multiply(run, invStd[r], run);
                }

                x.AccumulateGrad(dx);
            }

            if (weight is not null && weight.RequiresGrad)
            {
                var dw = new Tensor(weight.Shape);
                var product = new float[m];
                for (int r = 0; r < runs; r++)
                {
                    TensorPrimitives.Multiply(g.Slice(r * m, m), xhat.AsSpan().Slice(r * m, m), product);
                    TensorPrimitives.Add(dw.AsSpan(), product, dw.AsSpan());
                }

                weight.AccumulateGrad(dw);
            }

            if (bias is not null && bias.RequiresGrad)
                bias.AccumulateGrad(ColumnSums(g, runs, m).Reshape(bias.Shape));
        });
    }
}
