using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Common.Configuration;
using Rempart.Protection.Reputation;
using Rempart.Store.Sqlite;

namespace Rempart.Server.Tests;

/// <summary>The server keeps its IP reputation across a restart, and starts clean (file set aside) when it is damaged.</summary>
public sealed class ReputationPersistenceTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "rempart-server-reputation-" + Guid.NewGuid().ToString("N"));

    [Fact]
    public async Task A_restart_keeps_the_reputation_and_a_damaged_file_is_set_aside()
    {
        var data = DataFolder.Open(_root);
        var options = new RempartOptions();
        options.Protection.Spam.Enabled = false;
        var spammer = IPAddress.Parse("203.0.113.9");
        await using var store = await SqliteMailStore.OpenAsync(data.DatabasePath, data.BlobsPath, options.Store, NullLogger.Instance);

        await using (var first = ProtectionSetup.Create(options, data, store, NullLoggerFactory.Instance))
        {
            for (var i = 0; i < 30; i++)
            {
                first.Services.Reputation.Record(spammer, ReputationSignal.Spam);
            }

            Assert.InRange(first.Services.Reputation.Get(spammer).Score, 0.99, 1);
        }

        Assert.True(File.Exists(data.ReputationPath));
        await using (var second = ProtectionSetup.Create(options, data, store, NullLoggerFactory.Instance))
        {
            Assert.InRange(second.Services.Reputation.Get(spammer).Score, 0.99, 1);
            Assert.Equal("address", second.Services.Reputation.Get(spammer).Scope);
        }

        await File.WriteAllTextAsync(data.ReputationPath, "\0\0 not json");
        await using (var third = ProtectionSetup.Create(options, data, store, NullLoggerFactory.Instance))
        {
            Assert.Equal(0, third.Services.Reputation.Get(spammer).Score);
            Assert.Single(Directory.GetFiles(Path.GetDirectoryName(data.ReputationPath)!, "reputation.json.unreadable-*"));
        }

        // The clean table was saved at shutdown over nothing: the next start reads it without complaint.
        Assert.Empty(ReputationFile.Load(data.ReputationPath)!);
    }

    public void Dispose()
    {
        if (Directory.Exists(_root))
        {
            Directory.Delete(_root, recursive: true);
        }
    }
}
