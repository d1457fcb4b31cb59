using System.Runtime.InteropServices;
using Quantization.Graph;
using Quantization.Kernels.Conv;
using Quantization.Kernels.Gemm;
using Quantization.Onnx.Operators;

namespace Quantization.Onnx.Import;

/// <summary>
/// Pre-quantized models. QOperator nodes (QLinearConv, QLinearMatMul, MatMulInteger, ConvInteger,
/// DynamicQuantizeLinear, QLinearAdd) run on the INT8 kernels with their weights packed here, once. In QDQ graphs,
/// <c>DequantizeLinear</c> of the activation and of constant weights around a Conv, MatMul or Gemm whose only reader
/// is a <c>QuantizeLinear</c> become one INT8 node (as ONNX Runtime's QDQ fusion does); the remaining
/// QuantizeLinear/DequantizeLinear nodes run as they are.
/// </summary>
internal sealed partial class GraphImporter
{
    /// <summary>
    /// A QDQ group that runs as one INT8 node: the dequantized activation, weights and bias, an optional Relu, and the
    /// quantized output.
    /// </summary>
    private sealed record QdqGroup(OnnxNode Activation, OnnxNode Weights, OnnxNode? Bias, OnnxNode? Relu, OnnxNode Output);

    /// <summary>
    /// The scale and zero point inputs of a quantize/dequantize-style node, which must be constant. The zero point's
    /// type gives the quantized type (absent: uint8, as in ONNX); int32 is accepted only where <paramref name="allowInt32"/>.
    /// </summary>
    private QParams QParamsOf(OnnxNode node, int scaleIndex, int zeroPointIndex, string what, bool allowInt32 = false)
    {
        float[] scales = ConstantInput(node, scaleIndex, what + " scale").ToFloats();
        OnnxTensor? zp = OptionalConstant(node, zeroPointIndex, what + " zero point");
        if (zp is not null && zp.ElementType is not (OnnxElementType.UInt8 or OnnxElementType.Int8) && !(allowInt32 && zp.ElementType == OnnxElementType.Int32))
            throw new OnnxFormatException($"{node.Label}: the {what} zero point is {zp.ElementType}; only uint8 and int8 are supported.");
        int[] zeroPoints = zp is null ? new int[scales.Length] : zp.ToInt64s().Select(v => (int)v).ToArray();
        if (scales.Length == 0 || zeroPoints.Length != scales.Length)
            throw new OnnxFormatException($"{node.Label}: the {what} has {scales.Length} scales and {zeroPoints.Length} zero points.");
        if (scales.Any(s => !(s > 0) || float.IsInfinity(s)))
            throw new OnnxFormatException($"{node.Label}: the {what} scales must be positive and finite.");
        return new QParams(scales, zeroPoints, zp?.ElementType == OnnxElementType.Int8);
    }

    private GraphKernel QuantizeLinear(OnnxNode node)
    {
        if (node.TryGetAttribute("output_dtype", out var dtype) && (OnnxElementType)dtype.Int is not (OnnxElementType.UInt8 or OnnxElementType.Int8))
            throw new OnnxFormatException($"{node.Label}: output_dtype {(OnnxElementType)dtype.Int} is not supported (uint8 and int8 are).");
        if (node.GetInt("block_size", 0) != 0)
            throw new OnnxFormatException($"{node.Label}: blocked quantization (block_size) is not supported.");
        QParams q = QParamsOf(node, 1, 2, "output");
        if (dtype is not null && node.Inputs.Count < 3)
            q = q with { Signed = (OnnxElementType)dtype.Int == OnnxElementType.Int8 };
        return QuantizedKernels.QuantizeLinear(q, (int)node.GetInt("axis", 1));
    }

    private GraphKernel DequantizeLinear(OnnxNode node) =>
        node.GetInt("block_size", 0) != 0
            ? throw new OnnxFormatException($"{node.Label}: blocked quantization (block_size) is not supported.")
            : QuantizedKernels.DequantizeLinear(QParamsOf(node, 1, 2, "input", allowInt32: true), (int)node.GetInt("axis", 1));

    private GraphKernel QLinearConv(OnnxNode node) =>
        QuantizedConv(node, QParamsOf(node, 1, 2, "input"), ConstantInput(node, 3, "weights"), QParamsOf(node, 4, 5, "weight"),
            OptionalConstant(node, 8, "bias"), QParamsOf(node, 6, 7, "output"));

    private GraphKernel QLinearMatMul(OnnxNode node) =>
        QuantizedMatMul(node, QParamsOf(node, 1, 2, "input A"), ConstantInput(node, 3, "B"), transposed: false, QParamsOf(node, 4, 5, "B"), null, QParamsOf(node, 6, 7, "output"));

    /// <summary><c>MatMulInteger</c>: int32 <c>(A - za)(B - zb)</c>, B constant; za may come from a DynamicQuantizeLinear.</summary>
    private GraphKernel MatMulInteger(OnnxNode node)
    {
        OnnxTensor b = ConstantInput(node, 1, "B");
        if (b.Dims.Count != 2)
            throw new OnnxFormatException($"{node.Label}: only a 2-D constant B is supported, not [{string.Join(", ", b.Dims)}].");
        int k = (int)b.Dims[0], n = (int)b.Dims[1];
        Int8PackedWeights packed = Int8Gemm.Pack(Weights(node, b, WeightZeroPoints(node, 3, n), out int[] zw), k, n, transposed: false, zw);
        return QuantizedKernels.MatMul(packed, 0, 2, null, Int8GemmEpilogue.Int32);
    }

    /// <summary><c>ConvInteger</c>: the int32 accumulators of a 2-D convolution, weights constant.</summary>
    private GraphKernel ConvInteger(OnnxNode node)
    {
        OnnxTensor w = ConstantInput(node, 1, "weights");
        Int8Conv2d conv = Int8Convolution(node, w, WeightZeroPoints(node, 3, w.Dims.Count > 0 ? (int)w.Dims[0] : 0));
        return QuantizedKernels.Conv(conv, 0, 2, null, Int8GemmEpilogue.Int32);
    }

    private GraphKernel QLinearAdd(OnnxNode node)
    {
        QParams a = QParamsOf(node, 1, 2, "input A"), b = QParamsOf(node, 4, 5, "input B"), c = QParamsOf(node, 6, 7, "output");
        if (a.Scales.Length + b.Scales.Length + c.Scales.Length != 3)
            throw new OnnxFormatException($"{node.Label}: QLinearAdd takes one scale and zero point per input.");
        return QuantizedKernels.QLinearAdd(a, b, c);
    }

    /// <summary>The weight zero points of MatMulInteger/ConvInteger: absent (0), one, or one per output column/channel.</summary>
    private int[] WeightZeroPoints(OnnxNode node, int index, int channels)
    {
        OnnxTensor? zp = OptionalConstant(node, index, "weight zero point");
        int[] values = zp is null ? [0] : zp.ToInt64s().Select(v => (int)v).ToArray();
        if (values.Length != 1 && values.Length != channels)
            throw new OnnxFormatException($"{node.Label}: {values.Length} weight zero points for {channels} channels.");
        return values;
    }

    /// <summary>
    /// Constant u8 or s8 weights as s8 for the packing: u8 values move down by 128 with their zero points, which
    /// leaves <c>w - zw</c> unchanged.
    /// </summary>
    private static sbyte[] Weights(OnnxNode node, OnnxTensor w, int[] zeroPoints, out int[] shiftedZeroPoints)
    {
        int offset = w.ElementType switch
        {
            OnnxElementType.Int8 => 0,
            OnnxElementType.UInt8 => 128,
            var t => throw new OnnxFormatException($"{node.Label}: the weights are {t}; only uint8 and int8 are supported."),
        };
        shiftedZeroPoints = zeroPoints.Select(z => z - offset).ToArray();
        return w.ToInt64s().Select(v => (sbyte)(v - offset)).ToArray();
    }

    /// <summary>The INT8 convolution for a Conv-style node's attributes and constant [Co, Ci/g, kh, kw] weights.</summary>
    private Int8Conv2d Int8Convolution(OnnxNode node, OnnxTensor w, int[] zeroPoints)
    {
        if (w.Dims.Count != 4)
            throw new OnnxFormatException($"{node.Label}: only 2-D quantized convolutions are supported, not weights [{string.Join(", ", w.Dims)}].");
        int[] shape = w.Shape();
        if (node.TryGetAttribute("kernel_shape", out _) && !Ints(node, "kernel_shape", 2, null).SequenceEqual(shape[2..]))
            throw new OnnxFormatException($"{node.Label}: kernel_shape does not match the weights [{string.Join(", ", shape)}].");
        int[] strides = Ints(node, "strides", 2, 1), dilations = Ints(node, "dilations", 2, 1);
        int[] pads = Pads(node, shape[2..], strides, dilations);
        int groups = (int)node.GetInt("group", 1);
        if (groups <= 0)
            throw new OnnxFormatException($"{node.Label}: group must be positive, not {groups}.");
        if (zeroPoints.Length != 1 && zeroPoints.Length != shape[0])
            throw new OnnxFormatException($"{node.Label}: {zeroPoints.Length} weight zero points for {shape[0]} output channels.");
        var geometry = new Conv2dGeometry(shape[1] * groups, shape[0], shape[2], shape[3], strides[0], strides[1], pads[0], pads[1], pads[2], pads[3],
            dilations[0], dilations[1], groups);
        sbyte[] weights = Weights(node, w, zeroPoints, out int[] zw);
        try
        {
            return new Int8Conv2d(geometry, weights, zw);
        }
        catch (ArgumentException e)
        {
            throw new OnnxFormatException($"{node.Label}: {e.Message}", e);
        }
    }

    /// <summary>A convolution requantized to the output's type: multiplier <c>sx · sw[c] / sy</c>, int32 bias.</summary>
    private GraphKernel QuantizedConv(OnnxNode node, QParams x, OnnxTensor w, QParams wq, OnnxTensor? bias, QParams y, bool relu = false)
    {
        Int8Conv2d conv = Int8Convolution(node, w, wq.ZeroPoints);
        return QuantizedKernels.Conv(conv, x.ZeroPoints[0], null, x.Signed, Requantize(node, x, wq, y, bias, conv.Geometry.OutChannels, relu));
    }

    /// <summary>A product by constant B ([K, N], or [N, K] when <paramref name="transposed"/>) requantized to the output's type.</summary>
    private GraphKernel QuantizedMatMul(OnnxNode node, QParams a, OnnxTensor b, bool transposed, QParams bq, OnnxTensor? bias, QParams y, bool relu = false)
    {
        if (b.Dims.Count != 2)
            throw new OnnxFormatException($"{node.Label}: only a 2-D constant B is supported, not [{string.Join(", ", b.Dims)}].");
        int k = (int)b.Dims[transposed ? 1 : 0], n = (int)b.Dims[transposed ? 0 : 1];
        if (bq.ZeroPoints.Length != 1 && bq.ZeroPoints.Length != n)
            throw new OnnxFormatException($"{node.Label}: {bq.ZeroPoints.Length} B scales for {n} columns.");
        Int8PackedWeights packed = Int8Gemm.Pack(Weights(node, b, bq.ZeroPoints, out int[] zw), k, n, transposed, zw);
        return QuantizedKernels.MatMul(packed, a.ZeroPoints[0], null, a.Signed, Requantize(node, a, bq, y, bias, n, relu));
    }

    /// <summary>
    /// The requantizing epilogue as ONNX Runtime computes it: <c>multiplier[c] = sx · sw[c] / sy</c> in float, then
    /// <c>saturate(round_half_even((acc + bias[c]) · multiplier[c]) + zy)</c>. A fused Relu raises the lower clamp to
    /// <c>zy</c>, the quantized 0: <c>quantize(max(v, 0)) = max(quantize(v), zy)</c>.
    /// </summary>
    private static Int8GemmEpilogue Requantize(OnnxNode node, QParams x, QParams w, QParams y, OnnxTensor? bias, int channels, bool relu)
    {
        if (x.Scales.Length != 1 || y.Scales.Length != 1)
            throw new OnnxFormatException($"{node.Label}: the input and output must be quantized per tensor.");
        var multipliers = new float[channels];
        for (int c = 0; c < channels; c++)
            multipliers[c] = x.Scales[0] * w.Scales[w.Scales.Length == 1 ? 0 : c] / y.Scales[0];
        int[]? intBias = null;
        if (bias is not null)
        {
            if (bias.ElementType != OnnxElementType.Int32 || bias.ElementCount != channels)
                throw new OnnxFormatException($"{node.Label}: the bias must be {channels} int32 values, not {bias.ElementCount} of {bias.ElementType}.");
            intBias = bias.ToInt64s().Select(v => (int)v).ToArray();
        }

        return Int8GemmEpilogue.Requantize(multipliers, intBias, y.ZeroPoints[0], relu ? Math.Max(y.ZeroPoints[0], y.QMin) : y.QMin, y.QMax, y.Signed);
    }

    /// <summary>
    /// Records the float values of every DequantizeLinear of constants, so a Conv, MatMul or Gemm outside a QDQ group
    /// still finds constant weights for its FP32 layer. The DequantizeLinear nodes stay, for any reader at run time.
    /// </summary>
    private void FoldDequantizedConstants(OnnxGraph graph)
    {
        foreach (OnnxNode node in graph.Nodes)
        {
            if (node.OpType != "DequantizeLinear" || node.Domain.Length != 0 || node.Inputs.Count == 0 || node.Outputs.Count == 0
                || FindConstant(node.Inputs[0]) is not OnnxTensor q)
                continue;
            try
            {
                float[] values = QuantizedKernels.Dequantize(q.ToFloats(), q.Shape(), QParamsOf(node, 1, 2, "input", allowInt32: true), (int)node.GetInt("axis", 1));
                _dequantizedConstants[node.Outputs[0]] = new OnnxTensor(node.Outputs[0], OnnxElementType.Float, q.Dims.ToArray(), q.ElementCount,
                    MemoryMarshal.AsBytes(values.AsSpan()).ToArray(), null);
            }
            catch (Exception e) when (e is OnnxFormatException or ArgumentException or InvalidOperationException)
            {
                // Not foldable: the node reports the problem when it is translated.
            }
        }
    }

    /// <summary>
    /// Finds the QDQ groups of a graph: a Conv (2-D), MatMul or Gemm (transA 0, alpha 1, beta 1) whose activation is a
    /// per-tensor DequantizeLinear, whose weights are a DequantizeLinear of constant u8/s8 values (per tensor or per
    /// output channel), whose bias (if any) is a DequantizeLinear of int32 with scale <c>sx · sw</c> and zero point 0,
    /// and whose output only a per-tensor QuantizeLinear reads, directly or through one Relu. <paramref name="replaced"/> receives the nodes the
    /// groups make redundant: each QuantizeLinear and Relu, and each DequantizeLinear that only grouped nodes read.
    /// </summary>
    private Dictionary<OnnxNode, QdqGroup> FindQdqGroups(OnnxGraph graph, out HashSet<OnnxNode> replaced)
    {
        var producers = new Dictionary<string, OnnxNode>();
        var readers = new Dictionary<string, List<OnnxNode>>();
        foreach (OnnxNode node in graph.Nodes)
        {
            foreach (string output in node.Outputs.Where(o => o.Length > 0))
                producers[output] = node;
            foreach (string input in node.Inputs.Where(i => i.Length > 0))
                (readers.TryGetValue(input, out var list) ? list : readers[input] = []).Add(node);
        }

        var graphOutputs = graph.Outputs.Select(o => o.Name).ToHashSet();
        OnnxNode? OnlyReader(OnnxNode node) =>
            !graphOutputs.Contains(node.Outputs[0]) && readers.GetValueOrDefault(node.Outputs[0]) is [{ Domain: "" } reader] ? reader : null;
        OnnxNode? Dq(OnnxNode node, int index) =>
            index < node.Inputs.Count && producers.GetValueOrDefault(node.Inputs[index]) is { OpType: "DequantizeLinear", Domain: "" } dq ? dq : null;

        var groups = new Dictionary<OnnxNode, QdqGroup>();
        foreach (OnnxNode node in graph.Nodes)
        {
            if (node.Domain.Length != 0 || node.Outputs.Count == 0 || node.OpType is not ("Conv" or "MatMul" or "Gemm")
                || OnlyReader(node) is not OnnxNode reader || Dq(node, 0) is not OnnxNode dqX || Dq(node, 1) is not OnnxNode dqW)
                continue;
            OnnxNode? relu = reader.OpType == "Relu" ? reader : null;
            if ((relu is null ? reader : OnlyReader(relu)) is not { OpType: "QuantizeLinear", Domain: "" } q)
                continue;
            OnnxNode? dqB = node.OpType != "MatMul" && node.Inputs.Count > 2 && node.Inputs[2].Length > 0 ? Dq(node, 2) : null;
            if (dqB is null && node.OpType != "MatMul" && node.Inputs.Count > 2 && node.Inputs[2].Length > 0)
                continue;
            try
            {
                if (QdqFits(node, dqX, dqW, dqB, q))
                    groups[node] = new QdqGroup(dqX, dqW, dqB, relu, q);
            }
            catch (OnnxFormatException)
            {
                // A group whose parameters cannot be read stays unfused; its nodes report the problem themselves.
            }
        }

        replaced = groups.Values.SelectMany(g => g.Relu is null ? [g.Output] : new[] { g.Relu, g.Output }).ToHashSet();
        // A subgraph may read a dequantized value by name, so with control flow every DequantizeLinear stays.
        bool hasSubgraphs = graph.Nodes.Any(n => n.OpType == "If");
        foreach (OnnxNode dq in groups.Values.SelectMany(g => g.Bias is null ? [g.Activation, g.Weights] : new[] { g.Activation, g.Weights, g.Bias }))
        {
            if (!hasSubgraphs && !graphOutputs.Contains(dq.Outputs[0]) && readers[dq.Outputs[0]].All(groups.ContainsKey))
                replaced.Add(dq);
        }

        return groups;
    }

    private bool QdqFits(OnnxNode node, OnnxNode dqX, OnnxNode dqW, OnnxNode? dqB, OnnxNode q)
    {
        OnnxTensor? w = FindConstant(dqW.Inputs[0]);
        QParams x = QParamsOf(dqX, 1, 2, "input"), wq = QParamsOf(dqW, 1, 2, "weight"), y = QParamsOf(q, 1, 2, "output");
        if (w is null || w.ElementType is not (OnnxElementType.UInt8 or OnnxElementType.Int8) || x.Scales.Length != 1 || y.Scales.Length != 1
            || q.TryGetAttribute("output_dtype", out _))
            return false;
        int channelAxis = node.OpType switch
        {
            "Conv" => 0,
            "Gemm" => node.GetInt("transB", 0) != 0 ? 0 : 1,
            _ => 1,
        };
        if (node.OpType == "Conv" ? w.Dims.Count != 4 : w.Dims.Count != 2)
            return false;
        if (node.OpType == "Gemm" && (node.GetInt("transA", 0) != 0 || node.GetFloat("alpha", 1f) != 1f || node.GetFloat("beta", 1f) != 1f))
            return false;
        if (wq.Scales.Length != 1 && (dqW.GetInt("axis", 1) is var axis && (axis < 0 ? axis + w.Dims.Count : axis) != channelAxis || wq.Scales.Length != w.Dims[channelAxis]))
            return false;
        if (dqB is null)
            return true;
        OnnxTensor? bias = FindConstant(dqB.Inputs[0]);
        QParams bq = QParamsOf(dqB, 1, 2, "bias", allowInt32: true);
        if (bias is null || bias.ElementType != OnnxElementType.Int32 || bq.ZeroPoints.Any(z => z != 0) || bias.ElementCount != w.Dims[channelAxis])
            return false;
        // The fused kernel adds the int32 bias to the accumulators, which is right only at the accumulators' scale.
        for (int c = 0; c < bias.ElementCount; c++)
        {
            float expected = x.Scales[0] * wq.Scales[wq.Scales.Length == 1 ? 0 : c], actual = bq.Scales[bq.Scales.Length == 1 ? 0 : c];
            if (MathF.Abs(actual - expected) > 1e-6f * expected)
                return false;
        }

        return true;
    }

    /// <summary>The INT8 node for a QDQ group: reads the quantized activation, writes the quantized output.</summary>
    private GraphNode QdqNode(OnnxNode node, QdqGroup group, string name)
    {
        QParams x = QParamsOf(group.Activation, 1, 2, "input"), wq = QParamsOf(group.Weights, 1, 2, "weight"), y = QParamsOf(group.Output, 1, 2, "output");
        OnnxTensor w = FindConstant(group.Weights.Inputs[0])!;
        OnnxTensor? bias = group.Bias is null ? null : FindConstant(group.Bias.Inputs[0]);
        bool relu = group.Relu is not null;
        (string opType, GraphKernel kernel) = node.OpType switch
        {
            "Conv" => ("QLinearConv", QuantizedConv(node, x, w, wq, bias, y, relu)),
            "Gemm" => ("QGemm", QuantizedMatMul(node, x, w, node.GetInt("transB", 0) != 0, wq, bias, y, relu)),
            _ => ("QLinearMatMul", QuantizedMatMul(node, x, w, transposed: false, wq, null, y, relu)),
        };
        return new GraphNode(name, opType, [group.Activation.Inputs[0]], group.Output.Outputs.ToArray(), kernel);
    }
}
