namespace Quantization.Nn;

internal static partial class Functional
{
    /// <summary>
    /// Fake quantization with the straight-through estimator (PyTorch's <c>fake_quantize_per_*_affine</c> in
    /// training): the forward pass quantizes and dequantizes exactly as the integer kernels will; the gradient passes
    /// where <c>qmin ≤ zp + round_half_even(x · (1 / scale)) ≤ qmax</c> and is zero where the value was clamped.
    /// </summary>
    /// <param name="x">The values.</param>
    /// <param name="qparams">Per-tensor, or per-channel along an axis of <paramref name="x"/>.</param>
    /// <param name="quantMin">The smallest integer of the observer's range.</param>
    /// <param name="quantMax">The largest integer of the observer's range.</param>
    public static Variable FakeQuantize(Variable x, QuantParams qparams, int quantMin, int quantMax)
    {
        var value = x.Value;
        var y = qparams.IsPerChannel
            ? value.FakeQuantizePerChannel(qparams.Scales, qparams.ZeroPoints, qparams.Axis, quantMin, quantMax)
            : value.FakeQuantizePerTensor(qparams.Scale, qparams.ZeroPoint, quantMin, quantMax);
        return Variable.Record(y, [x], dy =>
        {
            var dx = dy.Clone();
            var dxs = dx.AsSpan();
            var xs = value.AsSpan();
            var layout = ChannelLayout.For(qparams, value.Shape, value.Length);
            for (int o = 0; o < layout.Outer; o++)
            {
                for (int c = 0; c < layout.Channels; c++)
                {
                    var (scale, zp) = qparams.ForChannel(c);
                    float inverse = 1f / scale;
                    int start = layout.Start(o, c);
                    for (int i = start; i < start + layout.Inner; i++)
                    {
                        float q = zp + MathF.Round(xs[i] * inverse, MidpointRounding.ToEven);
                        if (!(q >= quantMin && q <= quantMax))
                            dxs[i] = 0f;
                    }
                }
            }

            x.AccumulateGrad(dx);
        });
    }

    /// <summary>
    /// Multiplies (or divides) each slice of <paramref name="x"/> along <paramref name="axis"/> by its factor
    /// [C]; gradients flow to both: dx = dy · f (dy / f), df[c] = Σ dy · x (−Σ dy · x / f²).
    /// </summary>
    public static Variable ScaleChannels(Variable x, Variable factors, int axis, bool divide)
    {
        var xs = x.Value.AsSpan();
        var f = factors.Value.AsSpan();
        var layout = ChannelLayout.Around(x.Shape, axis);
        var y = new Tensor(x.Shape);
        var ys = y.AsSpan();
        for (int o = 0; o < layout.Outer; o++)
        {
            for (int c = 0; c < layout.Channels; c++)
            {
                int start = layout.Start(o, c);
                var source = xs.Slice(start, layout.Inner);
                var destination = ys.Slice(start, layout.Inner);
                if (divide)
                    System.Numerics.Tensors.TensorPrimitives.Divide(source, f[c], destination);
                else
                    System.Numerics.Tensors.TensorPrimitives.Multiply(source, f[c], destination);
            }
        }

        var value = x.Value;
        var factorValues = factors.Value;
        return Variable.Record(y, [x, factors], dy =>
        {
            var dys = dy.AsSpan();
            var fv = factorValues.AsSpan();
            var dx = x.RequiresGrad ? new Tensor(value.Shape) : null;
            var df = factors.RequiresGrad ? new Tensor(factorValues.Shape) : null;
            for (int o = 0; o < layout.Outer; o++)
            {
                for (int c = 0; c < layout.Channels; c++)
                {
                    int start = layout.Start(o, c);
                    var g = dys.Slice(start, layout.Inner);
                    if (dx is not null)
                    {
                        if (divide)
                            System.Numerics.Tensors.TensorPrimitives.Divide(g, fv[c], dx.AsSpan().Slice(start, layout.Inner));
                        else
                            System.Numerics.Tensors.TensorPrimitives.Multiply(g, fv[c], dx.AsSpan().Slice(start, layout.Inner));
                    }

                    if (df is not null)
                    {
                        float dot = System.Numerics.Tensors.TensorPrimitives.Dot(g, value.AsSpan().Slice(start, layout.Inner));
                        df.AsSpan()[c] += divide ? -dot / (fv[c] * fv[c]) : dot;
                    }
                }
            }

            if (dx is not null)
                x.AccumulateGrad(dx);
            if (df is not null)
                factors.AccumulateGrad(df);
        });
    }

    /// <summary>Adds <paramref name="bias"/>[c] to each slice of <paramref name="x"/> along <paramref name="axis"/>; db[c] = Σ dy over the slice.</summary>
    public static Variable AddChannels(Variable x, Variable bias, int axis)
    {
        var layout = ChannelLayout.Around(x.Shape, axis);
        var y = x.Value.Clone();
        var ys = y.AsSpan();
        var b = bias.Value.AsSpan();
        for (int o = 0; o < layout.Outer; o++)
        {
            for (int c = 0; c < layout.Channels; c++)
            {
                var run = ys.Slice(layout.Start(o, c), layout.Inner);
                System.Numerics.Tensors.TensorPrimitives.Add(run, b[c], run);
            }
        }

        return Variable.Record(y, [x, bias], dy =>
        {
            x.AccumulateGrad(dy);
            if (!bias.RequiresGrad)
                return;
            var db = new Tensor(bias.Shape);
            for (int o = 0; o < layout.Outer; o++)
            {
                for (int c = 0; c < layout.Channels; c++)
                    db.AsSpan()[c] += System.Numerics.Tensors.TensorPrimitives.Sum(dy.AsSpan().Slice(layout.Start(o, c), layout.Inner));
            }

            bias.AccumulateGrad(db);
        });
    }
}
