using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Rempart.Common.Configuration;
using Rempart.Store.Blobs;
using Rempart.Telemetry;

namespace Rempart.Store.Sqlite;

/// <summary>
/// The embedded default store: SQLite (WAL, synchronous=FULL) for metadata and <see cref="FileBlobStore"/> for bodies.
/// <para>
/// Writes go through ONE writer loop (group commit): callers queue an operation and await it; the loop drains up
/// to <see cref="StoreOptions.MaxBatch"/> of them, runs each inside its own SAVEPOINT of one transaction (a failing
/// operation is rolled back alone and its exception goes to its caller), commits once (one fsync for the batch),
/// then deletes blob files nothing refers to any more, publishes mailbox changes and completes the callers.
/// Reads use separate pooled connections, each in a snapshot transaction (WAL readers never block the writer).
/// Another process (the admin CLI) may open the same files: writes use BEGIN IMMEDIATE and a busy timeout.
/// </para>
/// </summary>
public sealed partial class SqliteMailStore : IMailStore
{
    /// <summary>How long a connection waits for another process's write lock before failing.</summary>
    private const int BusyTimeoutMs = 15_000;

    /// <summary>Native read connections (kept open by the pool) whose busy timeout is already set.</summary>
    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<object, object> s_busyTimeoutSet = new();

    private static readonly object s_marker = new();

    private readonly string _databasePath;
    private readonly SqliteConnection _writer;

    /// <summary>The writer loop's compiled statements (used only on the writer loop).</summary>
    private readonly StatementCache _writerStatements = new();
    private readonly string _readConnectionString;
    private readonly Channel<PendingWrite> _writes;
    private readonly int _maxBatch;
    private readonly ILogger _logger;
    private readonly FileBlobStore _blobs;
    private Task _writerLoop = Task.CompletedTask;
    private long _commitCount;
    private long? _dataVersion;
    private long _lastOtherProcessCheck;
    private Dictionary<long, long> _watchedModSeqs = [];
    private long _writeOperationCount;
    private int _disposed;

    private SqliteMailStore(string databasePath, SqliteConnection writer, string readConnectionString, FileBlobStore blobs, StoreOptions options, ILogger logger)
    {
        _databasePath = databasePath;
        _writer = writer;
        _readConnectionString = readConnectionString;
        _blobs = blobs;
        _logger = logger;
        _maxBatch = Math.Max(1, options.MaxBatch);
        _writes = Channel.CreateBounded<PendingWrite>(new BoundedChannelOptions(Math.Max(1024, _maxBatch * 4))
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        Directory = new SqliteDirectoryStore(this);
        Messages = new SqliteMessageStore(this);
        Queue = new SqliteQueueStore(this);
        Protection = new SqliteProtectionStore(this);
    }

    public IDirectoryStore Directory { get; }

    public IMessageStore Messages { get; }

    public IQueueStore Queue { get; }

    public IBlobStore Blobs => _blobs;

    public IProtectionStore Protection { get; }

    /// <summary>The concrete blob store (path layout, deletion).</summary>
    public FileBlobStore BlobFiles => _blobs;

    public MailboxChangeBus Changes { get; } = new();

    /// <summary>Full path of the SQLite database file.</summary>
    public string DatabasePath => _databasePath;

    public int SchemaVersion { get; private set; }

    /// <summary>Transactions committed by the writer loop since open.</summary>
    public long CommitCount => Interlocked.Read(ref _commitCount);

    /// <summary>Write operations committed since open; above <see cref="CommitCount"/> when group commit folded several.</summary>
    public long WriteOperationCount => Interlocked.Read(ref _writeOperationCount);

    /// <summary>The schema version this code creates and understands.</summary>
    public static int CurrentSchemaVersion => SqliteSchema.CurrentVersion;

    /// <summary>
    /// Opens (creating when missing) the database and blob folder, applies pending migrations and starts the writer.
    /// Throws <see cref="StoreException"/> when the database was written by a newer schema version.
    /// </summary>
    public static Task<SqliteMailStore> OpenAsync(string databasePath, string blobsPath, StoreOptions options, ILogger logger, CancellationToken ct = default)
    {
        ct.ThrowIfCancellationRequested();
        var fullPath = Path.GetFullPath(databasePath);
        var folder = Path.GetDirectoryName(fullPath);
        if (!string.IsNullOrEmpty(folder))
        {
            System.IO.Directory.CreateDirectory(folder);
        }

        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = fullPath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            ForeignKeys = true,
            DefaultTimeout = BusyTimeoutMs / 1000,
            Pooling = false,
        };
        var writer = new SqliteConnection(builder.ToString());
        try
        {
            writer.Open();
            Pragmas(writer, "PRAGMA journal_mode = WAL;");
            // Checkpoints run off the writer (SqliteMailStore.Checkpoint.cs); when the WAL starts over after a burst,
            // its file is cut back to 64 MB.
            Pragmas(writer, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 67108864;");
            var before = SqliteSchema.Migrate(writer, fullPath);
            EnsureTextIndexTable(writer);

            builder.Mode = SqliteOpenMode.ReadWrite;
            builder.Pooling = true;
            var blobs = new FileBlobStore(blobsPath, options.CompressionLevel);
            var store = new SqliteMailStore(fullPath, writer, builder.ToString(), blobs, options, logger)
            {
                SchemaVersion = SqliteSchema.CurrentVersion,
            };
            if (before != SqliteSchema.CurrentVersion)
            {
                LogMigrated(logger, fullPath, before, SqliteSchema.CurrentVersion);
            }

            LogOpened(logger, fullPath, SqliteSchema.CurrentVersion);
            store._writerLoop = Task.Run(store.WriterLoopAsync, CancellationToken.None);
            store._checkpointer = Task.Run(store.CheckpointerLoopAsync, CancellationToken.None);
            return Task.FromResult(store);
        }
        catch (SqliteException ex)
        {
            writer.Dispose();
            throw new StoreException($"cannot open the store database {fullPath}: {ex.Message}", ex);
        }
        catch
        {
            writer.Dispose();
            throw;
        }
    }

    public Task<IReadOnlyList<string>> CheckIntegrityAsync(CancellationToken ct = default) =>
        ReadAsync<IReadOnlyList<string>>(db =>
        {
            var problems = new List<string>();
            foreach (var line in db.Query("PRAGMA integrity_check", r => r.GetString(0)))
            {
                if (!string.Equals(line, "ok", StringComparison.Ordinal))
                {
                    problems.Add("integrity: " + line);
                }
            }

            foreach (var row in db.Query("PRAGMA foreign_key_check", r => $"foreign key: table {r.GetString(0)} row {(r.IsDBNull(1) ? "?" : r.GetInt64(1).ToString(System.Globalization.CultureInfo.InvariantCulture))} refers to a missing {r.GetString(2)} row"))
            {
                problems.Add(row);
            }

            foreach (var negative in db.Query("SELECT hash, refcount FROM blobs WHERE refcount < 0", r => $"blob {r.GetString(0)} has reference count {r.GetInt64(1)}"))
            {
                problems.Add(negative);
            }

            return problems;
        }, ct);

    /// <summary>
    /// Checks that every blob the database refers to is present (and, with <paramref name="full"/>, that its content
    /// still hashes to its name). Returns the hashes that are missing or damaged.
    /// </summary>
    public async Task<IReadOnlyList<string>> VerifyBlobsAsync(bool full, CancellationToken ct = default)
    {
        var hashes = await ReadAsync(db => db.Query("SELECT hash FROM blobs ORDER BY hash", r => r.GetString(0)), ct);
        var bad = new List<string>();
        foreach (var hash in hashes)
        {
            var ok = full ? await _blobs.VerifyAsync(hash, ct) : _blobs.Exists(hash);
            if (!ok)
            {
                bad.Add(hash);
            }
        }

        return bad;
    }

    /// <summary>
    /// Deletes blob files no database row refers to and not written for <paramref name="minAge"/> (bodies stored
    /// for a delivery that was then refused). The age keeps a body stored a moment ago, and not yet referenced,
    /// safe. Returns the number of files deleted.
    /// </summary>
    public Task<int> SweepOrphanBlobsAsync(TimeSpan minAge, CancellationToken ct = default) =>
        WriteAsync(op =>
        {
            // Runs on the writer so no reference can be added between the check and the delete.
            var deleted = 0;
            var cutoff = DateTime.UtcNow - minAge;
            foreach (var hash in _blobs.EnumerateHashes().ToList())
            {
                if (op.Db.Long("SELECT 1 FROM blobs WHERE hash = @h", ("@h", hash)) is null &&
                    File.GetLastWriteTimeUtc(_blobs.PathOf(hash)) < cutoff)
                {
                    _blobs.Delete(hash);
                    deleted++;
                }
            }

            return deleted;
        }, ct);

    public async ValueTask DisposeAsync()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        // Waiting texts stay in text_pending for the next start; the indexer stops after the write it is in.
        await _textIndexerStop.CancelAsync();
        await _textIndexer;
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _checkpointerStop.CancelAsync();
        await _checkpointer;
        _writes.Writer.TryComplete();
        await _writerLoop;
        try
        {
            Pragmas(_writer, "PRAGMA wal_checkpoint(PASSIVE);");
        }
        catch (SqliteException)
        {
            // Another process holds the database; the WAL is checkpointed by whoever closes last.
        }

        _writerStatements.Dispose();
        await _writer.DisposeAsync();
        _textIndexerStop.Dispose();
        _checkpointerStop.Dispose();
        using (var probe = new SqliteConnection(_readConnectionString))
        {
            SqliteConnection.ClearPool(probe);
        }
    }

    /// <summary>Writes queued and not yet picked up by the writer loop (tests use it to build a known batch).</summary>
    internal int PendingWriteCount => _writes.Reader.Count;

    /// <summary>Runs a read in a snapshot transaction on a pooled connection.</summary>
    internal Task<T> ReadAsync<T>(Func<Db, T> read, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        using var connection = new SqliteConnection(_readConnectionString);
        connection.Open();

        // The busy timeout belongs to the native connection, which the pool keeps open between reads: set it once
        // per native connection rather than on every read (it was one extra statement per read).
        if (connection.Handle is { } handle && !s_busyTimeoutSet.TryGetValue(handle, out _))
        {
            using (var pragma = connection.CreateCommand())
            {
                pragma.CommandText = $"PRAGMA busy_timeout = {BusyTimeoutMs}";
                pragma.ExecuteNonQuery();
            }

            s_busyTimeoutSet.AddOrUpdate(handle, s_marker);
        }

        using var transaction = connection.BeginTransaction(deferred: true);
        var result = read(new Db(connection, transaction));
        transaction.Commit();
        return Task.FromResult(result);
    }

    /// <summary>
    /// Queues a write for the writer loop; completes after the batch holding it is committed. A
    /// <paramref name="background"/> write (derived data such as the text index) waits until the store has had no other
    /// write for <see cref="BackgroundIdle"/>, or at most <see cref="MaxBackgroundWait"/>, so deliveries do not queue
    /// behind it while mail flows.
    /// </summary>
    internal async Task<T> WriteAsync<T>(Func<WriteOp, T> write, CancellationToken ct, bool background = false)
    {
        ct.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var pending = new PendingWrite<T>(write, background, ct);
        try
        {
            await _writes.Writer.WriteAsync(pending, ct);
        }
        catch (ChannelClosedException ex)
        {
            throw new ObjectDisposedException(nameof(SqliteMailStore), ex);
        }

        return await pending.Task;
    }

    private static void Pragmas(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA busy_timeout = {BusyTimeoutMs}; " + sql;
        command.ExecuteNonQuery();
    }

    /// <summary>Liveness of the writer for the health model (set by the server; null in tools and tests).</summary>
    public WorkerHeartbeat? Liveness { get; set; }

    /// <summary>How often the idle writer still beats, so an idle store is not taken for a stalled one.</summary>
    public static readonly TimeSpan WriterIdleBeat = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Longest a background write waits for a quiet moment before it runs anyway (so it is never starved). Such a write
    /// holds up the deliveries of its batch, so it does little each time (<see cref="WriteOp.Starved"/>): a short wait
    /// with a small piece of work spreads the delay over many batches instead of stalling every connection at once.
    /// </summary>
    internal static readonly TimeSpan DefaultMaxBackgroundWait = TimeSpan.FromMilliseconds(250);

    /// <summary><see cref="DefaultMaxBackgroundWait"/>; tests lengthen it to watch the quiet-moment rule alone.</summary>
    internal TimeSpan MaxBackgroundWait { get; set; } = DefaultMaxBackgroundWait;

    /// <summary>
    /// How long the store must have had no other write before a background write runs: longer than the gaps between
    /// writes under load (a few milliseconds at hundreds of messages a second), short enough that a server receiving a
    /// few messages a second indexes them in between.
    /// </summary>
    internal static readonly TimeSpan BackgroundIdle = TimeSpan.FromMilliseconds(50);

    private async Task WriterLoopAsync()
    {
        var batch = new List<PendingWrite>(_maxBatch);
        var background = new Queue<PendingWrite>();
        var backgroundSince = 0L;
        var lastForeground = 0L;
        var reader = _writes.Reader;
        var lastFailed = false;
        while (background.Count > 0 || await WaitForWritesAsync(reader, () => lastFailed))
        {
            batch.Clear();
            while (batch.Count < _maxBatch && reader.TryRead(out var pending))
            {
                if (pending.CancellationToken.IsCancellationRequested)
                {
                    pending.Fail(new OperationCanceledException(pending.CancellationToken));
                    continue;
                }

                if (pending.Background)
                {
                    if (background.Count == 0)
                    {
                        backgroundSince = Stopwatch.GetTimestamp();
                    }

                    background.Enqueue(pending);
                    continue;
                }

                batch.Add(pending);
            }

            var foreground = batch.Count > 0;
            if (background.Count > 0)
            {
                // The loop does not pass through WaitForWritesAsync while background work waits (a text-index backlog
                // under steady mail can last long): other processes' commits are still looked for (every 2 s at most).
                CheckOtherProcessesWrites();
            }

            // Background work runs after a quiet moment (in its own transaction), or with the next batch once it has
            // waited long enough that a steady stream of writes would otherwise starve it. Until then the writer
            // waits for the next write or for that moment.
            if (background.Count > 0)
            {
                var starved = Stopwatch.GetElapsedTime(backgroundSince) >= MaxBackgroundWait;
                var quiet = batch.Count == 0 && (Stopwatch.GetElapsedTime(lastForeground) >= BackgroundIdle || reader.Completion.IsCompleted);
                if (starved || quiet)
                {
                    var next = background.Dequeue();
                    if (next.CancellationToken.IsCancellationRequested)
                    {
                        next.Fail(new OperationCanceledException(next.CancellationToken));
                    }
                    else
                    {
                        next.Starved = !quiet;
                        batch.Add(next);
                    }

                    backgroundSince = Stopwatch.GetTimestamp();
                }
                else if (batch.Count == 0)
                {
                    var untilQuiet = BackgroundIdle - Stopwatch.GetElapsedTime(lastForeground);
                    var untilStarved = MaxBackgroundWait - Stopwatch.GetElapsedTime(backgroundSince);
                    await WaitForWriteOrDelayAsync(reader, untilQuiet < untilStarved ? untilQuiet : untilStarved);
                    continue;
                }
            }

            if (batch.Count > 0)
            {
                var commits = Interlocked.Read(ref _commitCount);
                try
                {
                    FinishCheckpointOnWriter();
                    RunBatch(batch);
                }
                catch (Exception ex)
                {
                    // A bug here must not stop the only writer: every later write would wait forever.
                    LogWriteFailed(_logger, batch.Count, ex);
                    FailAll(batch, new StoreException($"the store write failed: {ex.Message}", ex));
                }

                if (foreground)
                {
                    // The quiet moment a background write waits for is counted from the end of the last other write.
                    lastForeground = Stopwatch.GetTimestamp();
                }

                lastFailed = Interlocked.Read(ref _commitCount) == commits;
                if (lastFailed)
                {
                    Liveness?.Failed(new StoreException($"a batch of {batch.Count} writes could not be committed (the log has the cause)"));
                }
                else
                {
                    Liveness?.Beat(reader.Count);
                }
            }
        }

        Liveness?.Stop();
    }

    /// <summary>Waits until a write can be read or <paramref name="delay"/> has passed, whichever comes first.</summary>
    private static async Task WaitForWriteOrDelayAsync(ChannelReader<PendingWrite> reader, TimeSpan delay)
    {
        if (delay <= TimeSpan.Zero)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(delay);
        try
        {
            await reader.WaitToReadAsync(timeout.Token);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            // The quiet moment (or the longest wait) has come.
        }
    }

    /// <summary>How often the writer looks for commits by another process while mailboxes are watched.</summary>
    public static readonly TimeSpan OtherProcessCheckInterval = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Waits for writes, beating every <see cref="WriterIdleBeat"/> meanwhile unless the last batch failed, and
    /// checking for other processes' writes every <see cref="OtherProcessCheckInterval"/> while anyone watches.
    /// </summary>
    private async ValueTask<bool> WaitForWritesAsync(ChannelReader<PendingWrite> reader, Func<bool> lastFailed)
    {
        CheckOtherProcessesWrites();
        var ready = reader.WaitToReadAsync();
        if (ready.IsCompleted)
        {
            return await ready;
        }

        var waiting = ready.AsTask();
        var lastBeat = 0L;
        while (!waiting.IsCompleted)
        {
            if (Liveness is { } liveness && !lastFailed() && Stopwatch.GetElapsedTime(lastBeat) >= WriterIdleBeat)
            {
                liveness.Beat(0);
                lastBeat = Stopwatch.GetTimestamp();
            }

            await Task.WhenAny(waiting, Task.Delay(Liveness is null || Changes.HasSubscribers ? OtherProcessCheckInterval : WriterIdleBeat));
            CheckOtherProcessesWrites();
        }

        return await waiting;
    }

    /// <summary>
    /// Publishes the changes another process committed (the admin CLI restoring or importing into a live server), so
    /// sessions in IDLE hear of them as they hear of this process's own writes. SQLite's data_version on the writer
    /// connection moves only when ANOTHER connection commits, and every write of this process goes through the
    /// writer, so one cheap pragma every <see cref="OtherProcessCheckInterval"/> replaces a poll per IMAP session.
    /// Runs on the writer loop only (it owns the connection).
    /// </summary>
    private void CheckOtherProcessesWrites()
    {
        if (Stopwatch.GetElapsedTime(_lastOtherProcessCheck) < OtherProcessCheckInterval)
        {
            return;
        }

        _lastOtherProcessCheck = Stopwatch.GetTimestamp();
        try
        {
            using var command = _writer.CreateCommand();
            command.CommandText = "PRAGMA data_version";
            var version = (long)command.ExecuteScalar()!;
            if (version == _dataVersion)
            {
                return;
            }

            var first = _dataVersion is null;
            _dataVersion = version;
            var watched = Changes.WatchedMailboxes();
            if (first || watched.Count == 0)
            {
                // The first look (at open) is the baseline; with nobody watching there is nobody to tell.
                _watchedModSeqs = [];
                return;
            }

            // Only the watched mailboxes whose modseq moved since the last look (or that are gone) are woken.
            command.CommandText = "SELECT id, highest_modseq FROM mailboxes WHERE id IN (SELECT value FROM json_each(@ids))";
            command.Parameters.AddWithValue("@ids", Columns.JsonArray(watched));
            var now = new Dictionary<long, long>(watched.Count);
            using (var rows = command.ExecuteReader())
            {
                while (rows.Read())
                {
                    now[rows.GetInt64(0)] = rows.GetInt64(1);
                }
            }

            foreach (var mailboxId in watched)
            {
                var moved = !now.TryGetValue(mailboxId, out var modSeq) || !_watchedModSeqs.TryGetValue(mailboxId, out var known) || known != modSeq;
                if (moved)
                {
                    Changes.Publish(mailboxId);
                }
            }

            _watchedModSeqs = now;
        }
        catch (Exception ex) when (ex is SqliteException or InvalidOperationException)
        {
            // A busy or failing database is reported by the writes themselves; sessions re-read at their next command.
            LogWriteFailed(_logger, 0, ex);
        }
    }

    private void RunBatch(List<PendingWrite> batch)
    {
        SqliteTransaction transaction;
        try
        {
            transaction = _writer.BeginTransaction(deferred: false);
        }
        catch (Exception ex)
        {
            LogWriteFailed(_logger, batch.Count, ex);
            FailAll(batch, new StoreException($"the store cannot start a write transaction: {ex.Message}", ex));
            return;
        }

        using (transaction)
        {
            var db = new Db(_writer, transaction, _writerStatements);
            var now = DateTimeOffset.UtcNow;
            var succeeded = new List<(PendingWrite Write, WriteOp Op)>(batch.Count);
            for (var i = 0; i < batch.Count; i++)
            {
                var pending = batch[i];
                var op = new WriteOp(db, now, _blobs) { Starved = pending.Starved };
                try
                {
                    transaction.Save("op");
                }
                catch (Exception ex)
                {
                    AbortBatch(transaction, batch, ex);
                    return;
                }

                try
                {
                    pending.Run(op);
                    transaction.Release("op");
                    succeeded.Add((pending, op));
                }
                catch (Exception ex)
                {
                    try
                    {
                        transaction.Rollback("op");
                        transaction.Release("op");
                    }
                    catch (Exception rollbackError)
                    {
                        // SQLite aborted the whole transaction (disk full, I/O error): nothing of the batch stands.
                        AbortBatch(transaction, batch, rollbackError);
                        return;
                    }

                    pending.Fail(Translate(ex));
                }
            }

            var released = new HashSet<long>();
            var changed = new HashSet<long>();
            var textListed = false;
            foreach (var (_, op) in succeeded)
            {
                released.UnionWith(op.ReleasedBlobs);
                changed.UnionWith(op.ChangedMailboxes);
                textListed |= op.TextListed;
            }

            var deleteFiles = new List<string>();
            try
            {
                foreach (var blobId in released)
                {
                    var hash = db.Text("DELETE FROM blobs WHERE id = @id AND refcount <= 0 RETURNING hash", ("@id", blobId));
                    if (hash is not null)
                    {
                        db.Exec("DELETE FROM message_text WHERE rowid = @id", ("@id", blobId));
                        db.Exec("DELETE FROM text_pending WHERE blob_id = @id", ("@id", blobId));
                        deleteFiles.Add(hash);
                    }
                }

                // Bodies stored for this commit (PutForCommitAsync) become durable before any row of it can refer to
                // them: every operation of the batch was queued after its put returned. A failed sync fails the batch.
                _blobs.SyncPending();
                transaction.Commit();
            }
            catch (Exception ex)
            {
                LogWriteFailed(_logger, batch.Count, ex);
                var error = new StoreException($"the store could not commit: {ex.Message}", ex);
                foreach (var (write, _) in succeeded)
                {
                    write.Fail(error);
                }

                return;
            }

            Interlocked.Increment(ref _commitCount);
            Interlocked.Add(ref _writeOperationCount, succeeded.Count);
            RempartMetrics.StoreCommitBatch.Observe(succeeded.Count);

            DeleteUnreferencedFiles(deleteFiles);
            if (textListed)
            {
                // Committed, so the indexer's next read sees the new text_pending rows.
                WakeTextIndexer();
            }

            foreach (var mailboxId in changed)
            {
                try
                {
                    Changes.Publish(mailboxId);
                }
                catch (Exception ex)
                {
                    // A faulty subscriber must not stop the writer; sessions re-read the store anyway.
                    LogWriteFailed(_logger, 0, ex);
                }
            }

            foreach (var (write, _) in succeeded)
            {
                write.Complete();
            }
        }
    }

    /// <summary>
    /// Deletes the files of blobs whose last reference went away in the batch just committed. It holds the write
    /// lock while doing so and re-checks each hash: another process (the admin CLI) may have referred to the same
    /// content again between our commit and now, and it checks the file exists before inserting its row.
    /// </summary>
    private void DeleteUnreferencedFiles(List<string> hashes)
    {
        if (hashes.Count == 0)
        {
            return;
        }

        try
        {
            using var transaction = _writer.BeginTransaction(deferred: false);
            var db = new Db(_writer, transaction);
            foreach (var hash in hashes)
            {
                if (db.Long("SELECT 1 FROM blobs WHERE hash = @h", ("@h", hash)) is null)
                {
                    _blobs.Delete(hash);
                }
            }

            transaction.Rollback();
        }
        catch (SqliteException ex)
        {
            // Leaving a file behind only wastes space until the next orphan sweep.
            LogWriteFailed(_logger, 0, ex);
        }
    }

    private void AbortBatch(SqliteTransaction transaction, List<PendingWrite> batch, Exception ex)
    {
        LogWriteFailed(_logger, batch.Count, ex);
        try
        {
            transaction.Rollback();
        }
        catch (SqliteException)
        {
            // Already rolled back by SQLite.
        }

        FailAll(batch, new StoreException($"the store write failed: {ex.Message}", ex));
    }

    private static void FailAll(List<PendingWrite> batch, Exception ex)
    {
        foreach (var pending in batch)
        {
            pending.Fail(ex);
        }
    }

    /// <summary>Constraint violations are caller errors (duplicates), reported as <see cref="StoreException"/>.</summary>
    private static Exception Translate(Exception ex) => ex switch
    {
        SqliteException { SqliteErrorCode: 19 } sqlite => new StoreException($"the change conflicts with existing data: {sqlite.Message}", sqlite),
        _ => ex,
    };

    [LoggerMessage(EventId = (int)EventIds.StoreOpened, Level = LogLevel.Information, Message = "Store opened: {Path} (schema version {Version})")]
    private static partial void LogOpened(ILogger logger, string path, int version);

    [LoggerMessage(EventId = (int)EventIds.StoreMigrated, Level = LogLevel.Information, Message = "Store {Path} migrated from schema version {From} to {To}")]
    private static partial void LogMigrated(ILogger logger, string path, int from, int to);

    [LoggerMessage(EventId = (int)EventIds.StoreWriteFailed, Level = LogLevel.Error, Message = "Store write batch of {Count} operations failed")]
    private static partial void LogWriteFailed(ILogger logger, int count, Exception exception);

    /// <summary>One queued write, completed by the writer loop after its batch commits.</summary>
    private abstract class PendingWrite(bool background, CancellationToken ct)
    {
        public CancellationToken CancellationToken { get; } = ct;

        public bool Background { get; } = background;

        /// <summary>Set by the writer loop: this background write runs before its quiet moment came (see <see cref="WriteOp.Starved"/>).</summary>
        public bool Starved { get; set; }

        public abstract void Run(WriteOp op);

        public abstract void Complete();

        public abstract void Fail(Exception ex);
    }

    private sealed class PendingWrite<T>(Func<WriteOp, T> body, bool background, CancellationToken ct) : PendingWrite(background, ct)
    {
        // Continuations must not run on the writer loop's thread.
        private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private T? _result;

        public Task<T> Task => _completion.Task;

        public override void Run(WriteOp op) => _result = body(op);

        public override void Complete() => _completion.TrySetResult(_result!);

        public override void Fail(Exception ex) => _completion.TrySetException(ex);
    }
}

/// <summary>What one write operation sees: the batch's transaction and the side effects to apply after commit.</summary>
internal sealed class WriteOp(Db db, DateTimeOffset now, FileBlobStore blobs)
{
    public Db Db => db;

    public DateTimeOffset Now => now;

    public FileBlobStore Blobs => blobs;

    public HashSet<long> ChangedMailboxes { get; } = [];

    public HashSet<long> ReleasedBlobs { get; } = [];

    /// <summary>
    /// A background write that runs before its quiet moment came, in a batch with other writes that wait for it: it
    /// should do only a small part of its work and leave the rest for later.
    /// </summary>
    public bool Starved { get; init; }

    /// <summary>The write listed a body for the text index: the indexer is woken after the commit.</summary>
    public bool TextListed { get; set; }

    /// <summary>
    /// Adds a reference to a stored blob, creating its row (the file must already be durable, or stored by
    /// <see cref="IBlobStore.PutForCommitAsync"/>: the batch syncs it before it commits).
    /// </summary>
    public long AddBlobRef(BlobRef blob)
    {
        var id = db.Long("UPDATE blobs SET refcount = refcount + 1 WHERE hash = @h RETURNING id", ("@h", blob.Hash));
        if (id is { } existing)
        {
            return existing;
        }

        // A row is only created for a file that exists: a body deleted by an earlier commit must be stored again.
        if (!blobs.Exists(blob.Hash))
        {
            throw new StoreException($"blob {blob.Hash} is not in the blob store: store the content (again) before referring to it");
        }

        return db.Long("INSERT INTO blobs(hash, size, refcount) VALUES(@h, @s, 1) RETURNING id", ("@h", blob.Hash), ("@s", blob.Size))!.Value;
    }

    /// <summary>Drops a reference; the row and file go after commit when nothing refers to them.</summary>
    public void ReleaseBlob(long blobId)
    {
        db.Exec("UPDATE blobs SET refcount = refcount - 1 WHERE id = @id", ("@id", blobId));
        ReleasedBlobs.Add(blobId);
    }
}
