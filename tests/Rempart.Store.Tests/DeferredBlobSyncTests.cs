using Rempart.Store.Sqlite;

namespace Rempart.Store.Tests;

/// <summary>
/// <see cref="IBlobStore.PutForCommitAsync"/>: bodies written without fsync, made durable by one file-system sync
/// when the store commits the next batch, before any row of it can refer to them. Real files throughout.
/// </summary>
public sealed class DeferredBlobSyncTests
{
    [Fact]
    public async Task A_deferred_put_is_readable_at_once_and_in_place_after_the_commit_that_refers_to_it()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var raw = Messages.Plain("deferred", "body stored for the next commit");
        var files = t.Store.BlobFiles;
        var syncs = files.SyncCount;

        var blob = await t.Store.Blobs.PutForCommitAsync(raw);

        // Waiting in tmp (no final name before its content is durable), readable all the same.
        Assert.False(File.Exists(files.PathOf(blob.Hash)));
        Assert.Single(TempFiles(t));
        Assert.True(t.Store.Blobs.Exists(blob.Hash));
        Assert.Equal(raw, await t.Store.Blobs.ReadAllAsync(blob.Hash));
        Assert.True(await t.Store.Blobs.VerifyAsync(blob.Hash));
        Assert.Equal(syncs, files.SyncCount);

        var result = Assert.Single(await t.Store.Messages.DeliverAsync(blob, raw, [new DeliveryTarget(a.Id)], DateTimeOffset.UtcNow));
        Assert.Equal(DeliveryOutcome.Stored, result.Outcome);
        Assert.Equal(syncs + 1, files.SyncCount);
        Assert.Equal(1, files.FallbackFileSyncCount); // one body: fsync of it and its folder, not two syncfs
        Assert.True(File.Exists(files.PathOf(blob.Hash)));
        Assert.Empty(TempFiles(t));

        await t.ReopenAsync();
        var inbox = await t.InboxAsync(a.Id);
        var message = Assert.Single(await t.Store.Messages.ListMessagesAsync(inbox.Id));
        Assert.Equal(raw, await t.Store.Blobs.ReadAllAsync(message.BlobHash));
        Assert.Empty(await t.Store.VerifyBlobsAsync(full: true));
    }

    [Fact]
    public async Task Commits_without_deferred_puts_do_not_sync()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        await t.AppendAsync((await t.InboxAsync(a.Id)).Id, "fully synced put");
        var commits = t.Store.CommitCount;

        t.Store.BlobFiles.SyncPending();
        await t.AddAccountAsync("b@example.com");

        Assert.True(t.Store.CommitCount > commits);
        Assert.Equal(0, t.Store.BlobFiles.SyncCount);
    }

    [Fact]
    public async Task One_sync_covers_every_deferred_put_before_a_batch_and_later_writes_do_not_sync_again()
    {
        const int Bodies = 24;
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var b = await t.AddAccountAsync("b@example.com");
        var files = t.Store.BlobFiles;
        var raws = Enumerable.Range(0, Bodies).Select(i => Messages.Plain("m" + i, "body " + i)).ToList();
        var blobs = await Task.WhenAll(raws.Select(raw => Task.Run(() => t.Store.Blobs.PutForCommitAsync(raw))));
        var syncs = files.SyncCount;

        // However the writer groups them, the first commit syncs every body put before it and the others find none.
        var results = await Task.WhenAll(blobs.Select((blob, i) => t.Store.Messages.DeliverAsync(blob, raws[i], [new DeliveryTarget(a.Id)], DateTimeOffset.UtcNow)));
        Assert.All(results, r => Assert.Equal(DeliveryOutcome.Stored, Assert.Single(r).Outcome));
        Assert.Equal(syncs + 1, files.SyncCount);
        Assert.Equal(OperatingSystem.IsLinux() ? 0 : Bodies, files.FallbackFileSyncCount);
        Assert.All(blobs, blob => Assert.True(File.Exists(files.PathOf(blob.Hash))));
        Assert.Empty(TempFiles(t));

        // The same body for another account: a store write without a new deferred put.
        await t.Store.Messages.DeliverAsync(blobs[0], raws[0], [new DeliveryTarget(b.Id)], DateTimeOffset.UtcNow);
        Assert.Equal(syncs + 1, files.SyncCount);
    }

    [Fact]
    public async Task Identical_deferred_puts_write_one_file_and_a_put_of_a_stored_body_writes_none()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var files = t.Store.BlobFiles;
        var raw = Messages.Plain("twice", "the same body twice");

        var first = await t.Store.Blobs.PutForCommitAsync(raw);
        var second = await t.Store.Blobs.PutForCommitAsync(raw);
        Assert.Equal(first, second);
        Assert.Single(TempFiles(t));
        await t.Store.Messages.DeliverAsync(first, raw, [new DeliveryTarget(a.Id)], DateTimeOffset.UtcNow);
        Assert.Empty(TempFiles(t));
        var syncs = files.SyncCount;

        // Already at its name: nothing written, but the next commit still syncs (its name may be another writer's rename).
        Assert.Equal(first, await t.Store.Blobs.PutForCommitAsync(raw));
        Assert.Empty(TempFiles(t));
        await t.Store.Messages.DeliverAsync(first, raw, [new DeliveryTarget(a.Id)], DateTimeOffset.UtcNow);
        Assert.Equal(syncs + 1, files.SyncCount);
        Assert.Equal(2, (await t.Store.Messages.ListMessagesAsync((await t.InboxAsync(a.Id)).Id)).Count);
    }

    [Fact]
    public async Task Without_syncfs_each_deferred_file_is_fsynced_before_it_gets_its_name()
    {
        const int Bodies = 5;
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var files = t.Store.BlobFiles;
        files.SyncFileSystemDisabled = true;
        var raws = Enumerable.Range(0, Bodies).Select(i => Messages.Plain("fallback " + i, "body " + i)).ToList();
        var blobs = new List<BlobRef>();
        foreach (var raw in raws)
        {
            blobs.Add(await t.Store.Blobs.PutForCommitAsync(raw));
        }

        await t.Store.Queue.EnqueueAsync(new OutboundMessage("a@example.com", [new QueueRecipient("r@remote.test")], blobs[0], DateTimeOffset.UtcNow));

        Assert.Equal(Bodies, files.FallbackFileSyncCount);
        Assert.Equal(1, files.SyncCount);
        Assert.Empty(TempFiles(t));
        for (var i = 0; i < Bodies; i++)
        {
            Assert.Equal(raws[i], await t.Store.Blobs.ReadAllAsync(blobs[i].Hash));
        }

        // The fully synced batch put shares the fallback.
        await t.Store.Blobs.PutManyAsync([Messages.Plain("batch", "one more")]);
        Assert.Equal(Bodies + 1, files.FallbackFileSyncCount);
        await t.Store.Messages.DeliverAsync(blobs[1], raws[1], [new DeliveryTarget(a.Id)], DateTimeOffset.UtcNow);
        Assert.Equal(1, files.SyncCount);
    }

    [Fact]
    public async Task A_failed_sync_fails_every_write_of_the_batch_and_commits_none_of_it()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        var good = Messages.Plain("good", "a body that is still in tmp");
        var doomed = Messages.Plain("doomed", "a body whose file goes away before the sync");

        // Both writes in one batch. Each stores its body on the writer (so no earlier commit syncs it) and refers to
        // it; the second then loses its temporary file, which the sync before the commit cannot make durable.
        using var gate = new ManualResetEventSlim();
        var blocker = await t.HoldWriterAsync(gate);
        var commits = t.Store.CommitCount;
        var first = t.Store.WriteAsync(op => op.AddBlobRef(Put(op, good)), CancellationToken.None);
        var second = t.Store.WriteAsync(
            op =>
            {
                var before = TempFiles(t);
                var id = op.AddBlobRef(Put(op, doomed));
                File.Delete(Assert.Single(TempFiles(t).Except(before)));
                return id;
            },
            CancellationToken.None);
        for (var i = 0; i < 3000 && t.Store.PendingWriteCount < 2; i++)
        {
            await Task.Delay(10);
        }

        gate.Set();
        Assert.True(await blocker);
        await Assert.ThrowsAsync<StoreException>(() => first);
        var failure = await Assert.ThrowsAsync<StoreException>(() => second);
        Assert.IsType<IOException>(failure.InnerException);
        Assert.Equal(commits + 1, t.Store.CommitCount); // the held batch only
        Assert.Equal(0L, await t.Store.ReadAsync(db => db.Long("SELECT COUNT(*) FROM blobs"), CancellationToken.None));

        // The store goes on: the next commit syncs the body still waiting, and a delivery of it is kept.
        var blob = await t.Store.Blobs.PutForCommitAsync(good);
        Assert.Equal(DeliveryOutcome.Stored, Assert.Single(await t.Store.Messages.DeliverAsync(blob, good, [new DeliveryTarget(a.Id)], DateTimeOffset.UtcNow)).Outcome);
        Assert.True(File.Exists(t.Store.BlobFiles.PathOf(blob.Hash)));
        Assert.Empty(TempFiles(t));
        Assert.Single(await t.Store.Messages.ListMessagesAsync(inbox.Id));
    }

    private static BlobRef Put(WriteOp op, byte[] raw)
    {
        // Completes synchronously (the write is one system call); the writer thread cannot await.
        var put = op.Blobs.PutForCommitAsync(raw);
        Assert.True(put.IsCompleted);
        return put.GetAwaiter().GetResult();
    }

    private static List<string> TempFiles(TempStore t) => [.. Directory.GetFiles(Path.Combine(t.BlobsPath, "tmp"))];
}
