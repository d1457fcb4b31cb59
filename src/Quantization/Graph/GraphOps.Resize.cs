using Quantization.Ops;

namespace Quantization.Graph;

/// <summary>How <c>Resize</c> maps an output coordinate to an input coordinate (ONNX <c>coordinate_transformation_mode</c>).</summary>
internal enum ResizeCoordinates
{
    /// <summary><c>(x + 0.5) / scale − 0.5</c>.</summary>
    HalfPixel,

    /// <summary>As <see cref="HalfPixel"/>, but 0 when the output axis has length 1.</summary>
    PyTorchHalfPixel,

    /// <summary><c>x · (in − 1) / (out − 1)</c>, 0 when the output axis has length 1.</summary>
    AlignCorners,

    /// <summary><c>x / scale</c>.</summary>
    Asymmetric,

    /// <summary><c>(x + 0.5) / scale</c>.</summary>
    TfHalfPixelForNearest,
}

/// <summary>How nearest-neighbour <c>Resize</c> rounds the input coordinate (ONNX <c>nearest_mode</c>).</summary>
internal enum NearestRounding
{
    /// <summary>Round half down.</summary>
    RoundPreferFloor,

    /// <summary>Round half up.</summary>
    RoundPreferCeil,

    /// <summary>Round down.</summary>
    Floor,

    /// <summary>Round up.</summary>
    Ceil,
}

internal static partial class GraphOps
{
    /// <summary>
    /// ONNX <c>Resize</c> in nearest mode: each output coordinate maps to an
    /// input coordinate by <paramref name="coordinates"/>, is rounded by <paramref name="rounding"/> and clamped into
    /// the input. The output length per axis is <c>sizes</c> when given, else <c>floor(in · scale)</c>; with sizes, the
    /// scale in the mapping is <c>out / in</c>. Inputs <paramref name="scalesInput"/> and <paramref name="sizesInput"/>
    /// index the node's inputs (an empty tensor or an absent input counts as not given).
    /// </summary>
    public static GraphKernel ResizeNearest(ResizeCoordinates coordinates, NearestRounding rounding, int scalesInput, int sizesInput) => (inputs, _) =>
    {
        Tensor x = Required(inputs, 0);
        Tensor? scales = scalesInput < inputs.Length && inputs[scalesInput] is { Length: > 0 } s ? s : null;
        Tensor? sizes = sizesInput >= 0 && sizesInput < inputs.Length && inputs[sizesInput] is { Length: > 0 } z ? z : null;
        int rank = x.Rank;
        if (rank == 0)
            throw new ArgumentException("Resize needs an input of rank 1 or more.");
        var outShape = new int[rank];
        var scale = new float[rank];
        if (sizes is not null)
        {
            long[] dims = ToInt64s(sizes);
            if (dims.Length != rank)
                throw new ArgumentException($"Resize sizes has {dims.Length} entries for a rank-{rank} input.");
            for (int d = 0; d < rank; d++)
            {
                outShape[d] = (int)dims[d];
                scale[d] = (float)outShape[d] / x.Shape[d];
            }
        }
        else if (scales is not null)
        {
            if (scales.Length != rank)
                throw new ArgumentException($"Resize scales has {scales.Length} entries for a rank-{rank} input.");
            for (int d = 0; d < rank; d++)
            {
                scale[d] = scales.AsSpan()[d];
                if (!(scale[d] > 0))
                    throw new ArgumentException($"Resize scale {scale[d]} on axis {d} is not positive.");
                outShape[d] = (int)Math.Floor(x.Shape[d] * (double)scale[d]);
            }
        }
        else
        {
            throw new ArgumentException("Resize needs scales or sizes.");
        }

        // Per axis, the input index every output index reads; the copy then walks all axes at once.
        var maps = new int[rank][];
        for (int d = 0; d < rank; d++)
        {
            maps[d] = new int[outShape[d]];
            for (int o = 0; o < outShape[d]; o++)
                maps[d][o] = NearestIndex(o, x.Shape[d], outShape[d], scale[d], coordinates, rounding);
        }

        var y = new Tensor(outShape);
        if (y.Length == 0)
            return [y];
        var ys = y.AsSpan();
        var xs = x.AsSpan();
        int[] strides = Shapes.Strides(x.Shape);
        int[] last = maps[rank - 1];
        var index = new int[rank];
        // One output row (the last axis) at a time: the outer axes fix the source row, the last map picks within it.
        for (int o = 0; o < ys.Length; o += last.Length)
        {
            int source = 0;
            for (int d = 0; d < rank - 1; d++)
                source += maps[d][index[d]] * strides[d];
            var row = ys.Slice(o, last.Length);
            for (int j = 0; j < row.Length; j++)
                row[j] = xs[source + last[j]];
            for (int d = rank - 2; d >= 0 && ++index[d] == outShape[d]; d--)
                index[d] = 0;
        }

        return [y];
    };

    /// <summary>The input index that nearest-neighbour resizing reads for output index <paramref name="o"/>.</summary>
    internal static int NearestIndex(int o, int inLength, int outLength, float scale, ResizeCoordinates coordinates, NearestRounding rounding)
    {
        double x = coordinates switch
        {
            ResizeCoordinates.HalfPixel => (o + 0.5) / scale - 0.5,
            ResizeCoordinates.PyTorchHalfPixel => outLength > 1 ? (o + 0.5) / scale - 0.5 : 0,
            ResizeCoordinates.AlignCorners => outLength > 1 ? o * (double)(inLength - 1) / (outLength - 1) : 0,
            ResizeCoordinates.Asymmetric => o / (double)scale,
            _ => (o + 0.5) / scale,
        };
        double r = rounding switch
        {
            NearestRounding.RoundPreferFloor => x == Math.Floor(x) + 0.5 ? Math.Floor(x) : Math.Round(x),
            NearestRounding.RoundPreferCeil => x == Math.Floor(x) + 0.5 ? Math.Ceiling(x) : Math.Round(x),
            NearestRounding.Floor => Math.Floor(x),
            _ => Math.Ceiling(x),
        };
        return (int)Math.Clamp(r, 0, inLength - 1);
    }
}
