namespace Quantization.Nn;

/// <summary>Validation of layer inputs at the public boundary, with messages that name the layer and both shapes.</summary>
internal static class InputCheck
{
    /// <summary>Throws unless <paramref name="input"/> has rank <paramref name="rank"/> and, when <paramref name="channels"/> ≥ 0, that many channels in dim 1.</summary>
    public static void Shape(Variable input, string layer, int rank, int channels, string expected)
    {
        ArgumentNullException.ThrowIfNull(input);
        var shape = input.Shape;
        if (shape.Length != rank)
            throw new ArgumentException($"{layer} expects a rank-{rank} input {expected} but got shape {Tensor.FormatShape(shape)} (rank {shape.Length}).", nameof(input));
        if (channels >= 0 && shape[1] != channels)
            throw new ArgumentException($"{layer} expects {channels} channels in dim 1, input {expected}, but got shape {Tensor.FormatShape(shape)} with {shape[1]}.", nameof(input));
    }

    /// <summary>Throws unless <paramref name="value"/> is positive.</summary>
    public static void Positive(int value, string name)
    {
        if (value <= 0)
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be positive.");
    }
}
