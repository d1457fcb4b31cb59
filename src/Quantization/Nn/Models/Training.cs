using System.Diagnostics;

namespace Quantization.Nn.Models;

/// <summary>A plain classification training loop and accuracy evaluation, reusable by samples and workflows.</summary>
public static class Training
{
    /// <summary>
    /// Trains <paramref name="model"/> with cross-entropy for <paramref name="epochs"/> passes over
    /// <paramref name="loader"/>: for each batch, zero the gradients, forward, backward, step. The model is left in
    /// training mode.
    /// </summary>
    /// <param name="model">The classifier (logits [N, classes]).</param>
    /// <param name="optimizer">The optimizer over the model's parameters.</param>
    /// <param name="loader">The training batches.</param>
    /// <param name="epochs">The number of passes.</param>
    /// <param name="learningRateAt">Optional schedule: the learning rate for an epoch index, set before the epoch.</param>
    /// <param name="log">Optional progress output, one line per epoch.</param>
    /// <param name="augment">Optional transform of each training batch's inputs (e.g. <see cref="ImageAugmentation.RandomShift"/>).</param>
    /// <returns>The mean training loss of each epoch.</returns>
    public static IReadOnlyList<float> Fit(Module model, Optimizer optimizer, DataLoader loader, int epochs,
        Func<int, float>? learningRateAt = null, Action<string>? log = null, Func<Tensor, Tensor>? augment = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(optimizer);
        ArgumentNullException.ThrowIfNull(loader);
        var criterion = new CrossEntropyLoss();
        var losses = new List<float>();
        model.Train();
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            if (learningRateAt is not null)
                optimizer.LearningRate = learningRateAt(epoch);
            var watch = Stopwatch.StartNew();
            double total = 0;
            int batches = 0;
            foreach (var (inputs, labels) in loader)
            {
                optimizer.ZeroGrad();
                var loss = criterion.Forward(model.Forward(new Variable(augment is null ? inputs : augment(inputs))), labels);
                loss.Backward();
                optimizer.Step();
                total += loss.Value.AsSpan()[0];
                batches++;
            }

            losses.Add((float)(total / Math.Max(1, batches)));
            log?.Invoke($"epoch {epoch + 1}/{epochs}: loss {losses[^1]:F4}, {watch.Elapsed.TotalSeconds:F1} s");
        }

        return losses;
    }

    /// <summary>The fraction of samples whose largest logit is at the label, in evaluation mode without a graph; the model is left in evaluation mode.</summary>
    public static double Accuracy(Module model, Tensor inputs, int[] labels, int batchSize = 500)
    {
        ArgumentNullException.ThrowIfNull(model);
        model.Eval();
        int correct = 0;
        foreach (var (batch, batchLabels) in new DataLoader(inputs, labels, batchSize))
        {
            var logits = model.Forward(batch);
            int classes = logits.Shape[1];
            var values = logits.AsSpan();
            for (int i = 0; i < batchLabels.Length; i++)
            {
                if (System.Numerics.Tensors.TensorPrimitives.IndexOfMax(values.Slice(i * classes, classes)) == batchLabels[i])
                    correct++;
            }
        }

        return labels.Length == 0 ? 0 : (double)correct / labels.Length;
    }
}
