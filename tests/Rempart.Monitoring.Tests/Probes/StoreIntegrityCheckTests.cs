using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Common.Configuration;
using Rempart.Monitoring.Checks;
using Rempart.Monitoring.Health;
using Rempart.Store;
using Rempart.Store.Sqlite;

namespace Rempart.Monitoring.Tests.Probes;

/// <summary>The store integrity monitors against a real SQLite store and blob folder in a temp directory.</summary>
public sealed class StoreIntegrityCheckTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rempart-integrity-" + Guid.NewGuid().ToString("N")[..10]);
    private SqliteMailStore _store = null!;
    private long _inbox;

    public async Task InitializeAsync()
    {
        _store = await SqliteMailStore.OpenAsync(Path.Combine(_dir, "rempart.db"), Path.Combine(_dir, "blobs"), new StoreOptions(), NullLogger.Instance);
        await _store.Directory.AddDomainAsync("example.test");
        var alice = await _store.Directory.AddAccountAsync(new NewAccount("alice@example.test", "x"));
        _inbox = (await _store.Messages.GetMailboxAsync(alice.Id, "INBOX"))!.Id;
    }

    public async Task DisposeAsync()
    {
        await _store.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Fact]
    public async Task A_sound_store_passes_every_monitor()
    {
        await AppendAsync(1);
        await AppendAsync(2);
        var check = new StoreIntegrityCheck(_store);
        Assert.Equal("store", check.HealthSet);
        var results = await check.RunAsync(CancellationToken.None);
        Assert.Equal(["sqlite", "blobs", "missing-blobs", "orphan-blobs"], results.Select(r => r.Monitor));
        Assert.All(results, r => Assert.Equal(CheckOutcome.Pass, r.Outcome));
        Assert.Contains("2 blobs re-hashed", results[1].Detail, StringComparison.Ordinal);

        var scrub = await check.ScrubAllAsync(null, CancellationToken.None);
        Assert.True(scrub.Clean);
        Assert.Equal(2, scrub.BlobsChecked);
    }

    [Fact]
    public async Task A_flipped_byte_a_deleted_file_and_an_old_orphan_are_each_reported()
    {
        var corrupt = await AppendAsync(1);
        var missing = await AppendAsync(2);
        await AppendAsync(3);

        var corruptPath = _store.BlobFiles.PathOf(corrupt);
        var bytes = await File.ReadAllBytesAsync(corruptPath);
        bytes[bytes.Length / 2] ^= 0x55;
        await File.WriteAllBytesAsync(corruptPath, bytes);
        File.Delete(_store.BlobFiles.PathOf(missing));

        var orphanHash = new string('a', 64);
        var orphanPath = _store.BlobFiles.PathOf(orphanHash);
        Directory.CreateDirectory(Path.GetDirectoryName(orphanPath)!);
        await File.WriteAllTextAsync(orphanPath, "left behind");
        File.SetLastWriteTimeUtc(orphanPath, DateTime.UtcNow.AddDays(-2));
        var youngHash = new string('b', 64);
        Directory.CreateDirectory(Path.GetDirectoryName(_store.BlobFiles.PathOf(youngHash))!);
        await File.WriteAllTextAsync(_store.BlobFiles.PathOf(youngHash), "being delivered");

        var check = new StoreIntegrityCheck(_store, StoreIntegrityOptions.Default with { SampleSize = 10 });
        var results = (await check.RunAsync(CancellationToken.None)).ToDictionary(r => r.Monitor);
        Assert.Equal(CheckOutcome.Pass, results["sqlite"].Outcome);
        Assert.Equal(CheckOutcome.Fail, results["blobs"].Outcome);
        Assert.Contains(corrupt[..12], results["blobs"].Detail, StringComparison.Ordinal);
        Assert.Contains("alice@example.test/INBOX/UID 1", results["blobs"].Detail, StringComparison.Ordinal);
        Assert.Equal(1, results["blobs"].Value);
        Assert.Equal(CheckOutcome.Fail, results["missing-blobs"].Outcome);
        Assert.Contains("alice@example.test/INBOX/UID 2", results["missing-blobs"].Detail, StringComparison.Ordinal);
        Assert.Equal(CheckOutcome.Warn, results["orphan-blobs"].Outcome);
        Assert.Equal(1, results["orphan-blobs"].Value);

        var progress = new List<ScrubProgress>();
        var scrub = await check.ScrubAllAsync(new SyncProgress(progress), CancellationToken.None);
        Assert.False(scrub.Clean);
        Assert.Equal(3, scrub.BlobsChecked);
        var byKind = scrub.Damage.ToLookup(d => d.Kind);
        Assert.Equal(corrupt, Assert.Single(byKind["corrupt"]).Hash);
        Assert.Equal(["alice@example.test/INBOX/UID 1"], byKind["corrupt"].Single().References);
        Assert.Equal(missing, Assert.Single(byKind["missing"]).Hash);
        Assert.Equal(orphanHash, Assert.Single(byKind["orphan"]).Hash);
        Assert.Empty(byKind["database"]);
        Assert.Contains(progress, p => p.Phase == "blobs" && p.Done == 3);
    }

    [Fact]
    public async Task The_sample_rolls_through_the_store_across_runs()
    {
        for (var i = 0; i < 5; i++)
        {
            await AppendAsync(i);
        }

        var check = new StoreIntegrityCheck(_store, StoreIntegrityOptions.Default with { SampleSize = 2 });
        var first = (await check.RunAsync(CancellationToken.None))[1];
        Assert.Contains("2 blobs re-hashed", first.Detail, StringComparison.Ordinal);

        // Damage the blob with the largest hash: a sample of 2 reaches it on the third run at the latest.
        var hashes = await _store.ListBlobHashesAsync(null, 10);
        var last = hashes[^1];
        await File.WriteAllTextAsync(_store.BlobFiles.PathOf(last), "garbage");
        var outcomes = new List<CheckOutcome>();
        for (var run = 0; run < 3; run++)
        {
            outcomes.Add((await check.RunAsync(CancellationToken.None))[1].Outcome);
        }

        Assert.Contains(CheckOutcome.Fail, outcomes);
    }

    private async Task<string> AppendAsync(int n)
    {
        var text = $"From: s{n}@remote.test\r\nTo: alice@example.test\r\nSubject: m{n}\r\nMessage-ID: <m{n}@remote.test>\r\n\r\nBody {n} {Guid.NewGuid()}\r\n";
        var blob = await _store.Blobs.PutAsync(Encoding.UTF8.GetBytes(text));
        await _store.Messages.AppendAsync(_inbox, blob, [], DateTimeOffset.UtcNow);
        return blob.Hash;
    }

    private sealed class SyncProgress(List<ScrubProgress> list) : IProgress<ScrubProgress>
    {
        public void Report(ScrubProgress value) => list.Add(value);
    }
}
