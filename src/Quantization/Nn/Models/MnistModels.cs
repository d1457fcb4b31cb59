namespace Quantization.Nn.Models;

/// <summary>Small reference models for 28 × 28 grey digits (MNIST), used by the samples, tests and workflows.</summary>
public static class MnistModels
{
    /// <summary>
    /// Two conv-BN-ReLU blocks with 2 × 2 max pooling and a linear head:
    /// [N, 1, 28, 28] → conv 3×3 (16) → 14 × 14 → conv 3×3 (32) → 7 × 7 → flatten → linear 1568 → 10 logits.
    /// The children are named <c>features</c> and <c>classifier</c>.
    /// </summary>
    public static Module Cnn() => new Net(
        new Sequential(
            new Conv2d(1, 16, 3, padding: 1), new BatchNorm2d(16), new ReLU(), new MaxPool2d(2),
            new Conv2d(16, 32, 3, padding: 1), new BatchNorm2d(32), new ReLU(), new MaxPool2d(2)),
        new Sequential(new Flatten(), new Linear(32 * 7 * 7, 10)));

    /// <summary>
    /// A multilayer perceptron: [N, 1, 28, 28] (or [N, 784]) → flatten → 784 → 256 → ReLU → 128 → ReLU → 10 logits,
    /// with dropout 0.2 after each hidden layer.
    /// </summary>
    public static Module Mlp() => new Net(
        new Sequential(new Flatten()),
        new Sequential(
            new Linear(28 * 28, 256), new ReLU(), new Dropout(0.2f),
            new Linear(256, 128), new ReLU(), new Dropout(0.2f),
            new Linear(128, 10)));

    /// <summary>A feature extractor followed by a classifier.</summary>
    private sealed class Net : Module
    {
        public Net(Sequential features, Sequential classifier)
        {
            RegisterModule("features", features);
            RegisterModule("classifier", classifier);
        }

        public override Variable Forward(Variable input)
        {
            var x = input;
            foreach (var child in Children())
                x = child.Forward(x);
            return x;
        }
    }
}
