using Quantization.Graph;
using Quantization.Kernels.Conv;
using Quantization.Nn;

namespace Quantization.Onnx.Import;

internal sealed partial class GraphImporter
{
    /// <summary>
    /// <c>Conv</c> with constant weights as an <see cref="Conv2d"/>: 2-D as it is, 1-D ([N, C, L]) as a 1 × k kernel
    /// over a height-1 image.
    /// </summary>
    private GraphNode Conv(OnnxNode node, Func<Module, LayerInput, GraphNode> layer)
    {
        OnnxTensor w = ConstantInput(node, 1, "weights");
        OnnxTensor? b = OptionalConstant(node, 2, "bias");
        int spatial = w.Dims.Count - 2;
        if (spatial is not (1 or 2))
            throw new OnnxFormatException($"{node.Label}: only 1-D and 2-D convolutions are supported, not weights [{string.Join(", ", w.Dims)}].");
        int[] shape = w.Shape();
        // kernel_shape is optional: the weights carry it.
        int[] kernel = shape[2..];
        if (node.TryGetAttribute("kernel_shape", out _) && !Ints(node, "kernel_shape", spatial, null).SequenceEqual(kernel))
            throw new OnnxFormatException($"{node.Label}: kernel_shape [{string.Join(", ", node.GetInts("kernel_shape"))}] does not match the weights [{string.Join(", ", shape)}].");
        int[] strides = Ints(node, "strides", spatial, 1), dilations = Ints(node, "dilations", spatial, 1);
        int[] pads = Pads(node, kernel, strides, dilations);
        int groups = (int)node.GetInt("group", 1);
        if (groups <= 0)
            throw new OnnxFormatException($"{node.Label}: group must be positive, not {groups}.");
        int outChannels = shape[0], inChannels = shape[1] * groups;
        Conv2d conv;
        try
        {
            conv = spatial == 2
                ? new Conv2d(inChannels, outChannels, (kernel[0], kernel[1]), (strides[0], strides[1]), (pads[0], pads[1], pads[2], pads[3]), (dilations[0], dilations[1]), groups, b is not null)
                : new Conv2d(inChannels, outChannels, (1, kernel[0]), (1, strides[0]), (0, pads[0], 0, pads[1]), (1, dilations[0]), groups, b is not null);
        }
        catch (ArgumentException e)
        {
            throw new OnnxFormatException($"{node.Label}: {e.Message}", e);
        }

        w.ToFloats().CopyTo(conv.Weight.Value.AsSpan());
        if (b is not null)
            CopyExact(node, b, conv.Bias!.Value, "bias");
        return layer(conv, spatial == 2 ? LayerInput.AsIs : LayerInput.Conv1d);
    }

    /// <summary>2-D <c>ConvTranspose</c> with constant weights, packed once.</summary>
    private GraphKernel ConvTranspose(OnnxNode node)
    {
        OnnxTensor w = ConstantInput(node, 1, "weights");
        OnnxTensor? b = OptionalConstant(node, 2, "bias");
        if (w.Dims.Count != 4)
            throw new OnnxFormatException($"{node.Label}: only 2-D transposed convolutions are supported, not weights [{string.Join(", ", w.Dims)}].");
        if (node.TryGetAttribute("output_shape", out _) || node.GetString("auto_pad", "NOTSET") != "NOTSET")
            throw new OnnxFormatException($"{node.Label}: output_shape and auto_pad are not supported for ConvTranspose.");
        int[] shape = w.Shape();
        int[] strides = Ints(node, "strides", 2, 1), dilations = Ints(node, "dilations", 2, 1), pads = Ints(node, "pads", 4, 0);
        int[] outputPadding = Ints(node, "output_padding", 2, 0);
        if (node.TryGetAttribute("kernel_shape", out _) && !Ints(node, "kernel_shape", 2, null).SequenceEqual(shape[2..]))
            throw new OnnxFormatException($"{node.Label}: kernel_shape does not match the weights [{string.Join(", ", shape)}].");
        int groups = (int)node.GetInt("group", 1);
        try
        {
            var g = new ConvTranspose2dGeometry(shape[0], shape[1] * groups, shape[2], shape[3], strides[0], strides[1], pads[0], pads[1], pads[2], pads[3],
                dilations[0], dilations[1], outputPadding[0], outputPadding[1], groups);
            float[]? bias = b?.ToFloats();
            if (bias is not null && bias.Length != g.OutChannels)
                throw new OnnxFormatException($"{node.Label}: the bias has {bias.Length} values for {g.OutChannels} output channels.");
            return GraphOps.ConvTranspose(new Fp32ConvTranspose2d(g, w.ToFloats()), bias);
        }
        catch (ArgumentException e)
        {
            throw new OnnxFormatException($"{node.Label}: {e.Message}", e);
        }
    }

    /// <summary><c>BatchNormalization</c> (inference form) as a <see cref="BatchNorm2d"/> in evaluation mode holding the model's statistics.</summary>
    private BatchNorm2d BatchNorm(OnnxNode node)
    {
        if (node.Outputs.Skip(1).Any(o => o.Length > 0) || node.GetInt("training_mode", 0) != 0)
            throw new OnnxFormatException($"{node.Label}: only inference-mode BatchNormalization is supported.");
        OnnxTensor scale = ConstantInput(node, 1, "scale");
        var bn = new BatchNorm2d((int)scale.ElementCount, node.GetFloat("epsilon", 1e-5f), 1f - node.GetFloat("momentum", 0.9f));
        CopyExact(node, scale, bn.Weight!.Value, "scale");
        CopyExact(node, ConstantInput(node, 2, "bias"), bn.Bias!.Value, "bias");
        CopyExact(node, ConstantInput(node, 3, "mean"), bn.RunningMean, "mean");
        CopyExact(node, ConstantInput(node, 4, "variance"), bn.RunningVar, "variance");
        return bn;
    }

    /// <summary>
    /// <c>Gemm</c> with constant B (and C) as a <see cref="Linear"/>: <c>W = alpha · B</c> (transposed unless
    /// transB), <c>bias = beta · C</c> for C of N values (or one, broadcast). transA is not supported.
    /// </summary>
    private Linear Gemm(OnnxNode node)
    {
        if (node.GetInt("transA", 0) != 0)
            throw new OnnxFormatException($"{node.Label}: transA is not supported.");
        OnnxTensor b = ConstantInput(node, 1, "B");
        OnnxTensor? c = OptionalConstant(node, 2, "C");
        if (b.Dims.Count != 2)
            throw new OnnxFormatException($"{node.Label}: B must be 2-D, not [{string.Join(", ", b.Dims)}].");
        bool transB = node.GetInt("transB", 0) != 0;
        int n = (int)(transB ? b.Dims[0] : b.Dims[1]), k = (int)(transB ? b.Dims[1] : b.Dims[0]);
        var linear = new Linear(k, n, bias: c is not null);
        SetWeights(linear, b.ToFloats(), transB, node.GetFloat("alpha", 1f));
        if (c is not null)
        {
            float[] values = c.ToFloats();
            if (values.Length != n && values.Length != 1 || c.Dims.Count == 2 && c.Dims[0] != 1)
                throw new OnnxFormatException($"{node.Label}: C [{string.Join(", ", c.Dims)}] must be one value per output column.");
            float beta = node.GetFloat("beta", 1f);
            var bias = linear.Bias!.Value.AsSpan();
            for (int j = 0; j < n; j++)
                bias[j] = beta * values[values.Length == 1 ? 0 : j];
        }

        return linear;
    }

    /// <summary><c>MatMul</c> by a constant 2-D B as a <see cref="Linear"/> without bias (W = Bᵀ), over the rows of A.</summary>
    private Linear MatMul(OnnxNode node)
    {
        OnnxTensor b = ConstantInput(node, 1, "B");
        if (b.Dims.Count != 2)
            throw new OnnxFormatException($"{node.Label}: only MatMul by a 2-D constant is supported, not [{string.Join(", ", b.Dims)}].");
        var linear = new Linear((int)b.Dims[0], (int)b.Dims[1], bias: false);
        SetWeights(linear, b.ToFloats(), transposed: false, 1f);
        return linear;
    }

    /// <summary>Linear weights [N, K] from B, which is [N, K] when <paramref name="transposed"/> and [K, N] otherwise, times alpha.</summary>
    private static void SetWeights(Linear linear, float[] b, bool transposed, float alpha)
    {
        int n = linear.OutFeatures, k = linear.InFeatures;
        var w = linear.Weight.Value.AsSpan();
        for (int row = 0; row < n; row++)
        {
            for (int col = 0; col < k; col++)
                w[row * k + col] = alpha * (transposed ? b[row * k + col] : b[col * n + row]);
        }
    }

    private static void CopyExact(OnnxNode node, OnnxTensor source, Tensor destination, string what)
    {
        if (source.ElementCount != destination.Length)
            throw new OnnxFormatException($"{node.Label}: the {what} has {source.ElementCount} values; {destination.Length} are needed.");
        source.ToFloats().CopyTo(destination.AsSpan());
    }

    /// <summary>
    /// <c>LSTM</c> with constant weights, forward direction, default activations, no peepholes, clipping or
    /// sequence lengths: the configurations PyTorch exports for <c>nn.LSTM</c> layers.
    /// </summary>
    private GraphKernel Lstm(OnnxNode node)
    {
        if (node.GetString("direction", "forward") != "forward" || node.GetInt("layout", 0) != 0 || node.GetInt("input_forget", 0) != 0
            || node.TryGetAttribute("clip", out _) || node.TryGetAttribute("activations", out _) || node.Inputs.Count > 7 && node.Inputs[7].Length > 0)
            throw new OnnxFormatException($"{node.Label}: only forward, layout-0 LSTMs with default activations, no clip and no peepholes are supported.");
        int hidden = (int)node.GetAttribute("hidden_size").Int;
        OnnxTensor w = ConstantInput(node, 1, "W"), r = ConstantInput(node, 2, "R");
        OnnxTensor? b = OptionalConstant(node, 3, "B");
        if (w.Dims.Count != 3 || w.Dims[0] != 1 || w.Dims[1] != 4 * hidden || !r.Dims.SequenceEqual([1L, 4L * hidden, hidden]))
            throw new OnnxFormatException($"{node.Label}: W [{string.Join(", ", w.Dims)}] and R [{string.Join(", ", r.Dims)}] do not fit hidden_size {hidden}.");
        float[]? bias = null;
        if (b is not null)
        {
            float[] both = b.ToFloats();
            if (both.Length != 8 * hidden)
                throw new OnnxFormatException($"{node.Label}: B has {both.Length} values; {8 * hidden} are needed.");
            bias = new float[4 * hidden];
            for (int i = 0; i < bias.Length; i++)
                bias[i] = both[i] + both[i + 4 * hidden];
        }

        return GraphOps.Lstm(hidden, w.ToFloats(), r.ToFloats(), bias);
    }

    /// <summary><c>If</c>: both branches become bodies that read the enclosing values they need by name.</summary>
    private GraphNode If(OnnxNode node, string name)
    {
        GraphBody then = Body(node.GetAttribute("then_branch").Graph), otherwise = Body(node.GetAttribute("else_branch").Graph);
        if (then.Outputs.Count != node.Outputs.Count || otherwise.Outputs.Count != node.Outputs.Count)
            throw new OnnxFormatException($"{node.Label}: the branches must return {node.Outputs.Count} values.");
        string[] captured = then.FreeNames().Union(otherwise.FreeNames()).ToArray();
        return new GraphNode(name, node.OpType, node.Inputs.ToArray(), node.Outputs.ToArray(), GraphOps.If(then, otherwise), capturedNames: captured);
    }
}
