using System.Collections.ObjectModel;
using Google.Protobuf;
using Quantization.Onnx.Proto;

namespace Quantization.Onnx.Import;

/// <summary>
/// Parses and validates a serialized model into the immutable <see cref="OnnxModel"/> view. Checks follow the ONNX IR
/// rules the importer relies on: single assignment of names, every read value produced somewhere in scope, no cycles
/// (nodes are re-sorted topologically), produced graph outputs, supported opsets, and tensor data that matches its dims.
/// </summary>
internal sealed class ModelReader
{
    private readonly Dictionary<string, long> _opsets;
    private readonly HashSet<string> _functionDomains;
    private readonly string? _baseDirectory;

    private ModelReader(Dictionary<string, long> opsets, HashSet<string> functionDomains, string? baseDirectory)
    {
        _opsets = opsets;
        _functionDomains = functionDomains;
        _baseDirectory = baseDirectory;
    }

    public static OnnxModel Read(ReadOnlySpan<byte> data, string? baseDirectory)
    {
        if (data.IsEmpty)
            throw new OnnxFormatException("The model is empty (0 bytes).");
        ModelProto proto;
        try
        {
            proto = ModelProto.Parser.ParseFrom(data);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new OnnxFormatException($"The data is not a valid ONNX model: the protobuf is truncated or corrupt ({e.Message})", e);
        }

        return Convert(proto, baseDirectory);
    }

    internal static OnnxModel Convert(ModelProto proto, string? baseDirectory)
    {
        if (!proto.HasIrVersion || proto.IrVersion < 3)
            throw new OnnxFormatException($"The model's IR version is {(proto.HasIrVersion ? proto.IrVersion.ToString(System.Globalization.CultureInfo.InvariantCulture) : "missing")}; version 3 or later (with opset imports) is required.");

        var opsets = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var import in proto.OpsetImport)
        {
            string domain = NormalizeDomain(import.Domain);
            if (!opsets.TryAdd(domain, import.Version))
                throw new OnnxFormatException($"The model imports the opset domain '{(domain.Length == 0 ? "ai.onnx" : domain)}' twice.");
        }

        if (!opsets.TryGetValue("", out long version))
            throw new OnnxFormatException("The model imports no version of the standard ONNX operator set (opset_import has no entry for the domain '' or 'ai.onnx').");
        if (version is < OnnxModel.MinOpsetVersion or > OnnxModel.MaxOpsetVersion)
            throw new OnnxFormatException($"The model uses ONNX opset {version}; opsets {OnnxModel.MinOpsetVersion} to {OnnxModel.MaxOpsetVersion} are supported.");
        if (proto.Graph is null)
            throw new OnnxFormatException("The model has no graph.");

        var functionDomains = proto.Functions.Select(f => NormalizeDomain(f.Domain)).ToHashSet(StringComparer.Ordinal);
        var reader = new ModelReader(opsets, functionDomains, baseDirectory);
        OnnxGraph graph = reader.ReadGraph(proto.Graph, $"graph '{proto.Graph.Name}'", outerScope: null);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var entry in proto.MetadataProps)
            metadata[entry.Key] = entry.Value;
        return new OnnxModel(proto, opsets, metadata, graph);
    }

    private static string NormalizeDomain(string domain) => domain == "ai.onnx" ? "" : domain;

    private OnnxGraph ReadGraph(GraphProto proto, string where, HashSet<string>? outerScope)
    {
        if (proto.SparseInitializer.Count > 0)
            throw new OnnxFormatException($"The {where} has sparse initializers, which are not supported.");

        var initializers = new Dictionary<string, OnnxTensor>(StringComparer.Ordinal);
        foreach (var t in proto.Initializer)
        {
            if (t.Name.Length == 0)
                throw new OnnxFormatException($"The {where} has an initializer without a name.");
            OnnxTensor tensor = TensorReader.Read(t, $"initializer '{t.Name}' of the {where}", _baseDirectory);
            if (!initializers.TryAdd(t.Name, tensor))
                throw new OnnxFormatException($"The {where} has two initializers named '{t.Name}'.");
        }

        // Every name this graph defines, with the index of the node that produces it (-1: input or initializer).
        var producer = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (string name in initializers.Keys)
            producer[name] = -1;
        var inputs = new List<OnnxValueInfo>();
        var inputNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var vi in proto.Input)
        {
            OnnxValueInfo info = ReadValueInfo(vi, $"input of the {where}");
            if (!inputNames.Add(info.Name))
                throw new OnnxFormatException($"The {where} declares the input '{info.Name}' twice.");
            // Before IR 4 weights were listed as inputs too; those stay initializers.
            if (!initializers.ContainsKey(info.Name))
            {
                inputs.Add(info);
                producer[info.Name] = -1;
            }
        }

        for (int i = 0; i < proto.Node.Count; i++)
        {
            foreach (string output in proto.Node[i].Output)
            {
                if (output.Length > 0 && !producer.TryAdd(output, i))
                {
                    string first = producer[output] < 0 ? "a graph input or initializer" : NodeLabel(proto.Node[producer[output]], producer[output], where);
                    throw new OnnxFormatException($"The name '{output}' is assigned twice in the {where}: by {first} and by {NodeLabel(proto.Node[i], i, where)}.");
                }
            }
        }

        // Subgraphs see everything this graph defines plus what its own enclosing graphs define.
        var scope = new HashSet<string>(producer.Keys, StringComparer.Ordinal);
        if (outerScope is not null)
            scope.UnionWith(outerScope);

        var nodes = new OnnxNode[proto.Node.Count];
        var captures = new List<string>[proto.Node.Count];
        var outerScopeNames = new List<string>();
        var outerSeen = new HashSet<string>(StringComparer.Ordinal);
        for (int i = 0; i < nodes.Length; i++)
        {
            (nodes[i], captures[i]) = ReadNode(proto.Node[i], i, where, scope);
            foreach (string name in nodes[i].Inputs.Concat(captures[i]))
            {
                if (name.Length == 0 || producer.ContainsKey(name))
                    continue;
                if (outerScope is null || !outerScope.Contains(name))
                    throw new OnnxFormatException($"{Capitalize(nodes[i].Label)} reads '{name}', which no node, graph input or initializer of the {where} produces (a missing initializer?).");
                if (outerSeen.Add(name))
                    outerScopeNames.Add(name);
            }
        }

        var outputs = new List<OnnxValueInfo>();
        var outputNames = new HashSet<string>(StringComparer.Ordinal);
        foreach (var vi in proto.Output)
        {
            OnnxValueInfo info = ReadValueInfo(vi, $"output of the {where}");
            if (!outputNames.Add(info.Name))
                throw new OnnxFormatException($"The {where} declares the output '{info.Name}' twice.");
            if (!producer.ContainsKey(info.Name) && outerScope?.Contains(info.Name) != true)
                throw new OnnxFormatException($"The output '{info.Name}' of the {where} is not produced by any node, graph input or initializer.");
            outputs.Add(info);
        }

        if (outputs.Count == 0)
            throw new OnnxFormatException($"The {where} declares no outputs.");

        var valueInfo = new Dictionary<string, OnnxValueInfo>(StringComparer.Ordinal);
        foreach (var vi in proto.ValueInfo)
        {
            OnnxValueInfo info = ReadValueInfo(vi, $"value_info of the {where}");
            if (!valueInfo.TryAdd(info.Name, info))
                throw new OnnxFormatException($"The {where} has two value_info entries for '{info.Name}'.");
        }

        List<OnnxNode> sorted = TopologicalOrder(nodes, captures, producer, where);
        var constants = new Dictionary<string, OnnxTensor>(StringComparer.Ordinal);
        foreach (OnnxNode node in sorted)
        {
            if (node.OpType == "Constant" && node.Domain.Length == 0)
                constants[node.Outputs[0]] = ConstantValue(node);
        }

        return new OnnxGraph(proto.Name, inputs, outputs, initializers, sorted, valueInfo, constants, outerScopeNames);
    }

    private (OnnxNode Node, List<string> Captures) ReadNode(NodeProto proto, int index, string where, HashSet<string> scope)
    {
        string label = NodeLabel(proto, index, where);
        if (proto.OpType.Length == 0)
            throw new OnnxFormatException($"{Capitalize(label)} has no op_type.");
        string domain = NormalizeDomain(proto.Domain);
        if (!_opsets.ContainsKey(domain) && !_functionDomains.Contains(domain))
            throw new OnnxFormatException($"{Capitalize(label)} uses the operator domain '{domain}', which the model does not import.");

        var attributes = new Dictionary<string, OnnxAttribute>(StringComparer.Ordinal);
        var captures = new List<string>();
        foreach (var a in proto.Attribute)
        {
            if (a.Name.Length == 0)
                throw new OnnxFormatException($"{Capitalize(label)} has an attribute without a name.");
            OnnxAttribute attribute = ReadAttribute(a, label, scope, captures);
            if (!attributes.TryAdd(a.Name, attribute))
                throw new OnnxFormatException($"{Capitalize(label)} has two attributes named '{a.Name}'.");
        }

        var node = new OnnxNode(proto.Name, proto.OpType, domain, [.. proto.Input], [.. proto.Output], attributes, label);
        if (node.OpType == "Constant" && domain.Length == 0 && (node.Outputs.Count != 1 || node.Outputs[0].Length == 0))
            throw new OnnxFormatException($"{Capitalize(label)} must have exactly one named output.");
        return (node, captures);
    }

    private OnnxAttribute ReadAttribute(AttributeProto a, string owner, HashSet<string> scope, List<string> captures)
    {
        if (a.HasRefAttrName)
            throw new OnnxFormatException($"Attribute '{a.Name}' of {owner} refers to a function attribute ('{a.RefAttrName}') outside a function.");
        var type = (OnnxAttributeType)(int)a.Type;
        if (type == OnnxAttributeType.Undefined)
            type = InferAttributeType(a, owner);
        string what = $"attribute '{a.Name}' of {owner}";
        object? value = type switch
        {
            OnnxAttributeType.Float => a.F,
            OnnxAttributeType.Int => a.I,
            OnnxAttributeType.String => a.S.ToStringUtf8(),
            OnnxAttributeType.Tensor => TensorReader.Read(a.T ?? throw Missing("t"), $"tensor of {what}", _baseDirectory),
            OnnxAttributeType.Graph => Subgraph(a.G ?? throw Missing("g"), $"graph '{a.Name}' of {owner}"),
            OnnxAttributeType.Floats => new ReadOnlyCollection<float>([.. a.Floats]),
            OnnxAttributeType.Ints => new ReadOnlyCollection<long>([.. a.Ints]),
            OnnxAttributeType.Strings => new ReadOnlyCollection<string>(a.Strings.Select(s => s.ToStringUtf8()).ToArray()),
            OnnxAttributeType.Tensors => new ReadOnlyCollection<OnnxTensor>(a.Tensors.Select((t, i) => TensorReader.Read(t, $"tensor {i} of {what}", _baseDirectory)).ToArray()),
            OnnxAttributeType.Graphs => new ReadOnlyCollection<OnnxGraph>(a.Graphs.Select((g, i) => Subgraph(g, $"graph {i} of {what}")).ToArray()),
            OnnxAttributeType.SparseTensor or OnnxAttributeType.SparseTensors or OnnxAttributeType.TypeProto or OnnxAttributeType.TypeProtos => null,
            _ => throw new OnnxFormatException($"The {what} has the unknown attribute type {(int)type}."),
        };
        return new OnnxAttribute(owner, a.Name, type, value);

        OnnxFormatException Missing(string field) => new($"The {what} is {type} but has no value in field '{field}'.");

        OnnxGraph Subgraph(GraphProto g, string where)
        {
            OnnxGraph graph = ReadGraph(g, where, scope);
            captures.AddRange(graph.OuterScopeNames);
            return graph;
        }
    }

    // Some writers leave the type unset; the one value field that is present says what it is.
    private static OnnxAttributeType InferAttributeType(AttributeProto a, string owner)
    {
        if (a.HasF) return OnnxAttributeType.Float;
        if (a.HasI) return OnnxAttributeType.Int;
        if (a.HasS) return OnnxAttributeType.String;
        if (a.T is not null) return OnnxAttributeType.Tensor;
        if (a.G is not null) return OnnxAttributeType.Graph;
        if (a.Floats.Count > 0) return OnnxAttributeType.Floats;
        if (a.Ints.Count > 0) return OnnxAttributeType.Ints;
        if (a.Strings.Count > 0) return OnnxAttributeType.Strings;
        if (a.Tensors.Count > 0) return OnnxAttributeType.Tensors;
        if (a.Graphs.Count > 0) return OnnxAttributeType.Graphs;
        throw new OnnxFormatException($"Attribute '{a.Name}' of {owner} has neither a type nor a value.");
    }

    private static OnnxTensor ConstantValue(OnnxNode node)
    {
        if (node.Attributes.Count != 1)
            throw new OnnxFormatException($"{Capitalize(node.Label)} must have exactly one value attribute, not {node.Attributes.Count}.");
        OnnxAttribute a = node.Attributes.Values.First();
        string name = node.Outputs[0];
        return a.Name switch
        {
            "value" => TensorReader.Renamed(a.Tensor, name),
            "value_float" => TensorReader.FromFloats(name, [], [a.Float]),
            "value_floats" => TensorReader.FromFloats(name, [a.Floats.Count], a.Floats),
            "value_int" => TensorReader.FromInt64s(name, [], [a.Int]),
            "value_ints" => TensorReader.FromInt64s(name, [a.Ints.Count], a.Ints),
            "value_string" => TensorReader.FromStrings(name, [], [a.String]),
            "value_strings" => TensorReader.FromStrings(name, [a.Strings.Count], a.Strings),
            "sparse_value" => throw new OnnxFormatException($"{Capitalize(node.Label)} holds a sparse tensor, which is not supported."),
            _ => throw new OnnxFormatException($"{Capitalize(node.Label)} has the attribute '{a.Name}', which is not a Constant value attribute."),
        };
    }

    /// <summary>
    /// Kahn's algorithm, taking the lowest file position among ready nodes so a valid file keeps its order. A node
    /// depends on the producers of its inputs and of the outer-scope names its subgraphs read.
    /// </summary>
    private static List<OnnxNode> TopologicalOrder(OnnxNode[] nodes, List<string>[] captures, Dictionary<string, int> producer, string where)
    {
        int n = nodes.Length;
        var dependencies = new HashSet<int>[n];
        var dependents = new List<int>[n];
        for (int i = 0; i < n; i++)
            dependents[i] = [];
        var pending = new int[n];
        for (int i = 0; i < n; i++)
        {
            dependencies[i] = [];
            foreach (string name in nodes[i].Inputs.Concat(captures[i]))
            {
                if (name.Length > 0 && producer.TryGetValue(name, out int p) && p >= 0 && dependencies[i].Add(p))
                    dependents[p].Add(i);
            }

            pending[i] = dependencies[i].Count;
        }

        var ready = new PriorityQueue<int, int>();
        for (int i = 0; i < n; i++)
        {
            if (pending[i] == 0)
                ready.Enqueue(i, i);
        }

        var order = new List<OnnxNode>(n);
        var done = new bool[n];
        while (ready.TryDequeue(out int i, out _))
        {
            order.Add(nodes[i]);
            done[i] = true;
            foreach (int d in dependents[i])
            {
                if (--pending[d] == 0)
                    ready.Enqueue(d, d);
            }
        }

        if (order.Count == n)
            return order;

        // Every node left waits on another node left, so walking back along unfinished dependencies must revisit one.
        int current = Array.IndexOf(done, false);
        var path = new List<int>();
        var position = new Dictionary<int, int>();
        while (position.TryAdd(current, path.Count))
        {
            path.Add(current);
            current = dependencies[current].First(p => !done[p]);
        }

        var cycle = path.Skip(position[current]).Reverse().Select(i => nodes[i].Label).ToList();
        cycle.Add(cycle[0]);
        throw new OnnxFormatException($"The {where} has a cycle: {string.Join(" -> ", cycle)}.");
    }

    private static OnnxValueInfo ReadValueInfo(ValueInfoProto proto, string what)
    {
        if (proto.Name.Length == 0)
            throw new OnnxFormatException($"An {what} has no name.");
        string where = $"'{proto.Name}' ({what})";
        if (proto.Type is null)
            return new OnnxValueInfo(proto.Name, OnnxValueKind.Unknown, OnnxElementType.Undefined, null);
        var (kind, elementType, shape) = ReadType(proto.Type, where);
        return new OnnxValueInfo(proto.Name, kind, elementType, shape);
    }

    private static (OnnxValueKind Kind, OnnxElementType ElementType, IReadOnlyList<OnnxDimension>? Shape) ReadType(TypeProto type, string where)
    {
        switch (type.ValueCase)
        {
            case TypeProto.ValueOneofCase.TensorType:
                return (OnnxValueKind.Tensor, ElementType(type.TensorType.ElemType, where), ReadShape(type.TensorType.Shape, where));
            case TypeProto.ValueOneofCase.SparseTensorType:
                return (OnnxValueKind.SparseTensor, ElementType(type.SparseTensorType.ElemType, where), ReadShape(type.SparseTensorType.Shape, where));
            case TypeProto.ValueOneofCase.SequenceType when type.SequenceType.ElemType is { } element:
                {
                    var (_, elementType, shape) = ReadType(element, where);
                    return (OnnxValueKind.Sequence, elementType, shape);
                }

            case TypeProto.ValueOneofCase.OptionalType when type.OptionalType.ElemType is { } element:
                {
                    var (_, elementType, shape) = ReadType(element, where);
                    return (OnnxValueKind.Optional, elementType, shape);
                }

            case TypeProto.ValueOneofCase.SequenceType:
                return (OnnxValueKind.Sequence, OnnxElementType.Undefined, null);
            case TypeProto.ValueOneofCase.OptionalType:
                return (OnnxValueKind.Optional, OnnxElementType.Undefined, null);
            case TypeProto.ValueOneofCase.MapType:
                return (OnnxValueKind.Map, OnnxElementType.Undefined, null);
            default:
                return (OnnxValueKind.Unknown, OnnxElementType.Undefined, null);
        }
    }

    // An unset element type (0) is legal in value infos: the type is then inferred.
    private static OnnxElementType ElementType(int code, string where) =>
        code == 0 ? OnnxElementType.Undefined : TensorReader.ElementType(code, $"value {where}");

    private static ReadOnlyCollection<OnnxDimension>? ReadShape(TensorShapeProto? shape, string where)
    {
        if (shape is null)
            return null;
        var dims = new OnnxDimension[shape.Dim.Count];
        for (int i = 0; i < dims.Length; i++)
        {
            var d = shape.Dim[i];
            dims[i] = d.ValueCase switch
            {
                TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue when d.DimValue < 0 =>
                    throw new OnnxFormatException($"Dimension {i} of {where} is negative ({d.DimValue})."),
                TensorShapeProto.Types.Dimension.ValueOneofCase.DimValue => new OnnxDimension(d.DimValue, null),
                TensorShapeProto.Types.Dimension.ValueOneofCase.DimParam => new OnnxDimension(null, d.DimParam),
                _ => new OnnxDimension(null, null),
            };
        }

        return new ReadOnlyCollection<OnnxDimension>(dims);
    }

    private static string NodeLabel(NodeProto node, int index, string where) =>
        node.Name.Length > 0 ? $"node '{node.Name}' ({node.OpType})" : $"node #{index} ({node.OpType}) of the {where}";

    private static string Capitalize(string text) => text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..];
}
