namespace Quantization.Nn;

internal static partial class Functional
{
    /// <summary>A view with another shape; the gradient is reshaped back.</summary>
    public static Variable Reshape(Variable x, params int[] shape)
    {
        var y = x.Value.Reshape(shape);
        return Variable.Record(y, [x], dy => x.AccumulateGrad(dy.Reshape(x.Shape)));
    }

    /// <summary>Zeroes each element with probability <paramref name="p"/> and scales the rest by 1 / (1 - p); the gradient uses the same mask.</summary>
    public static Variable Dropout(Variable x, float p, Random rng)
    {
        var mask = new float[x.Value.Length];
        float scale = p >= 1f ? 0f : 1f / (1f - p);
        for (int i = 0; i < mask.Length; i++)
            mask[i] = rng.NextDouble() < p ? 0f : scale;
        var y = new Tensor(x.Shape);
        System.Numerics.Tensors.TensorPrimitives.Multiply(x.Value.AsSpan(), mask, y.AsSpan());
        return Variable.Record(y, [x], dy =>
        {
            var dx = new Tensor(x.Shape);
            System.Numerics.Tensors.TensorPrimitives.Multiply(dy.AsSpan(), mask, dx.AsSpan());
            x.AccumulateGrad(dx);
        });
    }
}
