return Quantization.Cli.Cli.Run(args, Console.Out, Console.Error);
