namespace Quantization.Kernels.Gemm;

/// <summary>
/// The portable variant: plain loops over the same K4 s8 layout as <see cref="Int8GemmAvxVnni"/>. It runs where no
/// SIMD variant does, and checks the packing independently of any vector code.
/// </summary>
internal sealed class Int8GemmScalar : Int8GemmVariant
{
    public static Int8GemmScalar Instance { get; } = new();

    public override string Name => "Scalar";

    public override bool IsSupported => true;

    public override int PanelWidth => 16;

    public override int MaxRows => 4;

    public override int KStep => 4;

    public override int WeightElementSize => 1;

    public override int ActivationElementSize => 1;

    public override unsafe void Kernel(int rows, byte* a, int aStride, byte* panel, int paddedK, int* tile)
    {
        for (int r = 0; r < rows; r++)
        {
            byte* row = a + r * aStride;
            for (int j = 0; j < 16; j++)
            {
                int sum = 0;
                for (int p = 0; p < paddedK; p++)
                    sum += row[p] * (sbyte)panel[((p >> 2) * 16 + j) * 4 + (p & 3)];
                tile[r * 16 + j] = sum;
            }
        }
    }
}
