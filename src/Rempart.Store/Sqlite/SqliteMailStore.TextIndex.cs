using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Rempart.Store.Mime;
using Rempart.Telemetry;

namespace Rempart.Store.Sqlite;

/// <summary>
/// The full-text index (<c>message_text</c>, FTS5 trigram) is derived data: everything in it comes from the message
/// bodies in the blob store. One list, <c>text_pending</c>, holds every stored body whose text is not indexed yet,
/// whatever left it out; one indexer empties it in the background, and a search first indexes what its mailbox has
/// on the list, so a search never misses a message.
/// <list type="bullet">
/// <item>Deliveries list their body (<see cref="DeferTextIndex"/>), as below.</item>
/// <item>A restored database opens without the index (backups leave it out, it is most of the database): the open
/// recreates the table and lists every body (<see cref="EnsureTextIndexTable"/>).</item>
/// <item>A granular restore lists the bodies it stores (<see cref="ListTextForIndex"/>).</item>
/// </list>
/// <para>
/// Delivered messages are indexed after their delivery (<see cref="DeferTextIndex"/>): the trigram insert was a third
/// of the CPU of an SMTP delivery, and many messages indexed in one transaction cost much less than one at a time
/// (FTS5 sorts and flushes its pending terms once per transaction, and merges fewer segments). The delivery's own
/// transaction adds the body to <c>text_pending</c>; the index is written when the store has been quiet for a moment
/// (<see cref="BackgroundIdle"/>), a small batch at least every <see cref="MaxBackgroundWait"/> while mail flows, and
/// for one mailbox at once when a search needs it, so a search never misses a delivered message. The list is in the
/// database: it survives a crash or a restart, and it may grow during a burst of mail without costing memory. The
/// texts of the latest deliveries are kept in memory too, so the indexer does not parse those bodies again.
/// </para>
/// </summary>
public sealed partial class SqliteMailStore
{
    /// <summary>
    /// Marker row in store_state of earlier versions while their index was being rebuilt after a restore; a store that
    /// still has it gets its unindexed bodies listed at open (<see cref="EnsureTextIndexTable"/>).
    /// </summary>
    internal const string TextIndexRebuildKey = "text_index_rebuild";

    /// <summary>
    /// Marker row of stores written before text_pending existed (schema v2): delivered texts waited in memory only, so
    /// a store that still has it was stopped with texts missing from the index; treated as the rebuild marker.
    /// </summary>
    internal const string TextIndexBehindKey = "text_index_behind";

    /// <summary>
    /// Most waiting texts indexed in one write in a quiet moment. It bounds how long the first deliveries of a burst
    /// wait for the writer: about 0.8 ms of FTS5 work per 4 KiB message.
    /// </summary>
    internal const int PendingTextBatch = 32;

    /// <summary>
    /// Most waiting texts indexed in one write while mail flows (a <see cref="WriteOp.Starved"/> write, once every
    /// <see cref="MaxBackgroundWait"/>): its deliveries wait for it. Eight every 250 ms keep the 32 a second that 32
    /// every second gave, with a quarter of the stall; the stall of 32 was the benchmark's slowest replies, all 20
    /// connections at once, once a second.
    /// </summary>
    internal const int StarvedTextBatch = 8;

    /// <summary>Most delivered texts kept in memory for the indexer; beyond it, the indexer parses the body again.</summary>
    internal const int MaxCachedTexts = 2048;

    private readonly System.Collections.Concurrent.ConcurrentDictionary<long, CachedText> _cachedText = new();
    private readonly CancellationTokenSource _textIndexerStop = new();
    private volatile bool _textIndexerStarved;
    private int _textIndexerRunning;
    private int _textIndexerSignal;
    private Task _textIndexer = Task.CompletedTask;

    /// <summary>A delivered body's text kept for the indexer; the hash guards against a blob id reused meanwhile.</summary>
    private sealed record CachedText(string Hash, string Headers, string Body);

    /// <summary>
    /// Inside a delivery's write: lists the body in text_pending (in the same transaction) and keeps its text in memory
    /// while there is room; the writer wakes the indexer once the write is committed. The text is never indexed inside
    /// the delivery.
    /// </summary>
    internal void DeferTextIndex(WriteOp op, long blobId, string hash, MessageAnalysis analysis)
    {
        ListTextForIndex(op, blobId);
        if (_cachedText.Count < MaxCachedTexts)
        {
            _cachedText[blobId] = new CachedText(hash, analysis.HeaderText, analysis.BodyText);
        }

        op.TextListed = true;
    }

    /// <summary>Starts the background indexer unless it runs; a running one looks for work again before it stops.</summary>
    private void WakeTextIndexer()
    {
        Volatile.Write(ref _textIndexerSignal, 1);
        if (Interlocked.CompareExchange(ref _textIndexerRunning, 1, 0) == 0)
        {
            _textIndexer = Task.Run(TextIndexerLoopAsync, CancellationToken.None);
        }
    }

    /// <summary>Background: indexes the pending texts, batch after batch, until none is left.</summary>
    private async Task TextIndexerLoopAsync()
    {
        var stop = _textIndexerStop.Token;
        while (true)
        {
            Volatile.Write(ref _textIndexerSignal, 0);
            try
            {
                await IndexPendingTextAsync(null, background: true, stop);
            }
            catch (Exception ex) when (ex is ObjectDisposedException || (ex is OperationCanceledException && stop.IsCancellationRequested))
            {
                // Closing: what is left stays in text_pending for the next start.
                Volatile.Write(ref _textIndexerRunning, 0);
                return;
            }
            catch (Exception ex) when (ex is StoreException or SqliteException or IOException)
            {
                // The rows stay in text_pending: the next delivery or the next start tries again.
                LogDeferredTextFailed(_logger, ex);
                Volatile.Write(ref _textIndexerRunning, 0);
                return;
            }

            Volatile.Write(ref _textIndexerRunning, 0);
            if (Volatile.Read(ref _textIndexerSignal) == 0 || Interlocked.CompareExchange(ref _textIndexerRunning, 1, 0) != 0)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Indexes the bodies listed in text_pending (all of them, or those of one mailbox), a batch at a time, and takes
    /// them off the list in the same write. The background indexer's writes are <paramref name="background"/> ones; a
    /// search that needs its mailbox indexed writes at once.
    /// </summary>
    private async Task IndexPendingTextAsync(long? mailboxId, bool background, CancellationToken ct)
    {
        while (true)
        {
            var rows = await ReadAsync(
                db => mailboxId is null
                    ? db.Query(
                        "SELECT p.blob_id, b.hash FROM text_pending p LEFT JOIN blobs b ON b.id = p.blob_id ORDER BY p.blob_id LIMIT @n",
                        r => (Id: r.GetInt64(0), Hash: r.IsDBNull(1) ? null : r.GetString(1)),
                        ("@n", _textIndexerStarved ? StarvedTextBatch : PendingTextBatch))
                    : db.Query(
                        """
                        SELECT DISTINCT p.blob_id, b.hash FROM text_pending p JOIN messages m ON m.blob_id = p.blob_id JOIN blobs b ON b.id = p.blob_id
                        WHERE m.mailbox_id = @m ORDER BY p.blob_id LIMIT @n
                        """,
                        r => (Id: r.GetInt64(0), Hash: (string?)r.GetString(1)), ("@m", mailboxId.Value), ("@n", PendingTextBatch * 4)),
                ct);
            if (rows.Count == 0)
            {
                return;
            }

            var texts = new (long Id, string? Hash, string Headers, string Body)[rows.Count];
            await Parallel.ForAsync(0, rows.Count, new ParallelOptions { CancellationToken = ct, MaxDegreeOfParallelism = Environment.ProcessorCount }, async (i, token) =>
            {
                var (id, hash) = rows[i];
                string headers = string.Empty, body = string.Empty;
                if (hash is null)
                {
                    // The blob is gone (its messages were expunged): only the list entry goes.
                }
                else if (_cachedText.TryGetValue(id, out var cached) && string.Equals(cached.Hash, hash, StringComparison.Ordinal))
                {
                    (headers, body) = (cached.Headers, cached.Body);
                }
                else
                {
                    (headers, body) = await ReadTextAsync(hash, token);
                }

                texts[i] = (id, hash, headers, body);
            });

            var starved = await WriteAsync(
                op =>
                {
                    // While mail flows only a few: the rest stay listed for the next write.
                    var take = op.Starved ? Math.Min(StarvedTextBatch, texts.Length) : texts.Length;
                    foreach (var (id, hash, headers, body) in texts.AsSpan(0, take))
                    {
                        // Still the same stored body with its metadata, and not indexed meanwhile (by a search's catch-up).
                        if (hash is not null &&
                            op.Db.Long(
                                "SELECT 1 FROM blobs b JOIN message_meta mm ON mm.blob_id = b.id WHERE b.id = @b AND b.hash = @h",
                                ("@b", id), ("@h", hash)) is not null &&
                            op.Db.Long("SELECT 1 FROM message_text WHERE rowid = @b", ("@b", id)) is null)
                        {
                            op.Db.Exec("INSERT INTO message_text(rowid, headers, body) VALUES(@b, @h, @t)", ("@b", id), ("@h", headers), ("@t", body));
                        }

                        op.Db.Exec("DELETE FROM text_pending WHERE blob_id = @b", ("@b", id));
                        _cachedText.TryRemove(id, out _);
                    }

                    // Nothing waits any more: texts kept for deliveries that were rolled back go too. Writes run one
                    // after another, so no delivery can list a body between this check and the clear.
                    if (op.Db.Long("SELECT 1 FROM text_pending LIMIT 1") is null)
                    {
                        _cachedText.Clear();
                    }

                    return op.Starved;
                },
                ct,
                background);
            if (mailboxId is null)
            {
                // The next read takes as many as the next write is likely to index.
                _textIndexerStarved = starved;
            }
        }
    }

    /// <summary>
    /// Inside a write that stored bodies without their text (a granular restore, often by the admin CLI while the
    /// server runs): lists the body in text_pending in the same transaction. Nothing is kept in memory and no indexer
    /// is started here: a search in any process indexes its mailbox's listed bodies first, and the server's indexer
    /// takes the rest at its next wake (a delivery, or the next start).
    /// </summary>
    internal static void ListTextForIndex(WriteOp op, long blobId) =>
        op.Db.Exec("INSERT OR IGNORE INTO text_pending(blob_id) VALUES(@b)", ("@b", blobId));

    /// <summary>
    /// At open, on the writer connection before anything else uses the store: a database restored from a backup has no
    /// full-text index (backups leave it out); the table is recreated and every stored body listed in text_pending, in
    /// one transaction. Stores of earlier versions that carry a rebuild marker (<see cref="TextIndexRebuildKey"/>,
    /// <see cref="TextIndexBehindKey"/>) get every body that is not indexed listed, and lose the marker.
    /// </summary>
    private static void EnsureTextIndexTable(SqliteConnection writer)
    {
        using var transaction = writer.BeginTransaction(deferred: false);
        var db = new Db(writer, transaction);
        if (db.Long("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'message_text'") is null)
        {
            db.Exec(SqliteSchema.TextIndexTable);
            db.Exec("INSERT OR IGNORE INTO text_pending(blob_id) SELECT blob_id FROM message_meta");
        }

        if (db.Exec("DELETE FROM store_state WHERE key IN (@r, @b)", ("@r", TextIndexRebuildKey), ("@b", TextIndexBehindKey)) > 0)
        {
            db.Exec(
                """
                INSERT OR IGNORE INTO text_pending(blob_id)
                SELECT mm.blob_id FROM message_meta mm WHERE NOT EXISTS (SELECT 1 FROM message_text t WHERE t.rowid = mm.blob_id)
                """);
        }

        transaction.Commit();
    }

    /// <summary>
    /// At the server's start: wakes the background indexer when bodies wait for the full-text index (left by the last
    /// run, a restore from a backup, or a granular restore). Returns how many wait.
    /// </summary>
    public async Task<long> StartTextIndexerAsync(CancellationToken ct)
    {
        var waiting = await TextIndexBacklogAsync(ct);
        if (waiting > 0)
        {
            LogTextIndexBacklog(_logger, waiting);
            WakeTextIndexer();
        }

        return waiting;
    }

    /// <inheritdoc/>
    public Task<long> TextIndexBacklogAsync(CancellationToken ct = default) =>
        ReadAsync(db => db.Long("SELECT count(*) FROM text_pending") ?? 0, ct);

    /// <summary>
    /// Indexes every body that waits, now, in this caller (tools and tests; the server leaves it to its indexer).
    /// Its writes are background ones: mail still goes first.
    /// </summary>
    public Task IndexWaitingTextAsync(CancellationToken ct = default) => IndexPendingTextAsync(null, background: true, ct);

    /// <summary>Before a search reads the index: indexes the mailbox's bodies that wait, whoever listed them.</summary>
    internal Task EnsureTextIndexedAsync(long mailboxId, CancellationToken ct) => IndexPendingTextAsync(mailboxId, background: false, ct);

    /// <summary>A stored body's text for the index; empty for a body missing from the blob store (the scrub reports it).</summary>
    private async Task<(string Headers, string Body)> ReadTextAsync(string hash, CancellationToken ct)
    {
        try
        {
            var analysis = MessageAnalyzer.AnalyzeOrFallback(await _blobs.ReadAllAsync(hash, ct));
            return (analysis.HeaderText, analysis.BodyText);
        }
        catch (StoreException)
        {
            return (string.Empty, string.Empty);
        }
    }

    [LoggerMessage(EventId = (int)EventIds.StoreWriteFailed, Level = LogLevel.Error, Message = "Indexing delivered messages for search failed; the next start indexes them")]
    private static partial void LogDeferredTextFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = (int)EventIds.StoreTextIndexRebuilding, Level = LogLevel.Information, Message = "{Count} stored messages wait for the full-text index (left by the last run or a restore): indexing them in the background; searches index their mailbox first")]
    private static partial void LogTextIndexBacklog(ILogger logger, long count);
}
