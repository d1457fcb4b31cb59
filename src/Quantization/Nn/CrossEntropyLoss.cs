namespace Quantization.Nn;

/// <summary>
/// The mean over the batch of <c>-log softmax(logits)[label]</c>, as PyTorch's <c>nn.CrossEntropyLoss</c> with class
/// indices and the default mean reduction.
/// </summary>
public sealed class CrossEntropyLoss
{
    /// <summary>The loss of <paramref name="logits"/> [N, classes] against one class index per row.</summary>
    /// <exception cref="ArgumentException">The logits are not [N, classes], the label count differs from N, or a label is outside [0, classes).</exception>
    public Variable Forward(Variable logits, ReadOnlySpan<int> labels)
    {
        ArgumentNullException.ThrowIfNull(logits);
        if (logits.Shape.Length != 2 || logits.Shape[0] == 0)
            throw new ArgumentException($"CrossEntropyLoss expects logits (N, classes) with N > 0 but got shape {Tensor.FormatShape(logits.Shape)}.", nameof(logits));
        int n = logits.Shape[0], classes = logits.Shape[1];
        if (labels.Length != n)
            throw new ArgumentException($"CrossEntropyLoss got {n} rows of logits but {labels.Length} labels.", nameof(labels));
        for (int i = 0; i < n; i++)
        {
            if ((uint)labels[i] >= (uint)classes)
                throw new ArgumentException($"Label {labels[i]} at index {i} is outside [0, {classes}).", nameof(labels));
        }

        return Functional.CrossEntropy(logits, labels);
    }
}
