using System.Numerics.Tensors;

namespace Quantization.Nn;

internal static partial class Functional
{
    /// <summary>
    /// Batch normalization of x [N, C, *] per channel: <c>y = (x - mean) / sqrt(var + eps) · γ + β</c>. In training the
    /// batch's mean and biased variance normalize, and the running statistics move by <paramref name="momentum"/>
    /// toward the batch mean and the unbiased variance (PyTorch's convention); in evaluation the running statistics
    /// normalize. Training backward, with x̂ the normalized input, g = dy·γ and M = N·spatial:
    /// <c>dx = (g - mean(g) - x̂ · mean(g · x̂)) / sqrt(var + eps)</c>, dγ = Σ dy·x̂, dβ = Σ dy.
    /// </summary>
    public static Variable BatchNorm(Variable x, Variable? weight, Variable? bias, Tensor runningMean, Tensor runningVar,
        bool training, float momentum, float eps)
    {
        int n = x.Shape[0], c = x.Shape[1], spatial = x.Value.Length / Math.Max(1, n * c), count = n * spatial;
        var xs = x.Value.AsSpan();
        var mean = new float[c];
        var invStd = new float[c];
        for (int ch = 0; ch < c; ch++)
        {
            if (training)
            {
                // Double accumulation keeps the variance of large channels accurate.
                double sum = 0, sumSq = 0;
                for (int img = 0; img < n; img++)
                {
                    var run = xs.Slice((img * c + ch) * spatial, spatial);
                    sum += TensorPrimitives.Sum(run);
                }

                double m = sum / count;
                for (int img = 0; img < n; img++)
                {
                    var run = xs.Slice((img * c + ch) * spatial, spatial);
                    for (int k = 0; k < run.Length; k++)
                    {
                        double dev = run[k] - m;
                        sumSq += dev * dev;
                    }
                }

                double biased = sumSq / count;
                mean[ch] = (float)m;
                invStd[ch] = (float)(1.0 / Math.Sqrt(biased + eps));
                double unbiased = count > 1 ? sumSq / (count - 1) : biased;
                runningMean.AsSpan()[ch] = (float)((1 - momentum) * runningMean.AsSpan()[ch] + momentum * m);
                runningVar.AsSpan()[ch] = (float)((1 - momentum) * runningVar.AsSpan()[ch] + momentum * unbiased);
            }
            else
            {
                mean[ch] = runningMean.AsSpan()[ch];
                invStd[ch] = (float)(1.0 / Math.Sqrt(runningVar.AsSpan()[ch] + (double)eps));
            }
        }

        Variable[] inputs = weight is null || bias is null ? [x] : [x, weight, bias];
        // x̂ is kept for the backward pass only; inference writes it into y and scales it there.
        bool recording = Autograd.IsEnabled && Array.Exists(inputs, v => v.RequiresGrad);
        var y = new Tensor(x.Shape);
        var xhat = recording ? new Tensor(x.Shape) : y;
        var xh = xhat.AsSpan();
        var ys = y.AsSpan();
        for (int img = 0; img < n; img++)
        {
            for (int ch = 0; ch < c; ch++)
            {
                int start = (img * c + ch) * spatial;
                var hat = xh.Slice(start, spatial);
                TensorPrimitives.Subtract(xs.Slice(start, spatial), mean[ch], hat);
                TensorPrimitives.Multiply(hat, invStd[ch], hat);
                float gamma = weight is null ? 1f : weight.Value.AsSpan()[ch], beta = bias is null ? 0f : bias.Value.AsSpan()[ch];
                TensorPrimitives.Multiply(hat, gamma, ys.Slice(start, spatial));
                TensorPrimitives.Add(ys.Slice(start, spatial), beta, ys.Slice(start, spatial));
            }
        }

        return Variable.Record(y, inputs, dy =>
        {
            var g = dy.AsSpan();
            var dGamma = new float[c];
            var dBeta = new float[c];
            for (int img = 0; img < n; img++)
            {
                for (int ch = 0; ch < c; ch++)
                {
                    int start = (img * c + ch) * spatial;
                    dBeta[ch] += TensorPrimitives.Sum(g.Slice(start, spatial));
                    dGamma[ch] += TensorPrimitives.Dot(g.Slice(start, spatial), xhatSpan(start));
                }
            }

            if (x.RequiresGrad)
            {
                var dx = new Tensor(x.Shape);
                var d = dx.AsSpan();
                for (int img = 0; img < n; img++)
                {
                    for (int ch = 0; ch < c; ch++)
                    {
                        int start = (img * c + ch) * spatial;
                        float gamma = weight is null ? 1f : weight.Value.AsSpan()[ch];
                        var run = d.Slice(start, spatial);
                        if (training)
                        {
                            // dx = γ·invStd·(dy - dβ/M - x̂·dγ/M)
                            TensorPrimitives.MultiplyAdd(xhatSpan(start), -dGamma[ch] / count, g.Slice(start, spatial), run);
                            TensorPrimitives.Subtract(run, dBeta[ch] / count, run);
                            TensorPrimitives.Multiply(run, gamma * invStd[ch], run);
                        }
                        else
                        {
                            TensorPrimitives.Multiply(g.Slice(start, spatial), gamma * invStd[ch], run);
                        }
                    }
                }

                x.AccumulateGrad(dx);
            }

            weight?.AccumulateGrad(new Tensor(dGamma, c));
            bias?.AccumulateGrad(new Tensor(dBeta, c));

            Span<float> xhatSpan(int start) => xhat.AsSpan().Slice(start, spatial);
        });
    }
}
