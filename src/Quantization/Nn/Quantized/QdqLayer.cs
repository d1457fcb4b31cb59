namespace Quantization.Nn.Quantized;

/// <summary>
/// A quantized layer with FP32 on both sides, as a node of an ONNX QDQ model runs: the input is quantized with its
/// calibrated parameters (input that is already quantized goes straight in), the INT8 layer runs, and its output is
/// dequantized. What <c>Quantizer.Convert</c> makes of layers prepared with <c>perLayer: true</c>.
/// </summary>
public sealed class QdqLayer : Module
{
    /// <summary>Wraps <paramref name="layer"/> (a quantized layer) behind a quantization with <paramref name="input"/>.</summary>
    /// <exception cref="ArgumentException">The input parameters are not per-tensor QUInt8.</exception>
    public QdqLayer(QuantParams input, Module layer)
    {
        ArgumentNullException.ThrowIfNull(layer);
        Quantize = RegisterModule("quant", new Quantize(input));
        Layer = RegisterModule("module", layer);
    }

    /// <summary>The quantization of the FP32 input.</summary>
    public Quantize Quantize { get; }

    /// <summary>The quantized layer.</summary>
    public Module Layer { get; }

    /// <inheritdoc/>
    public override Variable Forward(Variable input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var quantized = input.IsQuantized ? input : Quantize.Forward(input);
        var output = Layer.Forward(quantized);
        if (!output.IsQuantized)
            return output;
        var result = new Variable(output.Value);
        // Inside a graph run, the u8 buffers this layer made are dead now: only it ever saw them.
        if (TensorArena.Current is { } arena && output.Quantized!.Storage is byte[] bytes && !ReferenceEquals(bytes, input.Quantized?.Storage))
        {
            arena.Return(bytes);
            if (!input.IsQuantized && quantized.Quantized!.Storage is byte[] inputBytes && !ReferenceEquals(inputBytes, bytes))
                arena.Return(inputBytes);
        }

        return result;
    }

    /// <summary>
    /// Runs the layer and keeps its QUInt8 output (an INT8 graph passes it on): FP32 input is quantized with the
    /// calibrated parameters first, quantized input goes straight in.
    /// </summary>
    internal QuantizedTensor ForwardQuantized(Variable input)
    {
        var quantized = input.IsQuantized ? input : Quantize.Forward(input);
        var output = Layer.Forward(quantized).Quantized
            ?? throw new InvalidOperationException($"{Layer.GetType().Name} returned FP32 output; only a quantized layer can pass INT8 on.");
        if (!input.IsQuantized && TensorArena.Current is { } arena && quantized.Quantized!.Storage is byte[] inputBytes && !ReferenceEquals(inputBytes, output.Storage))
            arena.Return(inputBytes);
        return output;
    }

    /// <inheritdoc/>
    public override string ToString() => $"QdqLayer({Quantize}, {Layer})";
}
