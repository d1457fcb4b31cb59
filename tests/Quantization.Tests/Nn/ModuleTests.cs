using Quantization.Nn;
using Xunit;

namespace Quantization.Tests.Nn;

/// <summary>The Module API: state dicts, submodule lookup and replacement, Apply order, training mode.</summary>
public class ModuleTests
{
    private static Sequential Model()
    {
        Init.ManualSeed(40);
        return new Sequential(new Linear(2, 3), new BatchNorm1d(3), new Sequential(new ReLU(), new Linear(3, 1)));
    }

    private static Dictionary<string, float[]> Snapshot(Module model) =>
        model.StateDict().ToDictionary(e => e.Key, e => e.Value.AsSpan().ToArray());

    private static void AssertUnchanged(Dictionary<string, float[]> before, Module model)
    {
        foreach (var (key, values) in Snapshot(model))
            Assert.Equal(before[key], values);
    }

    [Fact]
    public void State_dict_lists_parameters_then_buffers_per_module_in_registration_order_and_shares_the_tensors()
    {
        var model = Model();
        var state = model.StateDict();
        Assert.Equal(
            ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var", "1.num_batches_tracked", "2.1.weight", "2.1.bias"],
            state.Keys);
        state["0.bias"].AsSpan()[0] = 42f;
        Assert.Equal(42f, ((Linear)model[0]).Bias!.Value[0]);
    }

    [Fact]
    public void Load_state_dict_copies_values_into_the_live_tensors()
    {
        var source = Model();
        foreach (var (_, tensor) in source.StateDict())
            tensor.AsSpan().Fill(0.5f);
        var target = Model();
        var weight = ((Linear)target[0]).Weight.Value;
        target.LoadStateDict(source.StateDict());
        Assert.Same(weight, ((Linear)target[0]).Weight.Value);
        Assert.All(Snapshot(target).Values.SelectMany(v => v), v => Assert.Equal(0.5f, v));
    }

    [Fact]
    public void Missing_and_unexpected_keys_are_named_and_leave_the_model_unchanged()
    {
        var model = Model();
        var before = Snapshot(model);
        var state = Model().StateDict();
        foreach (var (_, tensor) in state)
            tensor.AsSpan().Fill(9f);
        state.Remove("1.running_var");
        state.Add("3.weight", new Tensor(1));
        var ex = Assert.Throws<ArgumentException>(() => model.LoadStateDict(state));
        Assert.Equal("state", ex.ParamName);
        Assert.Contains("Missing: [1.running_var]", ex.Message, StringComparison.Ordinal);
        Assert.Contains("unexpected: [3.weight]", ex.Message, StringComparison.Ordinal);
        AssertUnchanged(before, model);

        // Not strict: the keys present are loaded, the rest ignored.
        model.LoadStateDict(state, strict: false);
        Assert.Equal(9f, ((Linear)model[0]).Weight.Value[0, 0]);
        Assert.Equal(before["1.running_var"], ((BatchNorm1d)model[1]).RunningVar.AsSpan().ToArray());
    }

    [Fact]
    public void A_shape_mismatch_is_named_and_leaves_the_model_unchanged_even_when_not_strict()
    {
        var model = Model();
        var before = Snapshot(model);
        var state = Model().StateDict();
        foreach (var (_, tensor) in state)
            tensor.AsSpan().Fill(9f);
        // "0.weight" comes first and is fine; the bad key comes last, so a partial copy would show.
        state["2.1.weight"] = new Tensor(3, 1);
        foreach (bool strict in new[] { true, false })
        {
            var ex = Assert.Throws<ArgumentException>(() => model.LoadStateDict(state, strict));
            Assert.Contains("'2.1.weight'", ex.Message, StringComparison.Ordinal);
            Assert.Contains("(3, 1)", ex.Message, StringComparison.Ordinal);
            Assert.Contains("(1, 3)", ex.Message, StringComparison.Ordinal);
            AssertUnchanged(before, model);
        }
    }

    [Fact]
    public void Get_submodule_follows_dotted_names()
    {
        var model = Model();
        Assert.Same(model, model.GetSubmodule(""));
        Assert.Same(model[1], model.GetSubmodule("1"));
        Assert.Same(((Sequential)model[2])[1], model.GetSubmodule("2.1"));
        Assert.Equal(["", "0", "1", "2", "2.0", "2.1"], model.NamedModules().Select(m => m.Name));
    }

    [Theory]
    [InlineData("3")]
    [InlineData("2.5")]
    [InlineData("0.weight")]
    [InlineData("2.")]
    [InlineData(".0")]
    public void Get_and_set_submodule_reject_unknown_names(string name)
    {
        var model = Model();
        Assert.Equal("target", Assert.Throws<ArgumentException>(() => model.GetSubmodule(name)).ParamName);
        Assert.Equal("target", Assert.Throws<ArgumentException>(() => model.SetSubmodule(name, new Identity())).ParamName);
        Assert.Equal(["", "0", "1", "2", "2.0", "2.1"], model.NamedModules().Select(m => m.Name));
    }

    [Fact]
    public void Set_submodule_replaces_in_place_and_the_forward_pass_uses_the_new_module()
    {
        var model = Model();
        var replacement = new Linear(3, 1);
        replacement.Weight.Value.AsSpan().Clear();
        replacement.Bias!.Value.AsSpan()[0] = 7f;
        model.SetSubmodule("2.1", replacement);
        model.SetSubmodule("1", new Identity());
        Assert.Same(replacement, model.GetSubmodule("2.1"));
        Assert.Equal(["0.weight", "0.bias", "2.1.weight", "2.1.bias"], model.StateDict().Keys);
        Assert.IsType<Identity>(model[1]);
        Assert.Equal([7f, 7f], model.Forward(new Tensor([1, 2, 3, 4], 2, 2)).AsSpan().ToArray());
    }

    [Fact]
    public void Apply_visits_children_before_their_parent_depth_first()
    {
        var model = Model();
        var inner = (Sequential)model[2];
        var visited = new List<Module>();
        Assert.Same(model, model.Apply(visited.Add));
        Assert.Equal([model[0], model[1], inner[0], inner[1], inner, model], visited);
    }

    [Fact]
    public void Train_and_eval_reach_every_descendant_and_change_behaviour()
    {
        var dropout = new Dropout(0.5f);
        var model = new Sequential(new Linear(4, 4), new Sequential(dropout));
        Assert.All(model.NamedModules(), m => Assert.True(m.Module.IsTraining));
        Assert.Same(model, model.Eval());
        Assert.All(model.NamedModules(), m => Assert.False(m.Module.IsTraining));
        var x = Tensor.Full(1f, 1, 4);
        Assert.Equal(x.AsSpan().ToArray(), dropout.Forward(x).AsSpan().ToArray());
        model.Train();
        Assert.All(model.NamedModules(), m => Assert.True(m.Module.IsTraining));
        Init.ManualSeed(41);
        Assert.Contains(0f, dropout.Forward(Tensor.Full(1f, 1, 64)).AsSpan().ToArray());
        model.Train(false);
        Assert.False(dropout.IsTraining);
    }
}
