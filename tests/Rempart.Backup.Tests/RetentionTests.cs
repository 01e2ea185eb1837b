using Rempart.Store;
using Rempart.Backup.Snapshots;

namespace Rempart.Backup.Tests;

public sealed class RetentionTests
{
    private static SnapshotManifest At(string time, int n) => new() { Id = n.ToString("x32"), Time = DateTimeOffset.Parse(time, System.Globalization.CultureInfo.InvariantCulture) };

    [Fact]
    public void Keeps_the_newest_per_period_and_the_last_n()
    {
        var snapshots = new List<SnapshotManifest>();
        var n = 0;

        // Hourly snapshots over 40 days.
        for (var t = new DateTimeOffset(2026, 10, 20, 0, 0, 0, TimeSpan.Zero); t < new DateTimeOffset(2026, 11, 29, 0, 0, 0, TimeSpan.Zero); t = t.AddHours(1))
        {
            snapshots.Add(At(t.ToString("O"), n++));
        }

        var kept = new RetentionPolicy(Last: 2, Daily: 7, Weekly: 4, Monthly: 3).SelectKept(snapshots);
        var keptTimes = snapshots.Where(s => kept.Contains(s.Id)).Select(s => s.Time).OrderByDescending(t => t).ToList();

        // Newest two, then 23:00 of each of the 7 newest days (the newest day's is the newest snapshot itself).
        Assert.Equal(new DateTimeOffset(2026, 11, 28, 23, 0, 0, TimeSpan.Zero), keptTimes[0]);
        Assert.Equal(new DateTimeOffset(2026, 11, 28, 22, 0, 0, TimeSpan.Zero), keptTimes[1]);
        for (var d = 1; d < 7; d++)
        {
            Assert.Contains(new DateTimeOffset(2026, 11, 28 - d, 23, 0, 0, TimeSpan.Zero), keptTimes);
        }

        // Monthly: the last of October is kept.
        Assert.Contains(new DateTimeOffset(2026, 10, 31, 23, 0, 0, TimeSpan.Zero), keptTimes);
        Assert.True(kept.Count <= 2 + 7 + 4 + 3);
        Assert.True(kept.Count >= 9);
    }

    [Fact]
    public void The_newest_snapshot_is_always_kept()
    {
        var kept = new RetentionPolicy(Hourly: 0, Daily: 0, Monthly: 0, Last: 0, Weekly: 1).SelectKept([At("2026-11-01T00:00:00Z", 1), At("2026-11-02T00:00:00Z", 2)]);
        Assert.Contains(2.ToString("x32"), kept);
    }

    [Fact]
    public async Task Prune_removes_forgotten_snapshots_and_only_the_chunks_nothing_else_uses()
    {
        using var tmp = new TempDir();
        var data = tmp.Sub("data");
        await using var store = await TestData.OpenStoreAsync(data);
        await TestData.FillAsync(store, extraFolders: 1);
        using var repo = TestData.InitRepo(tmp.Sub("repo"));
        var creator = new SnapshotCreator(repo, TimeProvider.System);
        var first = await creator.CreateAsync(data, null, null, null, default);

        // The large message is deleted; its chunks live only in the first snapshot.
        var alice = (await store.Directory.GetAccountAsync("alice@example.test"))!;
        var inbox = (await store.Messages.GetMailboxAsync(alice.Id, "INBOX"))!;
        var large = (await store.Messages.ListMessagesAsync(inbox.Id)).Single(m => m.Size > 1_000_000);
        await store.Messages.StoreFlagsAsync(inbox.Id, [large.Uid], FlagOperation.Add, [@"\Deleted"]);
        await store.Messages.ExpungeAsync(inbox.Id);
        var second = await creator.CreateAsync(data, null, null, null, default);
        var largeChunks = first.Blobs.Single(b => b.Hash == large.BlobHash).Chunks;
        Assert.All(largeChunks, c => Assert.True(repo.HasChunk(c)));

        var dry = new Pruner(repo).Prune(new RetentionPolicy(Last: 1), dryRun: true);
        Assert.Equal(first.Id, Assert.Single(dry.Removed).Id);
        Assert.All(largeChunks, c => Assert.True(repo.HasChunk(c)));

        var report = new Pruner(repo).Prune(new RetentionPolicy(Last: 1), dryRun: false);
        Assert.True(report.RemovedChunks >= largeChunks.Count);
        Assert.All(largeChunks, c => Assert.False(repo.HasChunk(c)));
        Assert.Equal([second.Id], repo.ListSnapshotIds());
        var verify = await new Verifier(repo).VerifyAsync(100, null, default);
        Assert.True(verify.Ok);
        Assert.Equal(0, verify.UnreferencedChunks);
    }
}
