namespace Quantization.Graph;

/// <summary>
/// A node list with its constants and outputs: the main graph of a <see cref="GraphModule"/> or a branch of an
/// <c>If</c>. Running it writes each node's outputs into the scope and drops every intermediate value after its last
/// reader, so a deep network holds only the live activations.
/// </summary>
internal sealed class GraphBody
{
    private readonly string[][] _releaseAfter;

    /// <summary>Per node and input, whether the node is that value's last reader (the value is in <c>_releaseAfter</c>).</summary>
    private readonly bool[][] _lastRead;

    /// <summary>The arrays of <see cref="Constants"/>, which a planned run never returns to its arena (built on first use).</summary>
    private HashSet<float[]>? _constantStorage;

    /// <summary>Per node, the layer normalization pattern that starts there (see <see cref="LayerNormFusion"/>), or null.</summary>
    private readonly LayerNormFusion?[] _layerNorms;

    /// <summary>The arena between runs (taken by a run, put back after it, so concurrent runs never share one).</summary>
    private TensorArena? _spareArena;

    /// <param name="nodes">The nodes in topological order.</param>
    /// <param name="outputs">The names the body returns.</param>
    /// <param name="constants">Constant values by name (weights, shapes, scalars).</param>
    public GraphBody(IReadOnlyList<GraphNode> nodes, IReadOnlyList<string> outputs, IReadOnlyDictionary<string, Tensor> constants)
    {
        Nodes = nodes;
        Outputs = outputs;
        Constants = constants;

        // A value produced here may be dropped after the last node that reads it, unless the body returns it.
        var lastReader = new Dictionary<string, int>();
        for (int i = 0; i < nodes.Count; i++)
        {
            foreach (string name in nodes[i].Inputs.Concat(nodes[i].CapturedNames))
                lastReader[name] = i;
        }

        var produced = nodes.SelectMany(n => n.Outputs).Where(n => n.Length > 0).ToHashSet();
        produced.ExceptWith(outputs);
        var release = new List<string>[nodes.Count];
        for (int i = 0; i < nodes.Count; i++)
            release[i] = [];
        foreach (var (name, index) in lastReader)
        {
            if (produced.Contains(name))
                release[index].Add(name);
        }

        _releaseAfter = release.Select(r => r.ToArray()).ToArray();
        _lastRead = nodes.Select((n, i) => n.Inputs.Select(name => Array.IndexOf(_releaseAfter[i], name) >= 0).ToArray()).ToArray();
        _layerNorms = LayerNormFusion.Find(nodes, outputs);
    }

    public IReadOnlyList<GraphNode> Nodes { get; }

    public IReadOnlyList<string> Outputs { get; }

    public IReadOnlyDictionary<string, Tensor> Constants { get; }

    /// <summary>Whether a live value (one still bound to a name) is a view of <paramref name="released"/>'s array.</summary>
    private static bool SharesStorage(Tensor released, Dictionary<Tensor, int> names)
    {
        foreach (var (value, count) in names)
        {
            if (count > 0 && !ReferenceEquals(value, released) && ReferenceEquals(value.Storage, released.Storage))
                return true;
        }

        return false;
    }

    /// <summary>Names the body reads but neither defines nor produces: the values it takes from enclosing scopes.</summary>
    public IEnumerable<string> FreeNames()
    {
        var local = Nodes.SelectMany(n => n.Outputs).Concat(Constants.Keys).ToHashSet();
        return Nodes.SelectMany(n => n.Inputs.Concat(n.CapturedNames)).Concat(Outputs)
            .Where(name => name.Length > 0 && !local.Contains(name)).Distinct();
    }

    /// <summary>Runs the nodes in <paramref name="scope"/> (which already holds the inputs) and returns the outputs in order.</summary>
    /// <remarks>
    /// Buffer reuse: every tensor a node returns is counted per name bound to it here. When a node reads a value for
    /// the last time and that tensor has no other name, it is donated to the node, which may write its output into it
    /// (elementwise ops do), so a deep network does not allocate a fresh activation per op. Outputs of nodes that may
    /// return a tensor they did not create (one of their inputs, or for If a branch's value) are pinned and never donated,
    /// nor are graph inputs and constants, which this body never counts. A value released with no other name, not pinned
    /// and no view of a live one, goes to the body's <see cref="TensorArena"/>, whose arrays the next runs' ops reuse.
    /// </remarks>
    /// <exception cref="ArgumentException">A node rejects its inputs; the message names the node.</exception>
    /// <param name="scope">The scope, holding the inputs.</param>
    /// <param name="reuse">
    /// Per output, a tensor to copy it into when it has the output's shape (else the output is returned as made); a
    /// planned run then recycles its own output array, unless another output shares it.
    /// </param>
    public Tensor[] Run(GraphScope scope, IReadOnlyList<Tensor?>? reuse = null)
    {
        var arena = Interlocked.Exchange(ref _spareArena, null) ?? new TensorArena();
        using (TensorArena.Activate(arena))
        {
            var result = scope.Parent is null && scope.Owner.Plan is { } plan && plan.Matches(scope.Owner)
                ? RunPlanned(scope, arena, plan, reuse)
                : Deliver(Run(scope, arena), reuse, null, arena);
            _spareArena = arena;
            return result;
        }
    }

    /// <summary>
    /// Copies each result into its <paramref name="reuse"/> tensor when that has the result's shape and is not already
    /// used, and returns the result's array to <paramref name="arena"/> when it is in <paramref name="owned"/> (made by
    /// this run, held by nobody) and no other result shares it.
    /// </summary>
    private static Tensor[] Deliver(Tensor[] results, IReadOnlyList<Tensor?>? reuse, HashSet<Tensor>? owned, TensorArena arena)
    {
        if (reuse is null)
            return results;
        var made = (Tensor[])results.Clone();
        var used = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        for (int k = 0; k < results.Length; k++)
        {
            if (k >= reuse.Count || reuse[k] is not { } target || !target.HasShape(made[k].Shape) || ReferenceEquals(target.Storage, made[k].Storage) || !used.Add(target))
                continue;
            made[k].AsSpan().CopyTo(target.AsSpan());
            results[k] = target;
        }

        for (int k = 0; k < made.Length; k++)
        {
            float[] storage = made[k].Storage;
            if (!ReferenceEquals(results[k], made[k]) && owned is not null && owned.Contains(made[k])
                && !Array.Exists(results, r => ReferenceEquals(r.Storage, storage)) && Array.FindIndex(made, m => ReferenceEquals(m.Storage, storage)) == k)
                arena.Return(storage);
        }

        return results;
    }

    private Tensor[] Run(GraphScope scope, TensorArena arena)
    {
        scope.UseConstants(Constants);
        var names = new Dictionary<Tensor, int>(ReferenceEqualityComparer.Instance);
        var pinned = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var donated = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        // Fused patterns run in one step unless an observer must see each node's output.
        bool fuse = scope.Parent is not null || scope.Owner.ValueObserver is null;
        for (int i = 0; i < Nodes.Count; i++)
        {
            if (fuse && _layerNorms[i] is { } layerNorm && layerNorm.TryRun(scope) is { } normalized)
            {
                scope.Set(layerNorm.Output, normalized);
                names[normalized] = 1;
                for (; i <= layerNorm.Last; i++)
                    Release(i);
                i--;
                continue;
            }

            GraphNode node = Nodes[i];
            var inputs = new Tensor?[node.Inputs.Count];
            scope.Donated.Clear();
            for (int k = 0; k < inputs.Length; k++)
            {
                string name = node.Inputs[k];
                if (name.Length == 0)
                    continue;
                Tensor value = scope.TryGet(name, out var v) ? v : throw new InvalidOperationException($"Node {node.Name} reads '{name}', which has no value.");
                inputs[k] = value;
                if (_lastRead[i][k] && names.GetValueOrDefault(value) == 1 && !pinned.Contains(value))
                    scope.Donated.Add(value);
            }

            donated.Clear();
            donated.UnionWith(scope.Donated);

            Tensor[] outputs;
            try
            {
                outputs = node.Kernel(inputs, scope);
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"Node {node.Name} ({node.OpType}): {e.Message}", e);
            }
            finally
            {
                scope.Donated.Clear();
            }

            for (int k = 0; k < node.Outputs.Count && k < outputs.Length; k++)
            {
                if (node.Outputs[k].Length == 0)
                    continue;
                Tensor output = outputs[k];
                scope.Set(node.Outputs[k], output);
                if (scope.Parent is null)
                    scope.Owner.ValueObserver?.Invoke(node.Outputs[k], output);
                names[output] = names.GetValueOrDefault(output) + 1;
                // An input passed through (Identity, a no-op reshape, a swapped-in identity layer) may be a constant or
                // a caller's tensor, and a branch output may belong to an enclosing scope: never overwrite those.
                if (node.OpType == "If" || (!donated.Contains(output) && Array.IndexOf(inputs, output) >= 0))
                    pinned.Add(output);
            }

            Release(i);
        }

        var results = new Tensor[Outputs.Count];
        for (int k = 0; k < results.Length; k++)
            results[k] = scope.TryGet(Outputs[k], out var v) ? v : throw new InvalidOperationException($"Output '{Outputs[k]}' has no value.");
        return results;

        // Drops the values node `index` read last, returning arrays no live value uses to the arena.
        void Release(int index)
        {
            foreach (string name in _releaseAfter[index])
            {
                if (scope.TryGet(name, out var released) && names.TryGetValue(released, out int count))
                {
                    names[released] = count - 1;
                    if (count == 1 && !pinned.Contains(released) && !SharesStorage(released, names))
                        arena.Return(released.Storage);
                }

                scope.Remove(name);
            }
        }
    }

    /// <summary>Runs the nodes as <paramref name="plan"/> says, holding quantized values as codes (see <see cref="Int8Plan"/>).</summary>
    private Tensor[] RunPlanned(GraphScope scope, TensorArena arena, Int8Plan plan, IReadOnlyList<Tensor?>? reuse)
    {
        scope.UseConstants(Constants);
        // Float values this run made (decoded from codes, or fresh outputs of float steps): nobody else holds them, so
        // a float step may overwrite one it reads last, and a released one goes back to the arena.
        var owned = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var constantStorage = _constantStorage ??= new HashSet<float[]>(Constants.Values.Select(c => c.Storage), ReferenceEqualityComparer.Instance);

        Tensor ReadFloat(string name)
        {
            if (scope.TryGet(name, out var value))
                return value;
            Tensor result;
            if (scope.TryGetQuantized(name, out var q))
            {
                result = q.Dequantize();
            }
            else if (plan.Lazy.TryGetValue(name, out var function) && scope.TryGetQuantized(function.Source, out var source))
            {
                result = Tensor.Uninitialized([.. source.Shape]);
                Int8Plan.ApplyTable<float>(function.Table, function, source, result.AsSpan());
            }
            else if (plan.Chains.TryGetValue(name, out var chain))
            {
                result = chain.Evaluate(ReadFloat(chain.Source));
            }
            else
            {
                throw new InvalidOperationException($"'{name}' has no value.");
            }

            scope.Set(name, result);
            owned.Add(result);
            return result;
        }

        for (int i = 0; i < Nodes.Count; i++)
        {
            GraphNode node = Nodes[i];
            var step = plan.Steps[i];
            try
            {
                switch (step.Kind)
                {
                    case Int8Plan.StepKind.Lazy or Int8Plan.StepKind.Chain:
                        break;
                    case Int8Plan.StepKind.Alias:
                        scope.SetQuantized(node.Outputs[0], Quantized(scope, node.Inputs[0]));
                        break;
                    case Int8Plan.StepKind.Table:
                    {
                        var function = step.Function!;
                        var source = Quantized(scope, function.Source);
                        var codes = TensorArena.RentBytes(source.Length);
                        Int8Plan.ApplyTable<byte>(step.Codes, function, source, codes);
                        scope.SetQuantized(node.Outputs[0], QuantizedTensor.Wrap(codes, source.Shape.ToArray(), step.Output!));
                        break;
                    }

                    case Int8Plan.StepKind.Layer:
                    {
                        var layer = (Nn.Quantized.QdqLayer)scope.Owner.Layer(node.ModuleName!);
                        var input = scope.TryGetQuantized(node.Inputs[0], out var q) ? new Nn.Variable(q) : new Nn.Variable(ReadFloat(node.Inputs[0]));
                        scope.SetQuantized(node.Outputs[0], GraphOps.QuantizedLayer(node.OpType, layer, input));
                        break;
                    }

                    case Int8Plan.StepKind.Compute when FastCompute(node, step, scope, plan) is { } fast:
                        scope.SetQuantized(node.Outputs[0], fast);
                        break;
                    default:
                    {
                        var inputs = node.Inputs.Select(name => name.Length == 0 ? null : ReadFloat(name)).ToArray();
                        scope.Donated.Clear();
                        for (int k = 0; k < inputs.Length; k++)
                        {
                            string name = node.Inputs[k];
                            if (inputs[k] is { } t && owned.Contains(t) && Array.IndexOf(plan.ReleaseAfter[i], name) >= 0
                                && node.Inputs.Count(n => n == name) == 1 && !scope.Uses(t.Storage, name))
                                scope.Donated.Add(t);
                        }

                        Tensor[] outputs;
                        try
                        {
                            outputs = node.Kernel(inputs, scope);
                        }
                        finally
                        {
                            scope.Donated.Clear();
                        }

                        // Fresh: not a constant, and not an input (or a view of one) that someone else holds; a control-flow
                        // node may return an enclosing value.
                        bool Fresh(Tensor t) => node.OpType != "If" && !constantStorage.Contains(t.Storage)
                            && !Array.Exists(inputs, x => x is not null && ReferenceEquals(x.Storage, t.Storage) && !owned.Contains(x));
                        if (step.Kind == Int8Plan.StepKind.Compute)
                        {
                            // The float result is dead once encoded, unless it is an input's array (still bound to its name).
                            var result = outputs[0];
                            scope.SetQuantized(node.Outputs[0], QuantizedTensor.Quantize(result, step.Output!, RoundingConvention.Onnx));
                            if (!constantStorage.Contains(result.Storage) && !Array.Exists(inputs, x => ReferenceEquals(x?.Storage, result.Storage)))
                                arena.Return(result.Storage);
                        }
                        else
                        {
                            for (int k = 0; k < node.Outputs.Count && k < outputs.Length; k++)
                            {
                                if (node.Outputs[k].Length == 0)
                                    continue;
                                scope.Set(node.Outputs[k], outputs[k]);
                                if (Fresh(outputs[k]))
                                    owned.Add(outputs[k]);
                            }
                        }

                        break;
                    }
                }
            }
            catch (ArgumentException e)
            {
                throw new ArgumentException($"Node {node.Name} ({node.OpType}): {e.Message}", e);
            }

            foreach (string name in plan.ReleaseAfter[i])
            {
                if (scope.TryGet(name, out var value) && owned.Contains(value) && !scope.Uses(value.Storage, name))
                {
                    owned.Remove(value);
                    arena.Return(value.Storage);
                }

                if (scope.TryGetQuantized(name, out var codes) && codes.Storage is byte[] bytes && !scope.Uses(bytes, name))
                    arena.Return(bytes);
                scope.Remove(name);
            }
        }

        var results = new Tensor[Outputs.Count];
        for (int k = 0; k < results.Length; k++)
            results[k] = ReadFloat(Outputs[k]);
        return Deliver(results, reuse, owned, arena);
    }

    /// <summary>
    /// The INT8 kernel for a compute step, or null: a data-movement node's kernel on codes, the node's own INT8 kernel
    /// (Concat), or the fused kernel of two quantized operands or a global average pool.
    /// </summary>
    private static QuantizedTensor? FastCompute(GraphNode node, Int8Plan.Step step, GraphScope scope, Int8Plan plan)
    {
        Int8Steps.Operand? Operand(string name) =>
            scope.TryGetQuantized(name, out var q) ? new Int8Steps.Operand(q, null)
            : plan.Lazy.TryGetValue(name, out var f) && scope.TryGetQuantized(f.Source, out var source) ? new Int8Steps.Operand(source, f)
            : null;

        if (node.CodeKernel is { } moveCodes && scope.TryGetQuantized(node.Inputs[0], out var data))
        {
            // The other inputs (sizes, scales) are floats already: constants or outputs of float steps.
            var others = new Tensor?[node.Inputs.Count];
            for (int k = 1; k < others.Length; k++)
            {
                if (node.Inputs[k].Length > 0 && !scope.TryGet(node.Inputs[k], out others[k]))
                    return null;
            }

            return moveCodes(data, others);
        }

        if (node.Int8Kernel is { } int8)
        {
            var operands = new List<Int8Steps.Operand>(node.Inputs.Count);
            foreach (string name in node.Inputs)
            {
                if (Operand(name) is not { } operand)
                    return null;
                operands.Add(operand);
            }

            return int8(operands, step.Output!);
        }

        switch (node.OpType)
        {
            case "Add" or "Sub" or "Mul" or "Div" when node.Inputs.Count == 2 && Operand(node.Inputs[0]) is { } a && Operand(node.Inputs[1]) is { } b:
                return Int8Steps.Binary(node.OpType, a, b, step.Output!);
            case "GlobalAveragePool" when Operand(node.Inputs[0]) is { } x:
                return Int8Steps.GlobalAveragePool(x, step.Output!);
            default:
                return null;
        }
    }

    private static QuantizedTensor Quantized(GraphScope scope, string name) =>
        scope.TryGetQuantized(name, out var q) ? q : throw new InvalidOperationException($"'{name}' has no quantized value.");
}
