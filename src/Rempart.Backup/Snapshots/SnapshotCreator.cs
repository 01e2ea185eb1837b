using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Microsoft.Data.Sqlite;
using Rempart.Backup.Repository;
using Rempart.Store.Blobs;
using Rempart.Store.Sqlite;

namespace Rempart.Backup.Snapshots;

/// <summary>Progress of a running backup, for a progress bar.</summary>
public readonly record struct BackupProgress(string Phase, long Done, long Total);

/// <summary>
/// Takes a consistent snapshot of a running server's data folder: the SQLite online backup API copies the database
/// (a consistent point in time even while mail is delivered), then the blobs that copy references are read from the
/// blob store. Blobs are content-addressed and never modified, so reading them after the copy is consistent; one
/// deleted in between (its last message expunged) is reported, not fatal.
/// </summary>
public sealed class SnapshotCreator(BackupRepository repository, TimeProvider time)
{
    /// <summary>Folders of the data folder copied whole when present (certificates, DKIM keys, spam models, IP reputation).</summary>
    public static readonly IReadOnlyList<string> ExtraFolders = ["tls", "dkim", "spam", "protection"];

    public const string DatabaseName = "rempart.db";
    public const string ConfigName = "rempart.json";

    public async Task<SnapshotManifest> CreateAsync(string dataDir, string? configPath, string? tag, IProgress<BackupProgress>? progress, CancellationToken ct)
    {
        var started = Stopwatch.StartNew();
        var data = Path.GetFullPath(dataDir);
        var database = Path.Combine(data, DatabaseName);
        if (!File.Exists(database))
        {
            throw new BackupException($"no Rempart data in {data} ({DatabaseName} is missing); pass --data DIR");
        }

        repository.Lock(exclusive: false);
        var previous = repository.ReadLatestSnapshot(kind: "server");

        // Started now, awaited before the bodies: the previous index (its blobs section) and which chunks exist, from
        // one listing rather than a stat per chunk of the previous snapshot (prune, which could remove some, takes the
        // exclusive lock, so the listing holds for the whole run). Both overlap with the database copy below.
        var knownTask = Task.Run(() => previous?.Blobs.ToDictionary(b => b.Hash, StringComparer.Ordinal) ?? [], ct);
        var presentTask = Task.Run(() => previous is null ? [] : repository.ListChunkIds().ToHashSet(StringComparer.Ordinal), ct);
        var stats = new SnapshotStats();
        var work = Path.Combine(Path.GetTempPath(), "rempart-backup-" + Guid.NewGuid().ToString("N"));
        NativeFileSystem.CreatePrivateDirectory(work);
        try
        {
            progress?.Report(new BackupProgress("database", 0, 1));
            var copy = Path.Combine(work, DatabaseName);
            CopyDatabase(database, copy);
            var catalog = ReadCatalog(copy);
            var files = new List<FileEntry> { await StoreFileAsync(copy, DatabaseName, stats, ct) };

            var known = await knownTask;
            var present = await presentTask;
            var blobsRoot = Path.Combine(data, "blobs");
            var entries = new ConcurrentDictionary<string, BlobEntry>(StringComparer.Ordinal);
            var missing = new ConcurrentBag<string>();
            long done = 0;
            var total = catalog.BlobHashes.Count;
            progress?.Report(new BackupProgress("messages", 0, total));
            await Parallel.ForEachAsync(
                catalog.BlobHashes,
                new ParallelOptions { CancellationToken = ct, MaxDegreeOfParallelism = BackupRepository.IoParallelism },
                async (hash, token) =>
                {
                    var entry = await StoreBlobAsync(blobsRoot, hash, known, present, stats, token);
                    if (entry is null)
                    {
                        missing.Add(hash);
                    }
                    else
                    {
                        entries[hash] = entry;
                    }

                    var n = Interlocked.Increment(ref done);
                    if (n % 64 == 0 || n == total)
                    {
                        progress?.Report(new BackupProgress("messages", n, total));
                    }
                });

            progress?.Report(new BackupProgress("files", 0, 1));
            var config = configPath ?? Path.Combine(data, ConfigName);
            if (File.Exists(config))
            {
                files.Add(await StoreFileAsync(config, ConfigName, stats, ct));
            }

            foreach (var folder in ExtraFolders)
            {
                var root = Path.Combine(data, folder);
                if (!Directory.Exists(root))
                {
                    continue;
                }

                foreach (var file in Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                {
                    var relative = Path.GetRelativePath(data, file).Replace(Path.DirectorySeparatorChar, '/');
                    files.Add(await StoreFileAsync(file, relative, stats, ct));
                }
            }

            stats.Files = files.Count;
            stats.Blobs = entries.Count;
            stats.Messages = catalog.Messages.Count;
            stats.MissingBlobs.AddRange(missing.Order(StringComparer.Ordinal));
            stats.DurationSeconds = started.Elapsed.TotalSeconds;
            var manifest = new SnapshotManifest
            {
                Id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)),
                Time = time.GetUtcNow(),
                Host = Environment.MachineName,
                Tag = tag,
                Files = files,
                Blobs = [.. entries.Values.OrderBy(b => b.Hash, StringComparer.Ordinal)],
                Accounts = catalog.Accounts,
                Mailboxes = catalog.Mailboxes,
                Messages = catalog.Messages,
                Stats = stats,
            };

            // Last, once every chunk it names is durable: a crash before this line leaves no snapshot, only reusable chunks.
            repository.WriteSnapshot(manifest);
            progress?.Report(new BackupProgress("done", 1, 1));
            return manifest;
        }
        catch
        {
            // A failed run (full disk, cancellation) keeps the chunks it wrote, so the next run continues from them.
            SalvageWrittenChunks();
            throw;
        }
        finally
        {
            try
            {
                Directory.Delete(work, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private void SalvageWrittenChunks()
    {
        try
        {
            repository.CommitPending();
        }
        catch (IOException)
        {
            // The disk refuses even this; the chunks stay in tmp/ and are swept, the next run writes them again.
        }
    }

    /// <summary>The database and what the catalog needs from it.</summary>
    internal sealed record Catalog(List<AccountEntry> Accounts, List<MailboxEntry> Mailboxes, List<MessageEntry> Messages, List<string> BlobHashes);

    /// <summary>
    /// A consistent copy of the live database while writers continue, without the derived full-text index (most of the
    /// database, rebuilt from the blobs when a restored server starts): see <see cref="SqliteBackupCopy"/>.
    /// </summary>
    internal static void CopyDatabase(string source, string destination) => SqliteBackupCopy.Copy(source, destination);

    internal static Catalog ReadCatalog(string database)
    {
        var cs = new SqliteConnectionStringBuilder { DataSource = database, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString();
        using var db = new SqliteConnection(cs);
        db.Open();
        var accounts = new List<AccountEntry>();
        using (var c = db.CreateCommand())
        {
            c.CommandText = "SELECT id, address FROM accounts ORDER BY id";
            using var r = c.ExecuteReader();
            while (r.Read())
            {
                accounts.Add(new AccountEntry(r.GetInt64(0), r.GetString(1)));
            }
        }

        var mailboxes = new List<MailboxEntry>();
        using (var c = db.CreateCommand())
        {
            c.CommandText = "SELECT id, account_id, name, special_use, uid_validity, uid_next FROM mailboxes ORDER BY id";
            using var r = c.ExecuteReader();
            while (r.Read())
            {
                mailboxes.Add(new MailboxEntry(r.GetInt64(0), r.GetInt64(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3), r.GetInt64(4), r.GetInt64(5)));
            }
        }

        var messages = new List<MessageEntry>();
        using (var c = db.CreateCommand())
        {
            c.CommandText = """
                SELECT m.mailbox_id, m.uid, b.hash, m.size, m.internal_date, m.flags, mm.message_id
                FROM messages m JOIN blobs b ON b.id = m.blob_id LEFT JOIN message_meta mm ON mm.blob_id = m.blob_id
                ORDER BY m.mailbox_id, m.uid
                """;
            using var r = c.ExecuteReader();
            while (r.Read())
            {
                messages.Add(new MessageEntry(r.GetInt64(0), r.GetInt64(1), r.GetString(2), r.GetInt64(3), r.GetInt64(4), r.GetString(5), r.IsDBNull(6) ? null : r.GetString(6)));
            }
        }

        var blobs = new List<string>();
        using (var c = db.CreateCommand())
        {
            // Every blob row: messages and queued outbound mail both reference them.
            c.CommandText = "SELECT hash FROM blobs ORDER BY hash";
            using var r = c.ExecuteReader();
            while (r.Read())
            {
                blobs.Add(r.GetString(0));
            }
        }

        return new Catalog(accounts, mailboxes, messages, blobs);
    }

    /// <summary>
    /// A body's file for reading: at its place in the current layout, or in layout 1 when the data folder has not been
    /// opened by this version yet (the server moves the files at its next start); throws FileNotFoundException when
    /// it is in neither.
    /// </summary>
    private static Microsoft.Win32.SafeHandles.SafeFileHandle OpenBlobFile(string blobsRoot, string hash)
    {
        try
        {
            return File.OpenHandle(FileBlobStore.PathIn(blobsRoot, hash), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.None);
        }
        catch (Exception ex) when ((ex is FileNotFoundException or DirectoryNotFoundException) && !File.Exists(Path.Combine(blobsRoot, FileBlobStore.LayoutFile)))
        {
            return File.OpenHandle(FileBlobStore.LegacyPathIn(blobsRoot, hash), FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, FileOptions.None);
        }
    }

    private async Task<BlobEntry?> StoreBlobAsync(string blobsRoot, string hash, Dictionary<string, BlobEntry> known, HashSet<string> present, SnapshotStats stats, CancellationToken ct)
    {
        if (!FileBlobStore.IsValidHash(hash))
        {
            return null;
        }

        // Incremental: a blob in the previous snapshot is immutable, so it is not read again.
        if (known.TryGetValue(hash, out var previous) && previous.Chunks.All(present.Contains))
        {
            Interlocked.Add(ref stats.TotalBytesField, previous.Size);
            Interlocked.Add(ref stats.DeduplicatedBytesField, previous.Size);
            return previous;
        }

        // Read into a pooled buffer: most bodies are small, and a fresh array per body would be garbage at once.
        byte[] buffer;
        int length;
        try
        {
            using var file = OpenBlobFile(blobsRoot, hash);
            var size = RandomAccess.GetLength(file);
            if (size > int.MaxValue)
            {
                throw new BackupException($"message body {hash[..16]} is {size} bytes, above the 2 GiB a body may have");
            }

            buffer = System.Buffers.ArrayPool<byte>.Shared.Rent((int)size);
            length = 0;
            try
            {
                int n;
                while (length < size && (n = await RandomAccess.ReadAsync(file, buffer.AsMemory(length, (int)size - length), length, ct)) > 0)
                {
                    length += n;
                }
            }
            catch
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                throw;
            }
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }

        try
        {
            Interlocked.Add(ref stats.ReadBytesField, length);
            Interlocked.Add(ref stats.TotalBytesField, length);

            // Blob files are already zstd frames: compressing again would cost time for nothing.
            var chunks = StoreBytes(buffer.AsSpan(0, length), compress: false, stats);
            return new BlobEntry(hash, length, chunks);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private List<string> StoreBytes(ReadOnlySpan<byte> content, bool compress, SnapshotStats stats)
    {
        var chunks = new List<string>();
        while (!content.IsEmpty)
        {
            var length = repository.Chunker.Cut(content);
            AddChunk(content[..length], compress, stats, chunks);
            content = content[length..];
        }

        return chunks;
    }

    private void AddChunk(ReadOnlySpan<byte> chunk, bool compress, SnapshotStats stats, List<string> chunks)
    {
        var (id, written) = repository.PutChunk(chunk, compress);
        chunks.Add(id);
        if (written > 0)
        {
            Interlocked.Increment(ref stats.NewChunksField);
            Interlocked.Add(ref stats.NewBytesField, written);
        }
        else
        {
            Interlocked.Add(ref stats.DeduplicatedBytesField, chunk.Length);
        }
    }

    private async Task<FileEntry> StoreFileAsync(string path, string name, SnapshotStats stats, CancellationToken ct)
    {
        var chunks = new List<string>();
        long size = 0;
        await using (var input = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan))
        {
            await repository.Chunker.ChunkAsync(
                input,
                chunk =>
                {
                    size += chunk.Length;
                    AddChunk(chunk.Span, compress: true, stats, chunks);
                    return Task.CompletedTask;
                },
                ct);
        }

        Interlocked.Add(ref stats.ReadBytesField, size);
        Interlocked.Add(ref stats.TotalBytesField, size);
        var mode = OperatingSystem.IsWindows() ? 0x1A4 : (int)File.GetUnixFileMode(path);
        return new FileEntry(name, size, mode, chunks);
    }

    /// <summary>Formats a byte count for summaries.</summary>
    public static string FormatBytes(long bytes) => bytes switch
    {
        < 1024 => bytes.ToString(CultureInfo.InvariantCulture) + " B",
        < 1024 * 1024 => (bytes / 1024.0).ToString("0.0", CultureInfo.InvariantCulture) + " KiB",
        < 1024L * 1024 * 1024 => (bytes / (1024.0 * 1024)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB",
        _ => (bytes / (1024.0 * 1024 * 1024)).ToString("0.00", CultureInfo.InvariantCulture) + " GiB",
    };
}
