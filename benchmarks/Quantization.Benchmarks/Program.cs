using BenchmarkDotNet.Running;

// Runs the benchmarks chosen on the command line, e.g.
//   dotnet run -c Release --project benchmarks/Quantization.Benchmarks -- --filter '*Quantize*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
