namespace Quantization.Onnx.Quantize;

/// <summary>Calibration progress: which pass runs and how many samples it has processed.</summary>
/// <param name="Stage">The pass.</param>
/// <param name="SamplesProcessed">Samples run through the graph so far in this pass.</param>
public sealed record CalibrationProgress(CalibrationStage Stage, int SamplesProcessed);

/// <summary>The passes of <see cref="OnnxQuantizer.QuantizeStatic"/> over the calibration data.</summary>
public enum CalibrationStage
{
    /// <summary>Observers record activation ranges.</summary>
    Calibrating,

    /// <summary>Quantized nodes are compared with their FP32 form to find the worst (only with <see cref="StaticQuantizationOptions.KeepWorstInFp32"/>).</summary>
    Comparing,
}
