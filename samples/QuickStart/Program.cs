using Quantization;

var x = new Tensor([-1.0f, -0.5f, 0f, 0.25f, 1.5f], 5);
Console.WriteLine($"FP32 values: {x}");
Console.WriteLine($"Range: [{x.Min()}, {x.Max()}]");
