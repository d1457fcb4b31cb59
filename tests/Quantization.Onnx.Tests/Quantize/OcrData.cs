using System.Diagnostics;
using System.Globalization;
using System.Text;
using Quantization.Assets;

namespace Quantization.Onnx.Tests.Quantize;

/// <summary>One rendered text line: its image and whether it is upside down.</summary>
internal sealed record OcrLine(string Name, RgbImage Image, bool Rotated180);

/// <summary>An 8-bit-per-channel RGB image, row-major, interleaved.</summary>
internal sealed record RgbImage(int Width, int Height, byte[] Pixels);

/// <summary>
/// Realistic inputs for the PP-OCR models: text lines and pages rendered by <c>../shared/tools/render-ocr-data.sh</c>
/// (ImageMagick, deterministic per seed), cached under <c>QUANTIZATION_ASSETS_DIR/ocr-data</c> on first use, and
/// preprocessed as PaddleOCR does.
/// </summary>
internal static class OcrData
{
    private static readonly Lock Gate = new();

    /// <summary>The lines rendered with <paramref name="seed"/>, with their orientation labels.</summary>
    public static IReadOnlyList<OcrLine> Lines(int seed, int lines, int pages)
    {
        string dir = Path.Combine(Render(seed, lines, pages), "lines");
        return File.ReadLines(Path.Combine(dir, "labels.tsv")).Skip(1)
            .Select(row => row.Split('\t'))
            .Select(f => new OcrLine(f[0], ReadPpm(Path.Combine(dir, f[0] + ".ppm")), f[1] == "1"))
            .ToList();
    }

    /// <summary>The 640 × 640 pages rendered with <paramref name="seed"/>.</summary>
    public static IReadOnlyList<RgbImage> Pages(int seed, int lines, int pages)
    {
        string dir = Path.Combine(Render(seed, lines, pages), "pages");
        return Directory.GetFiles(dir, "*.ppm").Order(StringComparer.Ordinal).Select(ReadPpm).ToList();
    }

    /// <summary>
    /// The classifier's input (PaddleOCR's <c>ClsResizeImg</c>): [1, 3, 48, 192], resized to height 48 keeping the
    /// aspect ratio (width at most 192), RGB / 255, then (x − 0.5) / 0.5, zero-padded on the right.
    /// </summary>
    public static Tensor ClassifierInput(RgbImage image)
    {
        const int height = 48, maxWidth = 192;
        int width = Math.Min(maxWidth, (int)Math.Ceiling(height * (double)image.Width / image.Height));
        var resized = Resize(image, width, height);
        var x = new Tensor(1, 3, height, maxWidth);
        var data = x.AsSpan();
        for (int c = 0; c < 3; c++)
        {
            for (int y = 0; y < height; y++)
            {
                for (int i = 0; i < width; i++)
                    data[(c * height + y) * maxWidth + i] = (resized[(y * width + i) * 3 + c] / 255f - 0.5f) / 0.5f;
            }
        }

        return x;
    }

    /// <summary>The detector's input (PaddleOCR's <c>NormalizeImage</c> with ImageNet statistics): [1, 3, H, W], RGB / 255, (x − mean) / std.</summary>
    public static Tensor DetectorInput(RgbImage image)
    {
        ReadOnlySpan<float> mean = [0.485f, 0.456f, 0.406f];
        ReadOnlySpan<float> std = [0.229f, 0.224f, 0.225f];
        if (image.Width % 32 != 0 || image.Height % 32 != 0)
            throw new ArgumentException($"Detector inputs need sides that are multiples of 32, not {image.Width} × {image.Height}.");
        var x = new Tensor(1, 3, image.Height, image.Width);
        var data = x.AsSpan();
        int plane = image.Width * image.Height;
        for (int c = 0; c < 3; c++)
        {
            for (int p = 0; p < plane; p++)
                data[c * plane + p] = (image.Pixels[p * 3 + c] / 255f - mean[c]) / std[c];
        }

        return x;
    }

    /// <summary>Bilinear resize with half-pixel centres (OpenCV's <c>INTER_LINEAR</c> without its fixed-point rounding); interleaved RGB floats.</summary>
    public static float[] Resize(RgbImage image, int width, int height)
    {
        var result = new float[width * height * 3];
        double sx = (double)image.Width / width, sy = (double)image.Height / height;
        for (int y = 0; y < height; y++)
        {
            double fy = Math.Clamp((y + 0.5) * sy - 0.5, 0, image.Height - 1);
            int y0 = (int)fy, y1 = Math.Min(y0 + 1, image.Height - 1);
            double wy = fy - y0;
            for (int x = 0; x < width; x++)
            {
                double fx = Math.Clamp((x + 0.5) * sx - 0.5, 0, image.Width - 1);
                int x0 = (int)fx, x1 = Math.Min(x0 + 1, image.Width - 1);
                double wx = fx - x0;
                for (int c = 0; c < 3; c++)
                {
                    double top = Pixel(x0, y0, c) * (1 - wx) + Pixel(x1, y0, c) * wx;
                    double bottom = Pixel(x0, y1, c) * (1 - wx) + Pixel(x1, y1, c) * wx;
                    result[(y * width + x) * 3 + c] = (float)(top * (1 - wy) + bottom * wy);
                }
            }
        }

        return result;

        byte Pixel(int x, int y, int c) => image.Pixels[(y * image.Width + x) * 3 + c];
    }

    /// <summary>Reads a binary PPM (P6), 8- or 16-bit (big-endian) samples, scaled to 0..255.</summary>
    public static RgbImage ReadPpm(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        int pos = 0;
        if (Token() != "P6")
            throw new InvalidDataException($"{path} is not a binary PPM (P6).");
        int width = int.Parse(Token(), CultureInfo.InvariantCulture);
        int height = int.Parse(Token(), CultureInfo.InvariantCulture);
        int maxValue = int.Parse(Token(), CultureInfo.InvariantCulture);
        pos++;   // the single whitespace byte before the samples
        int bytesPerSample = maxValue > 255 ? 2 : 1;
        var pixels = new byte[width * height * 3];
        if (bytes.Length - pos < pixels.Length * bytesPerSample)
            throw new InvalidDataException($"{path} is truncated.");
        for (int i = 0; i < pixels.Length; i++)
        {
            int v = bytesPerSample == 1 ? bytes[pos + i] : bytes[pos + 2 * i] << 8 | bytes[pos + 2 * i + 1];
            pixels[i] = (byte)Math.Round(v * 255.0 / maxValue);
        }

        return new RgbImage(width, height, pixels);

        string Token()
        {
            // Skip whitespace and # comments, then read up to the next whitespace.
            while (pos < bytes.Length && (char.IsWhiteSpace((char)bytes[pos]) || bytes[pos] == '#'))
            {
                if (bytes[pos] == '#')
                {
                    while (pos < bytes.Length && bytes[pos] != '\n')
                        pos++;
                }
                else
                {
                    pos++;
                }
            }

            var token = new StringBuilder();
            while (pos < bytes.Length && !char.IsWhiteSpace((char)bytes[pos]))
                token.Append((char)bytes[pos++]);
            return token.ToString();
        }
    }

    /// <summary>The folder of the data set for these arguments, rendered on first use (into a temporary folder, then moved, so a cache is never half written).</summary>
    private static string Render(int seed, int lines, int pages)
    {
        string root = Path.Combine(AssetCache.DefaultRoot(), "ocr-data");
        string dir = Path.Combine(root, $"{seed}-{lines}x{pages}");
        lock (Gate)
        {
            if (Directory.Exists(dir))
                return dir;
            string script = Path.GetFullPath(Path.Combine(RepositoryRoot(), "..", "shared", "tools", "render-ocr-data.sh"));
            if (!File.Exists(script))
                throw new FileNotFoundException($"The OCR data renderer is missing: {script}.", script);
            string work = dir + ".tmp";
            if (Directory.Exists(work))
                Directory.Delete(work, recursive: true);
            var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (string arg in new[] { script, work, lines.ToString(CultureInfo.InvariantCulture), pages.ToString(CultureInfo.InvariantCulture), seed.ToString(CultureInfo.InvariantCulture) })
                info.ArgumentList.Add(arg);
            using var process = Process.Start(info)!;
            var stderr = process.StandardError.ReadToEndAsync();
            process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"{script} failed with exit code {process.ExitCode}: {stderr.Result}");
            Directory.Move(work, dir);
            return dir;
        }
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Quantization.sln")))
                return dir.FullName;
        }

        throw new DirectoryNotFoundException("Quantization.sln not found above the test binaries.");
    }
}
