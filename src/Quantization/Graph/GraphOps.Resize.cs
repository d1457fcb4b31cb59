using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
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
        var (outShape, maps) = NearestMaps(x.Shape, inputs, coordinates, rounding, scalesInput, sizesInput);
        var y = Tensor.Uninitialized(outShape);
        GatherNearest<float>(x.AsSpan(), x.Shape, maps, y.AsSpan());
        return [y];
    };

    /// <summary><see cref="ResizeNearest"/> on QUInt8 codes, which it moves as it moves values.</summary>
    public static QuantizedKernel ResizeNearestCodes(ResizeCoordinates coordinates, NearestRounding rounding, int scalesInput, int sizesInput) => (x, inputs) =>
    {
        var (outShape, maps) = NearestMaps(x.Shape, inputs, coordinates, rounding, scalesInput, sizesInput);
        byte[] codes = TensorArena.RentBytes(Shapes.Count(outShape));
        GatherNearest<byte>(x.AsUInt8Span(), x.Shape, maps, codes.AsSpan(0, Shapes.Count(outShape)));
        return QuantizedTensor.Wrap(codes, outShape, x.QParams);
    };

    /// <summary>The output shape, and per axis the input index each output index reads.</summary>
    private static (int[] Shape, int[][] Maps) NearestMaps(ReadOnlySpan<int> inShape, Tensor?[] inputs, ResizeCoordinates coordinates, NearestRounding rounding, int scalesInput, int sizesInput)
    {
        Tensor? scales = scalesInput < inputs.Length && inputs[scalesInput] is { Length: > 0 } s ? s : null;
        Tensor? sizes = sizesInput >= 0 && sizesInput < inputs.Length && inputs[sizesInput] is { Length: > 0 } z ? z : null;
        int rank = inShape.Length;
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
                scale[d] = (float)outShape[d] / inShape[d];
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
                outShape[d] = (int)Math.Floor(inShape[d] * (double)scale[d]);
            }
        }
        else
        {
            throw new ArgumentException("Resize needs scales or sizes.");
        }

        var maps = new int[rank][];
        for (int d = 0; d < rank; d++)
        {
            maps[d] = new int[outShape[d]];
            for (int o = 0; o < outShape[d]; o++)
                maps[d][o] = NearestIndex(o, inShape[d], outShape[d], scale[d], coordinates, rounding);
        }

        return (outShape, maps);
    }

    /// <summary>
    /// <c>y[o] = x[maps(o)]</c>, one output row (the last axis) at a time: the outer axes fix the source row, the last
    /// map picks within it. An output row with the same source row as the one before it is a copy of that row (every
    /// other row of a 2× upsampling), and a byte row doubled along the last axis is a lane shuffle.
    /// </summary>
    private static void GatherNearest<T>(ReadOnlySpan<T> xs, ReadOnlySpan<int> inShape, int[][] maps, Span<T> ys)
        where T : unmanaged
    {
        int rank = inShape.Length;
        int[] last = maps[rank - 1];
        if (ys.IsEmpty || last.Length == 0)
            return;
        int[] strides = Shapes.Strides(inShape);
        bool doubled = typeof(T) == typeof(byte) && last.Length == 2 * inShape[rank - 1] && Vector128.IsHardwareAccelerated;
        for (int j = 0; doubled && j < last.Length; j++)
            doubled = last[j] == j / 2;
        var index = new int[rank];
        int previous = -1;
        for (int o = 0; o < ys.Length; o += last.Length)
        {
            int source = 0;
            for (int d = 0; d < rank - 1; d++)
                source += maps[d][index[d]] * strides[d];
            var row = ys.Slice(o, last.Length);
            if (source == previous)
                ys.Slice(o - last.Length, last.Length).CopyTo(row);
            else if (doubled)
                Double(MemoryMarshal.Cast<T, byte>(xs.Slice(source, inShape[rank - 1])), MemoryMarshal.Cast<T, byte>(row));
            else
                Gather(xs.Slice(source), last, row);
            previous = source;
            for (int d = rank - 2; d >= 0 && ++index[d] == maps[d].Length; d--)
                index[d] = 0;
        }

        static void Gather(ReadOnlySpan<T> sourceRow, int[] map, Span<T> row)
        {
            for (int j = 0; j < row.Length; j++)
                row[j] = sourceRow[map[j]];
        }

        static void Double(ReadOnlySpan<byte> sourceRow, Span<byte> row)
        {
            int j = 0;
            ref byte s = ref MemoryMarshal.GetReference(sourceRow);
            ref byte r = ref MemoryMarshal.GetReference(row);
            for (; j + 16 <= sourceRow.Length; j += 16)
            {
                var v = Vector128.LoadUnsafe(ref s, (nuint)j);
                Vector128.Shuffle(v, Vector128.Create((byte)0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7)).StoreUnsafe(ref r, (nuint)(2 * j));
                Vector128.Shuffle(v, Vector128.Create((byte)8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13, 14, 14, 15, 15)).StoreUnsafe(ref r, (nuint)(2 * j + 16));
            }

            for (; j < sourceRow.Length; j++)
                row[2 * j] = row[2 * j + 1] = sourceRow[j];
        }
    }

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
