using Rempart.Common.Configuration;

namespace Rempart.Antivirus.Tests;

public sealed class AntivirusOptionsTests
{
    [Fact]
    public void Defaults_are_valid_and_block_executables_and_scripts()
    {
        var options = new AntivirusOptions();
        Assert.Empty(options.Validate("protection.antivirus"));
        Assert.Null(options.Clamd);
        Assert.Equal("closed", options.FailMode);
        Assert.Equal(TimeSpan.FromSeconds(30), options.Timeout);
        foreach (var type in new[] { "exe", "dll", "com", "scr", "pif", "cpl", "msi", "bat", "cmd", "vbs", "vbe", "js", "jse", "wsf", "wsh", "ps1", "hta", "jar", "lnk", "iso", "img" })
        {
            Assert.Contains(type, options.BlockedTypes);
        }
    }

    [Theory]
    [InlineData("unix:/run/clamav/clamd.ctl")]
    [InlineData("tcp:127.0.0.1:3310")]
    [InlineData("tcp:[::1]:3310")]
    [InlineData("tcp:clamav.internal:3310")]
    public void Good_endpoints_pass(string endpoint)
    {
        Assert.Empty(new AntivirusOptions { Clamd = endpoint }.Validate("p"));
    }

    [Fact]
    public void Every_bad_value_is_named_by_its_key()
    {
        var options = new AntivirusOptions
        {
            Clamd = "clamd.sock",
            Timeout = TimeSpan.Zero,
            FailMode = "maybe",
            MaxScanSize = 0,
            BlockedTypes = [".exe"],
            MacroDocuments = "delete",
            EncryptedArchives = "x",
            UnscannableArchives = "y",
            MaxArchiveDepth = 11,
            MaxArchiveExpandedSize = 0,
            MaxArchiveFiles = 0,
            MaxCompressionRatio = 0,
            MaxMimeDepth = 0,
        };
        var errors = options.Validate("protection.antivirus").ToList();
        foreach (var key in new[] { "clamd", "timeout", "failMode", "maxScanSize", "blockedTypes", "macroDocuments", "encryptedArchives", "unscannableArchives", "maxArchiveDepth", "maxArchiveExpandedSize", "maxArchiveFiles", "maxCompressionRatio", "maxMimeDepth" })
        {
            Assert.Contains(errors, e => e.StartsWith($"'protection.antivirus.{key}': ", StringComparison.Ordinal));
        }
    }
}
