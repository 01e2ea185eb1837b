using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Rempart.Store.Mime;
using Rempart.Telemetry;

namespace Rempart.Store.Sqlite;

/// <summary>
/// The full-text index (<c>message_text</c>, FTS5 trigram) is derived data: everything in it comes from the message
/// bodies in the blob store. Backups leave it out (it is most of the database), so a restored database opens without
/// it; the store then recreates the table empty, marks it as being rebuilt and fills it again, in the background
/// (<see cref="RebuildTextIndexAsync"/>) and, for one mailbox, at once when a search needs it.
/// <para>
/// Delivered messages are indexed a moment behind their delivery (<see cref="DeferTextIndex"/>): the trigram insert
/// was a third of the CPU of an SMTP delivery, and many messages indexed in one transaction cost much less than one
/// at a time (FTS5 sorts and flushes its pending terms once per transaction, and merges fewer segments). The
/// message itself is stored and visible at once; a search first indexes whatever is still waiting, so it never
/// misses a delivered message. While texts wait, a store_state row says so; a crash leaves it, and the next open
/// then rebuilds the missing part of the index like after a restore.
/// </para>
/// </summary>
public sealed partial class SqliteMailStore
{
    /// <summary>Marker row in store_state while the index is incomplete; survives a restart mid-rebuild.</summary>
    internal const string TextIndexRebuildKey = "text_index_rebuild";

    /// <summary>Marker row in store_state while delivered texts may wait for the index (removed at a clean close).</summary>
    internal const string TextIndexBehindKey = "text_index_behind";

    private const int TextIndexBatch = 64;

    /// <summary>
    /// Most waiting texts indexed in one write (was 256). It bounds how long a delivery that arrives meanwhile waits for
    /// the writer: the write is a background one, so no other write is queued when it starts.
    /// </summary>
    private const int DeferredTextBatch = 128;

    /// <summary>Most texts waiting at once (bounds the memory): beyond it a delivery indexes its own text again.</summary>
    internal const int MaxDeferredTexts = 2048;

    private readonly SemaphoreSlim _textIndexGate = new(1, 1);
    private readonly System.Collections.Concurrent.ConcurrentQueue<DeferredText> _deferredText = new();
    private volatile bool _textIndexPending;
    private int _deferredTextWorker;
    private bool _deferredTextLost;

    /// <summary>A delivered body's text waiting for the index; the hash guards against a blob id reused meanwhile.</summary>
    private sealed record DeferredText(long BlobId, string Hash, string Headers, string Body);

    /// <summary>
    /// Inside a delivery's write: marks the index as behind (in the same transaction) and queues the text. Queued on
    /// the writer's thread before the commit, so a search that sees the message also finds its text queued; the
    /// indexing write runs after this transaction and skips the text if it was rolled back. False (the caller
    /// indexes the text itself) when <see cref="MaxDeferredTexts"/> already wait.
    /// </summary>
    internal bool DeferTextIndex(WriteOp op, long blobId, string hash, MessageAnalysis analysis)
    {
        if (_deferredText.Count >= MaxDeferredTexts)
        {
            return false;
        }

        op.Db.Exec("INSERT OR IGNORE INTO store_state(key, value) VALUES(@k, 1)", ("@k", TextIndexBehindKey));
        _deferredText.Enqueue(new DeferredText(blobId, hash, analysis.HeaderText, analysis.BodyText));
        if (Interlocked.CompareExchange(ref _deferredTextWorker, 1, 0) == 0)
        {
            _ = Task.Run(IndexDeferredLoopAsync, CancellationToken.None);
        }

        return true;
    }

    /// <summary>Background: indexes the waiting texts, batch after batch, until none is left.</summary>
    private async Task IndexDeferredLoopAsync()
    {
        while (true)
        {
            try
            {
                await IndexDeferredTextAsync(CancellationToken.None, background: true);
            }
            catch (ObjectDisposedException)
            {
                // Closing: the marker stays, the next open indexes what was left.
                return;
            }
            catch (Exception ex) when (ex is StoreException or SqliteException or IOException)
            {
                LogDeferredTextFailed(_logger, ex);
            }

            Volatile.Write(ref _deferredTextWorker, 0);
            if (_deferredText.IsEmpty || Interlocked.CompareExchange(ref _deferredTextWorker, 1, 0) != 0)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Indexes every text waiting now; when the queue is then empty, clears the marker in the same write. The worker's
    /// writes are <paramref name="background"/> ones; a search that needs the texts indexed writes at once.
    /// </summary>
    private async Task IndexDeferredTextAsync(CancellationToken ct, bool background = false)
    {
        await _textIndexGate.WaitAsync(ct);
        try
        {
            while (!_deferredText.IsEmpty)
            {
                var batch = new List<DeferredText>(Math.Min(_deferredText.Count, DeferredTextBatch));
                while (batch.Count < DeferredTextBatch && _deferredText.TryDequeue(out var text))
                {
                    batch.Add(text);
                }

                // Falling behind (half the bound waits): an ordinary write, before deliveries start indexing their own
                // text inside their own writes.
                var yieldToOthers = background && _deferredText.Count < MaxDeferredTexts / 2;
                try
                {
                    await WriteAsync(
                        op =>
                        {
                            foreach (var t in batch)
                            {
                                // Still the same stored body with its metadata (the delivery committed), not indexed yet.
                                if (op.Db.Long(
                                        "SELECT 1 FROM blobs b JOIN message_meta mm ON mm.blob_id = b.id WHERE b.id = @b AND b.hash = @h",
                                        ("@b", t.BlobId), ("@h", t.Hash)) is not null &&
                                    op.Db.Long("SELECT 1 FROM message_text WHERE rowid = @b", ("@b", t.BlobId)) is null)
                                {
                                    op.Db.Exec("INSERT INTO message_text(rowid, headers, body) VALUES(@b, @h, @t)", ("@b", t.BlobId), ("@h", t.Headers), ("@t", t.Body));
                                }
                            }

                            // A delivery after this write marks the index behind again (writes run one after another).
                            if (_deferredText.IsEmpty && !Volatile.Read(ref _deferredTextLost))
                            {
                                op.Db.Exec("DELETE FROM store_state WHERE key = @k", ("@k", TextIndexBehindKey));
                            }

                            return true;
                        },
                        ct,
                        yieldToOthers);
                }
                catch
                {
                    // These texts are not indexed: keep the marker so the next open rebuilds the missing entries.
                    Volatile.Write(ref _deferredTextLost, true);
                    throw;
                }
            }
        }
        finally
        {
            _textIndexGate.Release();
        }
    }

    /// <summary>At a clean close: indexes what still waits (the marker goes with the last batch).</summary>
    private async Task FinishDeferredTextAsync()
    {
        try
        {
            await IndexDeferredTextAsync(CancellationToken.None);
        }
        catch (Exception ex) when (ex is StoreException or SqliteException or IOException or ObjectDisposedException)
        {
            LogDeferredTextFailed(_logger, ex);
        }
    }

    /// <summary>
    /// Inside a write that stored bodies without their text (a granular restore): marks the index incomplete, in the
    /// same transaction, as a restored database is. The background rebuild of the next start fills it; before that a
    /// search indexes its mailbox first, in this process and, having seen the marker, in any other one (the server
    /// while the admin CLI restores into its store).
    /// </summary>
    internal void MarkTextIndexIncomplete(WriteOp op)
    {
        // A new value each time: a rebuild that started before this write does not clear the marker (RebuildTextIndexAsync).
        op.Db.Exec(
            "INSERT INTO store_state(key, value) VALUES(@k, 1) ON CONFLICT(key) DO UPDATE SET value = value + 1",
            ("@k", TextIndexRebuildKey));
        _textIndexPending = true;
    }

    /// <summary>True while the full-text index is being rebuilt (after a restore from a backup).</summary>
    public bool TextIndexPending => _textIndexPending;

    /// <summary>
    /// Recreates a missing full-text index table (a database restored from a backup) and marks it for a rebuild.
    /// Runs on the writer connection at open, before anything else uses the store.
    /// </summary>
    private static bool EnsureTextIndexTable(SqliteConnection writer)
    {
        using var transaction = writer.BeginTransaction(deferred: false);
        var db = new Db(writer, transaction);
        if (db.Long("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'message_text'") is null)
        {
            db.Exec(SqliteSchema.TextIndexTable);
            db.Exec("INSERT OR REPLACE INTO store_state(key, value) VALUES(@k, 1)", ("@k", TextIndexRebuildKey));
        }

        if (db.Long("SELECT value FROM store_state WHERE key = @k", ("@k", TextIndexBehindKey)) is not null)
        {
            // The last run stopped while delivered texts waited for the index: find and index them like after a restore.
            db.Exec("INSERT OR REPLACE INTO store_state(key, value) VALUES(@k, 1)", ("@k", TextIndexRebuildKey));
            db.Exec("DELETE FROM store_state WHERE key = @k", ("@k", TextIndexBehindKey));
        }

        var pending = db.Long("SELECT value FROM store_state WHERE key = @k", ("@k", TextIndexRebuildKey)) is not null;
        transaction.Commit();
        return pending;
    }

    /// <summary>
    /// Fills the full-text index for every stored message that is not in it yet, a batch at a time, then clears the
    /// rebuild marker. Returns at once when nothing is pending. Cancellation stops it between batches; the next start
    /// continues (what is indexed stays indexed).
    /// </summary>
    public async Task RebuildTextIndexAsync(CancellationToken ct)
    {
        if (!_textIndexPending)
        {
            return;
        }

        LogTextIndexRebuilding(_logger, _databasePath);
        var started = System.Diagnostics.Stopwatch.StartNew();
        long after = 0;
        var indexed = 0;
        while (true)
        {
            var marker = await ReadAsync(db => db.Long("SELECT value FROM store_state WHERE key = @k", ("@k", TextIndexRebuildKey)), ct);
            while (true)
            {
                var batch = await ReadAsync(
                    db => db.Query(
                        """
                        SELECT mm.blob_id, b.hash FROM message_meta mm JOIN blobs b ON b.id = mm.blob_id
                        WHERE mm.blob_id > @after ORDER BY mm.blob_id LIMIT @n
                        """,
                        r => (Id: r.GetInt64(0), Hash: r.GetString(1)), ("@after", after), ("@n", TextIndexBatch)),
                    ct);
                if (batch.Count == 0)
                {
                    break;
                }

                after = batch[^1].Id;
                indexed += await IndexBlobsAsync(batch, ct, background: true);
            }

            // Only the marker this pass started from: a granular restore meanwhile gives it a new value, and its bodies
            // (new blob ids, above the scan) are picked up by another pass instead of being left out of the index.
            if (marker is null || await WriteAsync(op => op.Db.Exec("DELETE FROM store_state WHERE key = @k AND value = @v", ("@k", TextIndexRebuildKey), ("@v", marker)), ct) > 0)
            {
                break;
            }
        }

        _textIndexPending = false;
        LogTextIndexRebuilt(_logger, indexed, started.Elapsed.TotalSeconds);
    }

    /// <summary>While a rebuild runs, indexes one mailbox's messages before a search reads the index.</summary>
    internal async Task EnsureTextIndexedAsync(long mailboxId, CancellationToken ct)
    {
        // Delivered texts still waiting (or being written by the background worker, which holds the gate) first.
        if (!_deferredText.IsEmpty || Volatile.Read(ref _deferredTextWorker) != 0)
        {
            await IndexDeferredTextAsync(ct);
        }

        // Another process (the admin CLI's granular restore) may have stored bodies without their text since this one
        // opened: its marker says so. One read of a one-row key per search.
        if (!_textIndexPending &&
            await ReadAsync(db => db.Long("SELECT 1 FROM store_state WHERE key = @k", ("@k", TextIndexRebuildKey)), ct) is not null)
        {
            _textIndexPending = true;
        }

        if (!_textIndexPending)
        {
            return;
        }

        var missing = await ReadAsync(
            db => db.Query(
                """
                SELECT DISTINCT m.blob_id, b.hash FROM messages m JOIN blobs b ON b.id = m.blob_id
                WHERE m.mailbox_id = @m AND NOT EXISTS (SELECT 1 FROM message_text t WHERE t.rowid = m.blob_id)
                ORDER BY m.blob_id
                """,
                r => (Id: r.GetInt64(0), Hash: r.GetString(1)), ("@m", mailboxId)),
            ct);
        for (var i = 0; i < missing.Count; i += TextIndexBatch)
        {
            await IndexBlobsAsync(missing.GetRange(i, Math.Min(TextIndexBatch, missing.Count - i)), ct);
        }
    }

    private async Task<int> IndexBlobsAsync(List<(long Id, string Hash)> blobs, CancellationToken ct, bool background = false)
    {
        // One at a time through the gate: the background rebuild and a search's catch-up never parse the same body twice.
        await _textIndexGate.WaitAsync(ct);
        try
        {
            var todo = await ReadAsync(
                db => blobs.Where(b => db.Long("SELECT 1 FROM message_text WHERE rowid = @b", ("@b", b.Id)) is null).ToList(),
                ct);
            if (todo.Count == 0)
            {
                return 0;
            }

            var texts = new (long Id, string Headers, string Body)[todo.Count];
            await Parallel.ForAsync(0, todo.Count, new ParallelOptions { CancellationToken = ct, MaxDegreeOfParallelism = Environment.ProcessorCount }, async (i, token) =>
            {
                string headers = string.Empty, body = string.Empty;
                try
                {
                    var analysis = MessageAnalyzer.AnalyzeOrFallback(await _blobs.ReadAllAsync(todo[i].Hash, token));
                    (headers, body) = (analysis.HeaderText, analysis.BodyText);
                }
                catch (StoreException)
                {
                    // A body missing from the blob store (the scrub reports it) has nothing to index.
                }

                texts[i] = (todo[i].Id, headers, body);
            });

            return await WriteAsync(
                op =>
                {
                    var n = 0;
                    foreach (var (id, headers, body) in texts)
                    {
                        // Still a stored body, and not indexed meanwhile by a delivery of the same content.
                        if (op.Db.Long("SELECT 1 FROM blobs WHERE id = @b", ("@b", id)) is not null &&
                            op.Db.Long("SELECT 1 FROM message_text WHERE rowid = @b", ("@b", id)) is null)
                        {
                            op.Db.Exec("INSERT INTO message_text(rowid, headers, body) VALUES(@b, @h, @t)", ("@b", id), ("@h", headers), ("@t", body));
                            n++;
                        }
                    }

                    return n;
                },
                ct,
                background);
        }
        finally
        {
            _textIndexGate.Release();
        }
    }

    [LoggerMessage(EventId = (int)EventIds.StoreWriteFailed, Level = LogLevel.Error, Message = "Indexing delivered messages for search failed; the next start indexes them")]
    private static partial void LogDeferredTextFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = (int)EventIds.StoreTextIndexRebuilding, Level = LogLevel.Information, Message = "Full-text index of {Path} is missing or incomplete (a restored backup leaves it out): rebuilding it in the background")]
    private static partial void LogTextIndexRebuilding(ILogger logger, string path);

    [LoggerMessage(EventId = (int)EventIds.StoreTextIndexRebuilt, Level = LogLevel.Information, Message = "Full-text index rebuilt: {Count} messages indexed in {Seconds:0.0} s")]
    private static partial void LogTextIndexRebuilt(ILogger logger, int count, double seconds);
}
