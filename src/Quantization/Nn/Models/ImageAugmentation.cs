namespace Quantization.Nn.Models;

/// <summary>Cheap training-time augmentation for small images.</summary>
public static class ImageAugmentation
{
    /// <summary>
    /// Shifts each image of an NCHW batch by its own random offset in [-<paramref name="maxShift"/>, <paramref name="maxShift"/>]
    /// pixels along each axis, filling the uncovered border with zeros (MNIST's background). Small translations are the
    /// variation digits really have, so a model trained on a few thousand images generalizes better.
    /// </summary>
    /// <exception cref="ArgumentException">The batch is not NCHW, or the shift is negative.</exception>
    public static Tensor RandomShift(Tensor batch, int maxShift, Random rng)
    {
        ArgumentNullException.ThrowIfNull(batch);
        ArgumentNullException.ThrowIfNull(rng);
        if (batch.Rank != 4)
            throw new ArgumentException($"RandomShift expects an NCHW batch but got shape {Tensor.FormatShape(batch.Shape)}.", nameof(batch));
        ArgumentOutOfRangeException.ThrowIfNegative(maxShift);
        int n = batch.Shape[0], c = batch.Shape[1], h = batch.Shape[2], w = batch.Shape[3];
        var result = new Tensor(batch.Shape);
        var source = batch.AsSpan();
        var destination = result.AsSpan();
        for (int img = 0; img < n; img++)
        {
            int dy = rng.Next(-maxShift, maxShift + 1), dx = rng.Next(-maxShift, maxShift + 1);
            int width = w - Math.Abs(dx);
            if (width <= 0)
                continue;
            for (int ch = 0; ch < c; ch++)
            {
                int plane = (img * c + ch) * h * w;
                for (int i = 0; i < h; i++)
                {
                    int si = i - dy;
                    if ((uint)si >= (uint)h)
                        continue;
                    source.Slice(plane + si * w + Math.Max(0, -dx), width).CopyTo(destination.Slice(plane + i * w + Math.Max(0, dx), width));
                }
            }
        }

        return result;
    }
}
