using Quantization.Graph;
using Xunit;

namespace Quantization.Tests.Graph;

/// <summary>
/// A chain of elementwise float nodes run in one pass over chunks gives what the nodes give one after another, bit for
/// bit, on tensors of several chunks and parallel tasks with a ragged end; nodes it cannot take start no chain.
/// </summary>
public sealed class FloatChainTests
{
    private static readonly Dictionary<string, Tensor> Constants = new()
    {
        ["three"] = Tensor.Full(3f, 1),
        ["six"] = Tensor.Full(6f, 1),
        ["zero"] = Tensor.Full(0f, 1),
        ["half"] = Tensor.Full(0.5f, 1, 1, 1, 1, 1),
        ["per_channel"] = Tensor.Full(2f, 3, 1, 1),
    };

    // HardSwish as ONNX exporters decompose it, then a scale by 0.5 from the left and a sum with the source itself.
    private static readonly GraphNode[] Nodes =
    [
        Node("Add", GraphOps.Add(), GraphOps.AddPointwise, ["x", "three"], "x3"),
        Node("Clip", GraphOps.Clip(float.NegativeInfinity, float.PositiveInfinity), GraphOps.ClipPointwise(float.NegativeInfinity, float.PositiveInfinity), ["x3", "zero", "six"], "c"),
        Node("Mul", GraphOps.Mul(), GraphOps.MulPointwise, ["x", "c"], "m"),
        Node("Div", GraphOps.Div(), GraphOps.DivPointwise, ["m", "six"], "h"),
        Node("Mul", GraphOps.Mul(), GraphOps.MulPointwise, ["half", "h"], "s"),
        Node("Sub", GraphOps.Sub(), GraphOps.SubPointwise, ["s", "x"], "y"),
    ];

    [Theory]
    [InlineData(1, 5)]
    [InlineData(3, 333 * 333)]
    [InlineData(1, 512 * 32 * 3 + 17)]
    public void A_chain_gives_the_nodes_values_bit_for_bit(int channels, int pixels)
    {
        var rng = new Random(pixels);
        var x = new Tensor(1, channels, 1, pixels);
        float[] special = [float.NaN, 0f, -0f, float.PositiveInfinity, float.NegativeInfinity, -3f, 3f, 1e-40f];
        var xs = x.AsSpan();
        for (int i = 0; i < xs.Length; i++)
            xs[i] = i % 7 == 3 ? special[rng.Next(special.Length)] : (float)(rng.NextDouble() * 10 - 5);

        var chains = new Dictionary<string, FloatChain>();
        var values = new Dictionary<string, Tensor>(Constants) { ["x"] = x };
        foreach (var node in Nodes)
        {
            var chain = FloatChain.Of(node, Constants, chains);
            Assert.NotNull(chain);
            Assert.Equal("x", chain.Source);
            chains[node.Outputs[0]] = chain;
            values[node.Outputs[0]] = node.Kernel(node.Inputs.Select(n => values[n]).ToArray(), new GraphScope(null!, null))[0];
        }

        Assert.Equal(Nodes.Length, chains["y"].Length);
        Assert.Equal(Quantization.Tests.Kernels.ArithmeticProgramTests.CanCompile, chains["y"].Program.IsCompiled);
        int threads = Parallelism.ThreadCount;
        try
        {
            Parallelism.ThreadCount = 2;
            foreach (string name in new[] { "c", "h", "y" })
            {
                var fused = chains[name].Evaluate(x);
                Assert.Equal(values[name].Shape.ToArray(), fused.Shape.ToArray());
                Assert.Equal(Bits(values[name]), Bits(fused));
            }
        }
        finally
        {
            Parallelism.ThreadCount = threads;
        }
    }

    private static int[] Bits(Tensor t) => t.AsSpan().ToArray().Select(BitConverter.SingleToInt32Bits).ToArray();

    [Fact]
    public void Nodes_without_a_chunk_form_of_their_operands_start_no_chain()
    {
        var chains = new Dictionary<string, FloatChain>();
        // A per-channel constant, two different sources, a layer node, and an op without a chunk form.
        Assert.Null(FloatChain.Of(Node("Mul", GraphOps.Mul(), GraphOps.MulPointwise, ["x", "per_channel"], "a"), Constants, chains));
        Assert.Null(FloatChain.Of(Node("Add", GraphOps.Add(), GraphOps.AddPointwise, ["x", "w"], "b"), Constants, chains));
        Assert.Null(FloatChain.Of(new GraphNode("n", "Relu", ["x"], ["d"], GraphOps.Map(GraphOps.ReluSteps), moduleName: "layer") { Pointwise = GraphOps.UnaryPointwise(GraphOps.ReluSteps) }, Constants, chains));
        Assert.Null(FloatChain.Of(new GraphNode("n", "Sigmoid", ["x"], ["e"], GraphOps.Sigmoid()), Constants, chains));
        // Clip bounds must be scalars, and read where the op reads them.
        Assert.Null(FloatChain.Of(Node("Clip", GraphOps.Clip(0, 1), GraphOps.ClipPointwise(0, 1), ["x", "per_channel"], "f"), Constants, chains));
        Assert.Null(FloatChain.Of(Node("Clip", GraphOps.Clip(0, 1), GraphOps.ClipPointwise(0, 1), ["x", "w"], "g"), Constants, chains));
        Assert.NotNull(FloatChain.Of(Node("Clip", GraphOps.Clip(0, 1), GraphOps.ClipPointwise(0, 1), ["x"], "h"), Constants, chains));
    }

    private static GraphNode Node(string op, GraphKernel kernel, PointwiseOp pointwise, string[] inputs, string output) =>
        new(output, op, inputs, [output], kernel) { Pointwise = pointwise };
}
