namespace Quantization.Nn;

/// <summary>
/// A <see cref="Tensor"/> that takes part in reverse-mode automatic differentiation, like a PyTorch tensor with
/// <c>requires_grad</c>.
/// </summary>
/// <remarks>
/// <para>
/// Design: a dynamic graph built while the forward pass runs ("define by run", as PyTorch). Every operation on
/// variables that needs a gradient returns a new variable remembering its inputs and a closure that turns the
/// output's gradient into input gradients. <see cref="Backward()"/> orders the graph topologically from the output
/// and runs the closures once each, in reverse, accumulating into <see cref="Grad"/>. Only leaves
/// (<see cref="Parameter"/>s and inputs created with <c>requiresGrad</c>) keep their gradients; the graph is released
/// afterwards, so each forward pass records a fresh one.
/// </para>
/// <para>
/// Nothing is recorded inside <see cref="Autograd.NoGrad"/> or when no input requires a gradient, so inference pays
/// nothing for it.
/// </para>
/// </remarks>
public class Variable
{
    private Variable[] _parents;
    private Action<Tensor>? _backward;
    private Tensor? _value;

    /// <summary>Wraps <paramref name="value"/> (no copy) as a leaf of the graph.</summary>
    /// <param name="value">The values.</param>
    /// <param name="requiresGrad">Whether <see cref="Backward()"/> should compute this variable's gradient.</param>
    public Variable(Tensor value, bool requiresGrad = false)
    {
        ArgumentNullException.ThrowIfNull(value);
        _value = value;
        RequiresGrad = requiresGrad;
        _parents = [];
    }

    /// <summary>
    /// Wraps quantized values (no copy): what quantized modules pass to each other, so data stays INT8 between them.
    /// Such a variable never requires a gradient; <see cref="Value"/> dequantizes on first use.
    /// </summary>
    public Variable(QuantizedTensor quantized)
    {
        ArgumentNullException.ThrowIfNull(quantized);
        Quantized = quantized;
        _parents = [];
    }

    private Variable(Tensor value, Variable[] parents, Action<Tensor> backward)
    {
        _value = value;
        RequiresGrad = true;
        _parents = parents;
        _backward = backward;
    }

    /// <summary>
    /// The values. For a quantized variable (<see cref="Quantized"/> not null) these are its dequantized values,
    /// computed once on first use: a float layer that receives quantized data sees the real numbers it stands for.
    /// </summary>
    public Tensor Value => _value ??= Quantized!.Dequantize();

    /// <summary>The quantized values when this variable carries INT8 data between quantized modules, else null.</summary>
    public QuantizedTensor? Quantized { get; }

    /// <summary>True when this variable carries quantized data.</summary>
    public bool IsQuantized => Quantized is not null;

    /// <summary>The gradient of the last <see cref="Backward()"/> with respect to this variable (summed over calls), or null.</summary>
    public Tensor? Grad { get; set; }

    /// <summary>Whether gradients flow to this variable.</summary>
    public bool RequiresGrad { get; }

    /// <summary>True for a variable created by the user rather than by an operation.</summary>
    public bool IsLeaf => _backward is null;

    /// <summary>The shape of <see cref="Value"/>.</summary>
    public ReadOnlySpan<int> Shape => Quantized is null ? Value.Shape : Quantized.Shape;

    /// <summary>Back-propagates from this variable, which must hold a single value (a loss): its gradient is 1.</summary>
    /// <exception cref="InvalidOperationException">The variable holds more than one value.</exception>
    public void Backward()
    {
        if (Value.Length != 1)
            throw new InvalidOperationException($"Backward() without a gradient needs a single value, but the shape is {Tensor.FormatShape(Value.Shape)}.");
        Backward(Tensor.Full(1f, Value.Shape));
    }

    /// <summary>Back-propagates <paramref name="gradient"/> (the gradient of some scalar with respect to this variable).</summary>
    /// <exception cref="ArgumentException">The gradient's shape differs from the value's.</exception>
    public void Backward(Tensor gradient)
    {
        ArgumentNullException.ThrowIfNull(gradient);
        if (!gradient.HasShape(Value.Shape))
            throw new ArgumentException($"The gradient has shape {Tensor.FormatShape(gradient.Shape)} but the value has {Tensor.FormatShape(Value.Shape)}.", nameof(gradient));
        if (!RequiresGrad)
            return;

        var order = TopologicalOrder();
        AccumulateGrad(gradient);
        for (int i = order.Count - 1; i >= 0; i--)
        {
            var node = order[i];
            if (node._backward is null)
                continue;
            if (node.Grad is not null)
                node._backward(node.Grad);

            // Interior gradients and closures are not needed again; releasing them frees the activations.
            node.Grad = null;
            node._backward = null;
            node._parents = [];
        }
    }

    /// <summary>Records the result of an operation: a new variable if any input needs a gradient, else a plain one.</summary>
    internal static Variable Record(Tensor value, Variable[] inputs, Action<Tensor> backward)
    {
        if (!Autograd.IsEnabled)
            return new Variable(value);
        foreach (var input in inputs)
        {
            if (input.RequiresGrad)
                return new Variable(value, inputs, backward);
        }

        return new Variable(value);
    }

    /// <summary>Adds <paramref name="gradient"/> to <see cref="Grad"/> (copying it, as callers may pass one tensor to several inputs).</summary>
    internal void AccumulateGrad(Tensor gradient)
    {
        if (!RequiresGrad)
            return;
        if (Grad is null)
            Grad = gradient.Clone().Reshape(Value.Shape);
        else
            System.Numerics.Tensors.TensorPrimitives.Add(Grad.AsSpan(), gradient.AsSpan(), Grad.AsSpan());
    }

    private List<Variable> TopologicalOrder()
    {
        // Iterative depth-first post-order, so deep graphs cannot overflow the stack.
        var order = new List<Variable>();
        var visited = new HashSet<Variable>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Variable Node, int Next)>();
        stack.Push((this, 0));
        visited.Add(this);
        while (stack.Count > 0)
        {
            var (node, next) = stack.Pop();
            if (next < node._parents.Length)
            {
                stack.Push((node, next + 1));
                var parent = node._parents[next];
                if (parent.RequiresGrad && visited.Add(parent))
                    stack.Push((parent, 0));
            }
            else
            {
                order.Add(node);
            }
        }

        return order;
    }
}
