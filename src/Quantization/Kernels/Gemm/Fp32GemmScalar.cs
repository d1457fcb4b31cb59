namespace Quantization.Kernels.Gemm;

/// <summary>The portable FP32 variant: plain loops over 16-column panels; the reference the SIMD variants are checked against.</summary>
internal sealed class Fp32GemmScalar : Fp32GemmVariant
{
    public static Fp32GemmScalar Instance { get; } = new();

    public override string Name => "Scalar";

    public override bool IsSupported => true;

    public override int PanelWidth => 16;

    public override int MaxRows => 4;

    public override unsafe void Kernel(int rows, float* a, int lda, float* panel, int k, float* tile)
    {
        for (int r = 0; r < rows; r++)
        {
            for (int j = 0; j < 16; j++)
            {
                float sum = 0;
                for (int p = 0; p < k; p++)
                    sum += a[r * lda + p] * panel[p * 16 + j];
                tile[r * 16 + j] = sum;
            }
        }
    }
}
