using Quantization.Graph;
using Quantization.Nn;
using Quantization.Workflows;
using Xunit;

namespace Quantization.Onnx.Tests.Export;

/// <summary><see cref="Quantizer.FoldBatchNorms"/> on an imported graph, the step before quantizing it for export.</summary>
public sealed class FoldBatchNormsTests
{
    [Fact]
    public void Batch_norms_after_convolutions_fold_without_changing_the_outputs()
    {
        var model = OnnxModel.Load(AssetModels.OcrClassifier);
        GraphModule graph = model.ToGraphModule();
        Tensor x = GraphModuleAssetTests.Random(4, 2, 3, 48, 192);
        Tensor expected = graph.Forward(x);

        Assert.Same(graph, Quantizer.FoldBatchNorms(graph));

        Assert.Empty(graph.Modules<BatchNorm2d>());
        Assert.Equal(35, graph.Nodes.Count(n => n.OpType == "BatchNormalization" && graph.GetSubmodule(n.ModuleName!) is Identity));
        Tensor actual = graph.Forward(x);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected.AsSpan()[i] - actual.AsSpan()[i]) <= 1e-5f, $"Element {i}: {expected.AsSpan()[i]} vs {actual.AsSpan()[i]}.");
    }

    [Fact]
    public void A_prepared_graph_is_rejected()
    {
        GraphModule graph = OnnxModel.Load(AssetModels.OcrClassifier).ToGraphModule();
        Quantizer.Prepare(graph, new QConfigMapping().SetGlobal(QConfig.GetDefault()), perLayer: true);
        Assert.Throws<InvalidOperationException>(() => Quantizer.FoldBatchNorms(graph));
    }
}
