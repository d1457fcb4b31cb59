using Quantization.Graph;
using Xunit;

namespace Quantization.Tests.Graph;

/// <summary>
/// Runs recycle the arrays of dead intermediates (<see cref="TensorArena"/>); nothing a caller holds, and no live value,
/// may ever be overwritten by that.
/// </summary>
public class GraphBufferReuseTests
{
    private const int Length = 3 * TensorArena.MinLength;

    [Fact]
    public void Outputs_of_earlier_runs_survive_later_runs()
    {
        // y = (x + 1) * 2 + 1, and also z = x + 1 exposed as an output: intermediates die, outputs must not be recycled.
        var graph = Graph(
            new GraphNode("add", "Add", ["x", "one"], ["a"], GraphOps.Add()),
            new GraphNode("mul", "Mul", ["a", "two"], ["b"], GraphOps.Mul()),
            new GraphNode("add2", "Add", ["b", "one"], ["y"], GraphOps.Add()),
            new GraphNode("add3", "Add", ["x", "one"], ["z"], GraphOps.Add()));

        var first = graph.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Full(1f, 1, Length) });
        float[] y1 = first["y"].AsSpan().ToArray(), z1 = first["z"].AsSpan().ToArray();
        for (int run = 0; run < 3; run++)
        {
            var next = graph.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Full(10f + run, 1, Length) });
            Assert.All(next["y"].AsSpan().ToArray(), v => Assert.Equal((10f + run + 1) * 2 + 1, v));
        }

        Assert.Equal(y1, first["y"].AsSpan().ToArray());
        Assert.All(y1, v => Assert.Equal(5f, v));
        Assert.Equal(z1, first["z"].AsSpan().ToArray());
    }

    [Fact]
    public void Outputs_stored_in_a_dictionary_are_overwritten_when_their_shape_fits_and_replaced_otherwise()
    {
        var graph = Graph(
            new GraphNode("add", "Add", ["x", "one"], ["a"], GraphOps.Add()),
            new GraphNode("mul", "Mul", ["a", "two"], ["b"], GraphOps.Mul()),
            new GraphNode("add2", "Add", ["b", "one"], ["y"], GraphOps.Add()),
            new GraphNode("add3", "Add", ["x", "one"], ["z"], GraphOps.Add()));
        var y = new Tensor(1, Length);
        var wrong = new Tensor(2, 2);
        var outputs = new Dictionary<string, Tensor> { ["y"] = y, ["z"] = wrong, ["other"] = wrong };
        var x = Tensor.Full(1f, 1, Length);
        graph.Run(new Dictionary<string, Tensor> { ["x"] = x }, outputs);
        Assert.Same(y, outputs["y"]);
        Assert.All(y.AsSpan().ToArray(), v => Assert.Equal(5f, v));
        var z = outputs["z"];
        Assert.NotSame(wrong, z);
        Assert.All(z.AsSpan().ToArray(), v => Assert.Equal(2f, v));
        Assert.Same(wrong, outputs["other"]);

        graph.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Full(10f, 1, Length) }, outputs);
        Assert.Same(y, outputs["y"]);
        Assert.Same(z, outputs["z"]);
        Assert.All(y.AsSpan().ToArray(), v => Assert.Equal(23f, v));
        Assert.All(z.AsSpan().ToArray(), v => Assert.Equal(11f, v));
        Assert.All(x.AsSpan().ToArray(), v => Assert.Equal(1f, v));
        Assert.Throws<ArgumentNullException>(() => graph.Run(new Dictionary<string, Tensor> { ["x"] = x }, null!));
    }

    [Fact]
    public void A_view_of_a_released_value_keeps_its_values()
    {
        // "v" is a view sharing a's array; a dies after "view" but v is read later: a's array must not be recycled
        // for b, which the next node computes.
        GraphKernel view = (inputs, _) => [inputs[0]!.Reshape(Length)];
        var graph = Graph(
            new GraphNode("add", "Add", ["x", "one"], ["a"], GraphOps.Add()),
            new GraphNode("view", "View", ["a"], ["v"], view),
            new GraphNode("mul", "Mul", ["x", "two"], ["b"], GraphOps.Mul()),
            new GraphNode("sum", "Add", ["v", "b"], ["y"], GraphOps.Add()));

        for (int run = 0; run < 3; run++)
        {
            var y = graph.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.Full(3f, 1, Length) })["y"];
            Assert.All(y.AsSpan().ToArray(), v => Assert.Equal(3f + 1 + 3f * 2, v));
        }
    }

    [Fact]
    public void The_arena_hands_out_zeroed_arrays_of_the_exact_length()
    {
        var arena = new TensorArena();
        var array = new float[TensorArena.MinLength];
        array.AsSpan().Fill(7);
        arena.Return(array);
        Assert.Null(arena.TryTake(TensorArena.MinLength + 1));
        var taken = arena.TryTake(TensorArena.MinLength);
        Assert.Same(array, taken);
        Assert.All(taken!, v => Assert.Equal(0f, v));
        Assert.Null(arena.TryTake(TensorArena.MinLength));

        // Small arrays stay with the garbage collector.
        arena.Return(new float[16]);
        Assert.Null(arena.TryTake(16));
    }

    [Fact]
    public void Byte_buffers_are_recycled_only_inside_an_active_arena()
    {
        int length = TensorArena.MinLength * sizeof(float);
        var arena = new TensorArena();
        var bytes = new byte[length];
        arena.Return(bytes);
        Assert.NotSame(bytes, TensorArena.RentBytes(length));
        using (TensorArena.Activate(arena))
        {
            Assert.NotSame(bytes, TensorArena.RentBytes(length + 1));
            Assert.Same(bytes, TensorArena.RentBytes(length));
            Assert.NotSame(bytes, TensorArena.RentBytes(length));
        }
    }

    [Fact]
    public void Tensors_outside_a_run_never_come_from_an_arena()
    {
        var arena = new TensorArena();
        var recycled = new float[TensorArena.MinLength];
        arena.Return(recycled);
        using (TensorArena.Activate(arena))
            Assert.Same(recycled, new Tensor(TensorArena.MinLength).Storage);
        arena.Return(new float[TensorArena.MinLength]);
        Assert.NotSame(recycled, new Tensor(TensorArena.MinLength).Storage);
        Assert.Null(TensorArena.Current);
    }

    private static GraphModule Graph(params GraphNode[] nodes)
    {
        var constants = new Dictionary<string, Tensor> { ["one"] = Tensor.Full(1f), ["two"] = Tensor.Full(2f) };
        var outputs = nodes.Where(n => n.Outputs[0] is "y" or "z").Select(n => n.Outputs[0]).ToList();
        return new GraphModule([new GraphInput("x", [1, Length])], new GraphBody(nodes, outputs, constants), []);
    }
}
