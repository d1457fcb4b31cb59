using System.Numerics.Tensors;

namespace Quantization.Nn;

internal static partial class Functional
{
    /// <summary>
    /// Mean over the batch of <c>-log softmax(logits[n])[label[n]]</c>, computed as <c>logsumexp - logit</c> with the
    /// row maximum subtracted first. Backward: <c>(softmax - onehot) / N</c> times the upstream scalar.
    /// </summary>
    public static Variable CrossEntropy(Variable logits, ReadOnlySpan<int> labels)
    {
        int n = logits.Shape[0], classes = logits.Shape[1];
        var probabilities = new Tensor(n, classes);
        var p = probabilities.AsSpan();
        var z = logits.Value.AsSpan();
        var target = labels.ToArray();
        double total = 0;
        for (int i = 0; i < n; i++)
        {
            var row = z.Slice(i * classes, classes);
            float max = TensorPrimitives.Max(row);
            var pr = p.Slice(i * classes, classes);
            TensorPrimitives.Subtract(row, max, pr);
            TensorPrimitives.Exp(pr, pr);
            double sum = TensorPrimitives.Sum(pr);
            total += Math.Log(sum) + max - row[target[i]];
            TensorPrimitives.Divide(pr, (float)sum, pr);
        }

        var loss = new Tensor([(float)(total / n)], []);
        return Variable.Record(loss, [logits], dy =>
        {
            float scale = dy.AsSpan()[0] / n;
            var dz = new Tensor(n, classes);
            var d = dz.AsSpan();
            TensorPrimitives.Multiply(probabilities.AsSpan(), scale, d);
            for (int i = 0; i < n; i++)
                d[i * classes + target[i]] -= scale;
            logits.AccumulateGrad(dz);
        });
    }

    /// <summary>Mean of (input - target)²; the gradient is 2 (input - target) / count for both sides (negated for the target).</summary>
    public static Variable MseLoss(Variable input, Variable target)
    {
        var diff = new float[input.Value.Length];
        TensorPrimitives.Subtract(input.Value.AsSpan(), target.Value.AsSpan(), diff);
        int count = diff.Length;
        var loss = new Tensor([count == 0 ? float.NaN : TensorPrimitives.Dot(diff, diff) / count], []);
        return Variable.Record(loss, [input, target], dy =>
        {
            float scale = 2f * dy.AsSpan()[0] / count;
            var g = new Tensor(input.Shape);
            TensorPrimitives.Multiply(diff, scale, g.AsSpan());
            input.AccumulateGrad(g);
            if (target.RequiresGrad)
                target.AccumulateGrad(g * -1f);
        });
    }
}
