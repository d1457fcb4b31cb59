namespace Quantization.Cli;

/// <summary>
/// Calibration inputs from files, one sample per file, read lazily so memory does not grow with their number:
/// an <c>.npz</c> holds one array per model input (by input name), an <c>.npy</c> the only input of a single-input
/// model, and a folder holds such files (read in name order).
/// </summary>
internal static class CalibrationData
{
    /// <summary>The samples at <paramref name="path"/> for a model with inputs <paramref name="inputNames"/>.</summary>
    /// <exception cref="ArgumentException">The path does not exist, holds no .npy/.npz files, or an .npy is given for a model with several inputs.</exception>
    public static IEnumerable<IReadOnlyDictionary<string, Tensor>> Open(string path, IReadOnlyList<string> inputNames)
    {
        string[] files = Directory.Exists(path)
            ? [.. Directory.EnumerateFiles(path).Where(IsArrayFile).Order(StringComparer.Ordinal)]
            : File.Exists(path) ? [path] : throw new ArgumentException($"Calibration data '{path}' does not exist.", nameof(path));
        if (files.Length == 0 || !files.All(IsArrayFile))
            throw new ArgumentException($"Calibration data '{path}' must be an .npy or .npz file, or a folder of them.", nameof(path));
        if (inputNames.Count != 1 && files.Any(f => f.EndsWith(".npy", StringComparison.OrdinalIgnoreCase)))
            throw new ArgumentException($"The model has {inputNames.Count} inputs ({string.Join(", ", inputNames)}); give each sample as an .npz with one array per input name.", nameof(path));
        return Samples(files, inputNames);
    }

    /// <summary>How many samples <see cref="Open"/> yields for <paramref name="path"/> (without reading them).</summary>
    public static int Count(string path) => Directory.Exists(path) ? Directory.EnumerateFiles(path).Count(IsArrayFile) : 1;

    private static IEnumerable<IReadOnlyDictionary<string, Tensor>> Samples(string[] files, IReadOnlyList<string> inputNames)
    {
        foreach (string file in files)
        {
            if (file.EndsWith(".npy", StringComparison.OrdinalIgnoreCase))
            {
                yield return new Dictionary<string, Tensor> { [inputNames[0]] = NpyFile.Read(file) };
                continue;
            }

            var arrays = NpyFile.ReadArchive(file);
            if (inputNames.Count == 1 && arrays.Count == 1)
            {
                yield return new Dictionary<string, Tensor> { [inputNames[0]] = arrays.Values.Single() };
                continue;
            }

            var missing = inputNames.Where(n => !arrays.ContainsKey(n)).ToList();
            if (missing.Count > 0)
                throw new InvalidDataException($"{file}: no array for input(s) {string.Join(", ", missing)}; it holds {string.Join(", ", arrays.Keys)}.");
            yield return inputNames.ToDictionary(n => n, n => arrays[n]);
        }
    }

    private static bool IsArrayFile(string file) =>
        file.EndsWith(".npy", StringComparison.OrdinalIgnoreCase) || file.EndsWith(".npz", StringComparison.OrdinalIgnoreCase);
}
