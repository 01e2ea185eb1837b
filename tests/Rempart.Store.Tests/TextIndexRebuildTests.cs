using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Store.Sqlite;

namespace Rempart.Store.Tests;

/// <summary>
/// Backups copy the database without its derived full-text index (<see cref="SqliteBackupCopy"/>); a store opened on
/// such a copy recreates the index table and lists every body for the indexer, answers searches correctly at once and
/// refills the rest in the background; deliveries and granular restores list their bodies on the same list.
/// </summary>
public sealed class TextIndexRebuildTests
{
    [Fact]
    public async Task Backup_copy_leaves_the_text_index_out_and_keeps_everything_else()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        for (var i = 0; i < 5; i++)
        {
            await t.AppendAsync(inbox.Id, "subject " + i, "body number " + i, "\\Seen");
        }

        var copy = Path.Combine(t.Root, "copy.db");
        SqliteBackupCopy.Copy(t.DatabasePath, copy);

        using var live = Open(t.DatabasePath);
        using var snap = Open(copy);
        Assert.Equal(Scalar(live, "PRAGMA user_version"), Scalar(snap, "PRAGMA user_version"));
        Assert.Null(Scalar(snap, "SELECT 1 FROM sqlite_master WHERE name LIKE 'message_text%'"));
        Assert.NotNull(Scalar(live, "SELECT 1 FROM sqlite_master WHERE name = 'message_text'"));

        // Every other table and index, with the same rows.
        var liveObjects = Objects(live).Where(o => !o.Split(' ')[1].StartsWith("message_text", StringComparison.Ordinal)).ToList();
        Assert.Equal(liveObjects, Objects(snap));
        foreach (var table in new[] { "accounts", "mailboxes", "messages", "blobs", "message_meta", "store_state" })
        {
            Assert.Equal(Scalar(live, $"SELECT count(*) FROM {table}"), Scalar(snap, $"SELECT count(*) FROM {table}"));
        }

        Assert.Equal("ok", Scalar(snap, "PRAGMA integrity_check"));
        Assert.Throws<IOException>(() => SqliteBackupCopy.Copy(t.DatabasePath, copy));
    }

    [Fact]
    public async Task A_restored_copy_rebuilds_its_index_and_searches_are_right_meanwhile()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        var archive = (await t.Store.Messages.GetMailboxAsync(a.Id, "Archive"))!;
        for (var i = 0; i < 150; i++)
        {
            await t.AppendAsync(i % 2 == 0 ? inbox.Id : archive.Id, "s" + i, i % 5 == 0 ? "the pelican flies at dawn" : "ordinary words only");
        }

        var expectedInbox = await t.Store.Messages.SearchTextAsync(inbox.Id, "Pelican", TextSearchScope.Body);
        var expectedArchive = await t.Store.Messages.SearchTextAsync(archive.Id, "pelican", TextSearchScope.Body);
        Assert.Equal(15, expectedInbox.Count);
        Assert.Equal(15, expectedArchive.Count);

        // The copy becomes the store's database, as after a full restore (blobs are the same folder).
        var copy = Path.Combine(t.Root, "copy.db");
        SqliteBackupCopy.Copy(t.DatabasePath, copy);
        await using (var restored = await SqliteMailStore.OpenAsync(copy, t.BlobsPath, t.Options, NullLogger.Instance))
        {
            // Every stored body waits for the index.
            Assert.Equal(150L, await restored.TextIndexBacklogAsync());

            // Before the indexer ran: the search indexes the mailbox it reads first, and only that one.
            Assert.Equal(expectedInbox, await restored.Messages.SearchTextAsync(inbox.Id, "pelican", TextSearchScope.Body));
            Assert.Equal(75L, await restored.TextIndexBacklogAsync());
        }

        // Reopened half-way: the list is on disk, so the archive is found too; then the indexer takes the rest.
        await using (var restored = await SqliteMailStore.OpenAsync(copy, t.BlobsPath, t.Options, NullLogger.Instance))
        {
            Assert.Equal(75L, await restored.TextIndexBacklogAsync());
            Assert.Equal(expectedArchive, await restored.Messages.SearchTextAsync(archive.Id, "pelican", TextSearchScope.Body));
            Assert.Equal(0L, await restored.TextIndexBacklogAsync());
            Assert.Equal(expectedInbox, await restored.Messages.SearchTextAsync(inbox.Id, "PELICAN", TextSearchScope.Body));
        }

        using (var db = Open(copy))
        {
            Assert.Equal(150L, Scalar(db, "SELECT count(*) FROM message_text"));
        }

        // Complete: a later open lists nothing again.
        await using (var again = await SqliteMailStore.OpenAsync(copy, t.BlobsPath, t.Options, NullLogger.Instance))
        {
            Assert.Equal(0L, await again.TextIndexBacklogAsync());
        }
    }

    [Fact]
    public async Task Delivered_texts_wait_while_writes_keep_coming_and_are_indexed_once_the_store_is_quiet()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);

        // A stream of writes with no quiet moment in it (each write queues the next), and no starvation limit in reach.
        t.Store.MaxBackgroundWait = TimeSpan.FromMinutes(5);
        using var stop = new CancellationTokenSource();
        var chain = await t.StartWriteChainAsync(stop.Token);
        for (var i = 0; i < 3; i++)
        {
            var raw = Messages.Plain("Heron " + i, "a grey heron by the canal, sighting " + i);
            await t.Store.Messages.DeliverAsync(await t.PutAsync(raw), raw, [new DeliveryTarget(a.Id)], DateTimeOffset.UtcNow);
        }

        using (var db = Open(t.DatabasePath))
        {
            Assert.Equal(3L, Scalar(db, "SELECT count(*) FROM text_pending"));
            Assert.Equal(0L, Scalar(db, "SELECT count(*) FROM message_text"));
        }

        await stop.CancelAsync();
        await chain.WaitAsync(TimeSpan.FromSeconds(20));
        await WaitUntilAsync(t.DatabasePath, "SELECT count(*) = 0 FROM text_pending");
        using (var db = Open(t.DatabasePath))
        {
            Assert.Equal(3L, Scalar(db, "SELECT count(*) FROM message_text"));
        }

        Assert.Equal([1L, 2L, 3L], await t.Store.Messages.SearchTextAsync(inbox.Id, "grey heron", TextSearchScope.Body));
    }

    [Fact]
    public async Task While_writes_keep_coming_the_indexer_takes_only_a_few_texts_at_a_time_until_none_waits()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);

        // Every write of the chain sees how many texts are indexed; one write of the indexer at most lies between two.
        t.Store.MaxBackgroundWait = TimeSpan.FromMinutes(5);
        var seen = new System.Collections.Concurrent.ConcurrentQueue<long>();
        using var stop = new CancellationTokenSource();
        var chain = await t.StartWriteChainAsync(stop.Token, op => seen.Enqueue(op.Db.Long("SELECT count(*) FROM message_text")!.Value));
        // All delivered in one batch, so the indexer's first write has them all in hand.
        const int Delivered = 20;
        using var gate = new ManualResetEventSlim();
        var held = await t.HoldWriterAsync(gate);
        var deliveries = new List<Task>();
        for (var i = 0; i < Delivered; i++)
        {
            var raw = Messages.Plain("Heron " + i, "a grey heron by the canal, sighting " + i);
            var blob = await t.PutAsync(raw);
            deliveries.Add(t.Store.Messages.DeliverAsync(blob, raw, [new DeliveryTarget(a.Id)], DateTimeOffset.UtcNow));
        }

        gate.Set();
        Assert.True(await held);
        await Task.WhenAll(deliveries);

        // Starved writes from now on: they must empty the list while the chain goes on, a few texts each.
        t.Store.MaxBackgroundWait = TimeSpan.FromMilliseconds(20);
        await WaitUntilAsync(t.DatabasePath, "SELECT count(*) = 0 FROM text_pending");
        await stop.CancelAsync();
        await chain.WaitAsync(TimeSpan.FromSeconds(20));

        var counts = seen.Distinct().ToArray();
        Assert.Equal(0L, counts[0]);
        Assert.Equal(Delivered, counts[^1]);
        var steps = counts.Zip(counts.Skip(1), (x, y) => y - x).ToArray();
        Assert.All(steps, step => Assert.InRange(step, 1L, SqliteMailStore.StarvedTextBatch));
        Assert.Equal(Enumerable.Range(1, Delivered).Select(n => (long)n), await t.Store.Messages.SearchTextAsync(inbox.Id, "grey heron", TextSearchScope.Body));
    }

    [Fact]
    public async Task Waiting_texts_survive_a_restart_a_search_indexes_its_mailbox_and_the_start_the_rest()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var b = await t.AddAccountAsync("b@example.com");
        var inboxA = await t.InboxAsync(a.Id);
        for (var i = 0; i < 3; i++)
        {
            var raw = Messages.Plain("Heron " + i, "a grey heron by the canal, sighting " + i);
            await t.Store.Messages.DeliverAsync(await t.PutAsync(raw), raw, [new DeliveryTarget(i == 2 ? b.Id : a.Id)], DateTimeOffset.UtcNow);
        }

        // A close leaves what still waits in the list: each body is either indexed or listed, never both or neither.
        await t.Store.DisposeAsync();
        using (var db = Open(t.DatabasePath))
        {
            Assert.Equal(3L, Scalar(db, "SELECT (SELECT count(*) FROM message_text) + (SELECT count(*) FROM text_pending)"));
            Assert.Equal(0L, Scalar(db, "SELECT count(*) FROM text_pending p JOIN message_text t ON t.rowid = p.blob_id"));

            // What a crash right after the deliveries leaves: all three listed, none indexed (nothing kept in memory).
            Scalar(db, "DELETE FROM message_text");
            Scalar(db, "INSERT OR IGNORE INTO text_pending(blob_id) SELECT blob_id FROM message_meta");
        }

        await t.ReopenAsync();
        Assert.Equal(3L, await t.Store.TextIndexBacklogAsync());

        // A search indexes its own mailbox first, and only that one.
        Assert.Equal([1L, 2L], await t.Store.Messages.SearchTextAsync(inboxA.Id, "grey heron", TextSearchScope.Body));
        using (var db = Open(t.DatabasePath))
        {
            Assert.Equal(1L, Scalar(db, "SELECT count(*) FROM text_pending"));
            Assert.Equal(2L, Scalar(db, "SELECT count(*) FROM message_text"));
        }

        // The server's start wakes the indexer for the rest.
        Assert.Equal(1L, await t.Store.StartTextIndexerAsync(CancellationToken.None));
        await WaitUntilAsync(t.DatabasePath, "SELECT count(*) = 0 FROM text_pending");
        using (var db = Open(t.DatabasePath))
        {
            Assert.Equal(3L, Scalar(db, "SELECT count(*) FROM message_text"));
        }
    }

    [Fact]
    public async Task A_store_left_with_an_older_version_marker_lists_the_bodies_missing_from_the_index()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        for (var i = 0; i < 3; i++)
        {
            await t.AppendAsync(inbox.Id, "Heron " + i, "a grey heron by the canal, sighting " + i);
        }

        foreach (var marker in new[] { SqliteMailStore.TextIndexBehindKey, SqliteMailStore.TextIndexRebuildKey })
        {
            await t.Store.DisposeAsync();
            using (var db = Open(t.DatabasePath))
            {
                // An older version's state: its marker, and texts missing (waiting in memory, or not rebuilt yet).
                Scalar(db, "DELETE FROM message_text WHERE rowid IN (SELECT blob_id FROM message_meta WHERE subject <> 'Heron 0')");
                Scalar(db, $"INSERT INTO store_state(key, value) VALUES('{marker}', 1)");
            }

            // The open lists the two missing bodies (not the indexed one) and drops the marker.
            await t.ReopenAsync();
            Assert.Equal(2L, await t.Store.TextIndexBacklogAsync());
            using (var db = Open(t.DatabasePath))
            {
                Assert.Equal(0L, Scalar(db, "SELECT count(*) FROM store_state WHERE key LIKE 'text_index_%'"));
            }

            Assert.Equal([1L, 2L, 3L], await t.Store.Messages.SearchTextAsync(inbox.Id, "grey heron", TextSearchScope.Body));
            Assert.Equal(0L, await t.Store.TextIndexBacklogAsync());
        }
    }

    [Fact]
    public async Task List_entries_of_bodies_that_are_gone_are_dropped()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        var raw = Messages.Plain("Heron", "a grey heron by the canal");
        var stored = await t.Store.Messages.DeliverAsync(await t.PutAsync(raw), raw, [new DeliveryTarget(a.Id)], DateTimeOffset.UtcNow);
        await WaitUntilAsync(t.DatabasePath, "SELECT count(*) = 0 FROM text_pending");

        // Listed again (as if not indexed yet), then expunged: the body's entry goes with the body.
        using (var db = Open(t.DatabasePath))
        {
            Scalar(db, "INSERT INTO text_pending(blob_id) SELECT id FROM blobs");
        }

        await t.Store.Messages.StoreFlagsAsync(inbox.Id, [stored[0].Uid], FlagOperation.Add, ["\\Deleted"]);
        await t.Store.Messages.ExpungeAsync(inbox.Id);
        using (var db = Open(t.DatabasePath))
        {
            Assert.Equal(0L, Scalar(db, "SELECT count(*) FROM blobs"));
            Assert.Equal(0L, Scalar(db, "SELECT count(*) FROM text_pending"));

            // An entry whose blob is unknown (left by a crash between two versions): the indexer drops it.
            Scalar(db, "INSERT INTO text_pending(blob_id) VALUES(999)");
        }

        await t.ReopenAsync();
        Assert.Equal(1L, await t.Store.StartTextIndexerAsync(CancellationToken.None));
        await WaitUntilAsync(t.DatabasePath, "SELECT count(*) = 0 FROM text_pending");
    }

    [Fact]
    public async Task Recreated_index_table_is_the_one_the_migrations_create()
    {
        await using var t = await TempStore.CreateAsync();
        using var db = Open(t.DatabasePath);
        Assert.Equal(SqliteSchema.TextIndexTable, Scalar(db, "SELECT sql FROM sqlite_master WHERE name = 'message_text'"));
        Assert.Equal(0L, await t.Store.TextIndexBacklogAsync());
    }

    [Fact]
    public async Task Append_many_keeps_order_and_is_all_or_nothing_on_quota()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com", maxMessages: 5);
        var inbox = await t.InboxAsync(a.Id);
        var items = new List<AppendItem>();
        for (var i = 0; i < 4; i++)
        {
            items.Add(new AppendItem(await t.PutAsync(Messages.Plain("batch " + i, "b" + i)), i == 1 ? ["\\Flagged"] : [], DateTimeOffset.FromUnixTimeSeconds(1_700_000_000 + i)));
        }

        var results = await t.Store.Messages.AppendManyAsync(inbox.Id, items);
        Assert.Equal([1L, 2L, 3L, 4L], results.Select(r => r.Uid));
        var listed = await t.Store.Messages.ListMessagesAsync(inbox.Id);
        Assert.Equal(items.Select(i => i.Blob.Hash), listed.Select(m => m.BlobHash));
        Assert.Contains("\\Flagged", listed[1].Flags);
        Assert.Equal([2L], await t.Store.Messages.SearchTextAsync(inbox.Id, "batch 1", TextSearchScope.Text));

        // Two more would make 6 of 5: nothing of the batch is stored.
        var more = new List<AppendItem>
        {
            new(await t.PutAsync(Messages.Plain("x", "x")), [], DateTimeOffset.UtcNow),
            new(await t.PutAsync(Messages.Plain("y", "y")), [], DateTimeOffset.UtcNow),
        };
        await Assert.ThrowsAsync<QuotaExceededException>(() => t.Store.Messages.AppendManyAsync(inbox.Id, more));
        Assert.Equal(4, (await t.Store.Messages.ListMessagesAsync(inbox.Id)).Count);
    }

    [Fact]
    public async Task Restore_many_spans_folders_in_one_transaction_in_order_and_is_all_or_nothing_on_quota()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com", maxMessages: 4);
        var inbox = await t.InboxAsync(a.Id);
        var archive = await t.Store.Messages.CreateMailboxAsync(a.Id, "Restored/Archive");
        async Task<AppendItem> Item(string subject) => new(await t.PutAsync(Messages.Plain(subject, "text of " + subject)), [], DateTimeOffset.UtcNow);

        var results = await t.Store.Messages.RestoreManyAsync([(inbox.Id, await Item("i1")), (inbox.Id, await Item("i2")), (archive.Id, await Item("a1"))]);
        Assert.Equal([(inbox.Id, 1L), (inbox.Id, 2L), (archive.Id, 1L)], results.Select(r => (r.MailboxId, r.Uid)));
        Assert.Equal(2, (await t.Store.Messages.ListMessagesAsync(inbox.Id)).Count);
        Assert.Single(await t.Store.Messages.ListMessagesAsync(archive.Id));

        // Restored text is listed for later, with nothing in memory; a search catches up first and finds it.
        Assert.Equal(3L, await t.Store.TextIndexBacklogAsync());
        Assert.Equal([1L], await t.Store.Messages.SearchTextAsync(archive.Id, "text of a1", TextSearchScope.Text));
        Assert.Equal(2L, await t.Store.TextIndexBacklogAsync());

        // Two more would make 5 of 4, split over both folders: neither folder gets any.
        await Assert.ThrowsAsync<QuotaExceededException>(async () =>
            await t.Store.Messages.RestoreManyAsync([(inbox.Id, await Item("i3")), (archive.Id, await Item("a2"))]));
        Assert.Equal(2, (await t.Store.Messages.ListMessagesAsync(inbox.Id)).Count);
        Assert.Single(await t.Store.Messages.ListMessagesAsync(archive.Id));
    }

    /// <summary>Polls <paramref name="sql"/> (a 0/1 answer) until it is 1; fails after 20 s.</summary>
    private static async Task WaitUntilAsync(string path, string sql)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            using (var db = Open(path))
            {
                if (Scalar(db, sql) is 1L)
                {
                    return;
                }
            }

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), "timed out waiting for: " + sql);
            await Task.Delay(20);
        }
    }

    private static SqliteConnection Open(string path)
    {
        var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = path, Pooling = false }.ToString());
        db.Open();
        return db;
    }

    private static object? Scalar(SqliteConnection db, string sql)
    {
        using var c = db.CreateCommand();
        c.CommandText = sql;
        return c.ExecuteScalar();
    }

    private static List<string> Objects(SqliteConnection db)
    {
        using var c = db.CreateCommand();
        c.CommandText = "SELECT type || ' ' || name || ' ' || ifnull(sql, '') FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY type, name";
        using var r = c.ExecuteReader();
        var list = new List<string>();
        while (r.Read())
        {
            list.Add(r.GetString(0));
        }

        return list;
    }
}
