namespace Rempart.Store.Tests;

public sealed class DurabilityTests
{
    [Fact]
    public async Task Reopen_after_dispose_sees_everything()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        await t.Store.Directory.AddAliasAsync("x@example.com", ["a@example.com"], AliasKind.Alias);
        var inbox = await t.InboxAsync(a.Id);
        var raw = Messages.Plain("persist", "body to keep");
        var blob = await t.PutAsync(raw);
        await t.Store.Messages.AppendAsync(inbox.Id, blob, [@"\Seen"], DateTimeOffset.UtcNow);
        await t.Store.Queue.EnqueueAsync(new OutboundMessage("a@example.com", [new QueueRecipient("r@remote.test")], blob, DateTimeOffset.UtcNow));

        await t.ReopenAsync();

        Assert.NotNull(await t.Store.Directory.GetAccountAsync("a@example.com"));
        Assert.Equal(RecipientStatus.Local, (await t.Store.Directory.ResolveRecipientAsync("x@example.com")).Status);
        var message = Assert.Single(await t.Store.Messages.ListMessagesAsync(inbox.Id));
        Assert.Equal([@"\Seen"], message.Flags);
        Assert.Equal(raw, await t.Store.Blobs.ReadAllAsync(message.BlobHash));
        Assert.Single(await t.Store.Queue.ListAsync());
        Assert.Equal([1L], await t.Store.Messages.SearchTextAsync(inbox.Id, "body to keep", TextSearchScope.Body));
        Assert.Empty(await t.Store.CheckIntegrityAsync());
    }

    [Fact]
    public async Task Commits_are_checkpointed_into_the_database_file_off_the_writer_and_only_when_there_were_commits()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        var before = t.Store.CheckpointCount;
        await t.AppendAsync(inbox.Id, "one", "body");

        // The background checkpointer copies the commit into the database file: the WAL then holds no frame
        // that the database lacks (a PASSIVE checkpoint on another connection finds nothing left to copy).
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (t.Store.CheckpointCount == before)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "no checkpoint after a commit");
            await Task.Delay(20);
        }

        using (var db = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={t.DatabasePath};Pooling=False"))
        {
            db.Open();
            using var command = db.CreateCommand();
            command.CommandText = "PRAGMA wal_checkpoint(PASSIVE)";
            using var reader = command.ExecuteReader();
            Assert.True(reader.Read());
            Assert.Equal(reader.GetInt64(1), reader.GetInt64(2));
        }

        // Nothing committed since: two more intervals pass without a checkpoint.
        var after = t.Store.CheckpointCount;
        await Task.Delay(Rempart.Store.Sqlite.SqliteMailStore.CheckpointInterval * 2.5);
        Assert.Equal(after, t.Store.CheckpointCount);
    }

    [Fact]
    public async Task Under_writes_with_no_pause_the_WAL_starts_over_instead_of_growing_until_the_load_stops()
    {
        await using var t = await TempStore.CreateAsync();
        t.Store.WalRestartFrames = 256;
        await t.Store.WriteAsync(op => op.Db.Exec("CREATE TABLE wal_fill(x BLOB)"), CancellationToken.None);
        var wal = t.DatabasePath + "-wal";

        // SQLite counts the WAL's restarts in its header (checkpoint sequence number, bytes 12-15, big-endian).
        uint Restarts()
        {
            using var file = new FileStream(wal, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var header = new byte[16];
            file.ReadExactly(header);
            return System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12));
        }

        // Every commit finds the next write waiting, so the checkpointer never sees a moment without new frames: on its
        // own, SQLite would append to the WAL for as long as this lasts.
        var before = Restarts();
        var rows = 0;
        using var stop = new CancellationTokenSource();
        var chain = await t.StartWriteChainAsync(stop.Token, op =>
        {
            op.Db.Exec("INSERT INTO wal_fill(x) VALUES(randomblob(6000))");
            rows++;
        });
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (Restarts() - before < 3 && clock.Elapsed < TimeSpan.FromSeconds(20))
        {
            await Task.Delay(50);
        }

        await stop.CancelAsync();
        await chain;
        await t.Store.WriteAsync(_ => 0, CancellationToken.None); // the chain's last write is committed before this one
        var restarts = Restarts() - before;
        Assert.True(restarts >= 3, $"the WAL started over {restarts} times in {clock.Elapsed.TotalSeconds:0.0} s of {rows} commits ({t.Store.WriterCheckpointCount} checkpoints by the writer)");
        Assert.True(t.Store.WriterCheckpointCount > 0);
        Assert.Equal(rows, await t.Store.ReadAsync(db => db.Long("SELECT count(*) FROM wal_fill"), CancellationToken.None));
    }

    [Fact]
    public async Task Concurrent_appends_are_all_kept_with_unique_ascending_uids_and_group_commit()
    {
        const int writers = 16;
        const int perWriter = 50;
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        var blobs = new BlobRef[writers * perWriter];
        for (var i = 0; i < blobs.Length; i++)
        {
            blobs[i] = await t.PutAsync(Messages.Plain($"m{i}", $"body {i}"));
        }

        var commitsBefore = t.Store.CommitCount;
        var opsBefore = t.Store.WriteOperationCount;

        // Hold the writer so the first appends of all writers are certainly queued together.
        using var gate = new ManualResetEventSlim();
        var blocker = await t.HoldWriterAsync(gate);
        var tasks = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            var uids = new List<long>();
            for (var i = 0; i < perWriter; i++)
            {
                var r = await t.Store.Messages.AppendAsync(inbox.Id, blobs[(w * perWriter) + i], [], DateTimeOffset.UtcNow);
                uids.Add(r.Uid);
            }

            return uids;
        })).ToList();
        for (var i = 0; i < 3000 && t.Store.PendingWriteCount < writers; i++)
        {
            await Task.Delay(10);
        }

        gate.Set();
        Assert.True(await blocker);
        var perWriterUids = await Task.WhenAll(tasks);

        foreach (var uids in perWriterUids)
        {
            Assert.Equal(uids.Order(), uids); // each writer sees its own appends in ascending order
        }

        var all = perWriterUids.SelectMany(u => u).ToList();
        Assert.Equal(writers * perWriter, all.Distinct().Count());
        var stored = await t.Store.Messages.ListMessagesAsync(inbox.Id);
        Assert.Equal(writers * perWriter, stored.Count);
        Assert.Equal(Enumerable.Range(1, writers * perWriter).Select(i => (long)i), stored.Select(m => m.Uid));
        Assert.Equal(stored.Select(m => m.ModSeq).Order(), stored.Select(m => m.ModSeq));

        var commits = t.Store.CommitCount - commitsBefore;
        var ops = t.Store.WriteOperationCount - opsBefore;
        Assert.Equal(writers * perWriter + 1, ops);
        Assert.True(commits < ops, $"{commits} commits for {ops} operations: no group commit");
        Assert.Empty(await t.Store.CheckIntegrityAsync());
    }

    [Fact]
    public async Task A_failing_operation_in_a_batch_does_not_fail_the_others()
    {
        await using var t = await TempStore.CreateAsync();
        await t.Store.Directory.AddDomainAsync("taken.test");
        var commitsBefore = t.Store.CommitCount;

        using var gate = new ManualResetEventSlim();
        var blocker = await t.HoldWriterAsync(gate);
        var good = Enumerable.Range(0, 10).Select(i => t.Store.Directory.AddDomainAsync($"d{i}.test")).ToList();
        var duplicate = t.Store.Directory.AddDomainAsync("taken.test");
        var throwing = t.Store.WriteAsync<int>(op =>
        {
            // Writes something, then fails: its savepoint must be rolled back alone.
            op.Db.Exec("INSERT INTO domains(name, created) VALUES('half.test', 0)");
            throw new InvalidOperationException("boom");
        }, CancellationToken.None);
        var more = Enumerable.Range(10, 5).Select(i => t.Store.Directory.AddDomainAsync($"d{i}.test")).ToList();
        for (var i = 0; i < 3000 && t.Store.PendingWriteCount < 17; i++)
        {
            await Task.Delay(10);
        }

        gate.Set();
        Assert.True(await blocker);
        await Task.WhenAll(good.Concat(more));
        await Assert.ThrowsAsync<StoreException>(() => duplicate);
        var boom = await Assert.ThrowsAsync<InvalidOperationException>(() => throwing);
        Assert.Equal("boom", boom.Message);

        // One commit for the gate, one for the 16 queued operations.
        Assert.Equal(2, t.Store.CommitCount - commitsBefore);
        var names = (await t.Store.Directory.ListDomainsAsync()).Select(d => d.Name).ToList();
        Assert.Equal(16, names.Count);
        Assert.DoesNotContain("half.test", names);
    }

    [Fact]
    public async Task Cancelled_writes_are_not_applied()
    {
        await using var t = await TempStore.CreateAsync();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => t.Store.Directory.AddDomainAsync("never.test", cts.Token));
        Assert.Empty(await t.Store.Directory.ListDomainsAsync());
    }

    [Fact]
    public async Task A_second_store_on_the_same_files_sees_committed_writes()
    {
        // The admin CLI opens the database while the server runs.
        await using var t = await TempStore.CreateAsync();
        await t.AddAccountAsync("a@example.com");
        await using var second = await t.OpenAsync();
        Assert.NotNull(await second.Directory.GetAccountAsync("a@example.com"));
        await second.Directory.AddAliasAsync("b@example.com", ["a@example.com"], AliasKind.Alias);
        Assert.Single(await t.Store.Directory.ListAliasesAsync());
        var writes = Enumerable.Range(0, 20).Select(i => i % 2 == 0
            ? t.Store.Directory.AddAliasAsync($"s{i}@example.com", ["a@example.com"], AliasKind.Alias)
            : second.Directory.AddAliasAsync($"s{i}@example.com", ["a@example.com"], AliasKind.Alias));
        await Task.WhenAll(writes);
        Assert.Equal(21, (await t.Store.Directory.ListAliasesAsync()).Count);
    }

    [Fact]
    public async Task Writes_after_dispose_are_refused()
    {
        await using var t = await TempStore.CreateAsync();
        var store = await t.OpenAsync();
        await store.DisposeAsync();
        await Assert.ThrowsAsync<ObjectDisposedException>(() => store.Directory.AddDomainAsync("late.test"));
    }

    [Fact]
    public void ReplaceFile_creates_then_replaces_a_file_and_leaves_no_temporary_file()
    {
        var folder = Path.Combine(Path.GetTempPath(), "rempart-replace-" + Guid.NewGuid().ToString("N"));
        try
        {
            var path = Path.Combine(folder, "sub", "state.json");
            Rempart.Store.Blobs.NativeFileSystem.ReplaceFile(path, "first"u8);
            Assert.Equal("first", File.ReadAllText(path));

            var big = new byte[300_000];
            Random.Shared.NextBytes(big);
            Rempart.Store.Blobs.NativeFileSystem.ReplaceFile(path, big);
            Assert.Equal(big, File.ReadAllBytes(path));
            Assert.Equal(["state.json"], Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(path)!).Select(Path.GetFileName));

            // A folder in the way: the write fails with the file untouched and no temporary file left.
            var blocked = Path.Combine(folder, "sub", "blocked");
            Directory.CreateDirectory(blocked);
            Assert.ThrowsAny<IOException>(() => Rempart.Store.Blobs.NativeFileSystem.ReplaceFile(blocked, "x"u8));
            Assert.Equal(["blocked", "state.json"], Directory.EnumerateFileSystemEntries(Path.GetDirectoryName(path)!).Select(Path.GetFileName).Order());
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
