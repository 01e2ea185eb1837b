using System.Text;
using Rempart.Backup.Snapshots;
using Rempart.Store.Blobs;

namespace Rempart.Backup.Repository;

/// <summary>
/// A backup repository folder (docs/backup-format.md):
/// <code>
/// config                 plaintext settings + wrapped master key (RepositoryConfig)
/// data/ab/abcd...        one encrypted chunk per file, named by its keyed id
/// snapshots/0123...      one encrypted manifest per snapshot, random name
/// tmp/                   files being written; renamed into place once fsynced
/// lock                   flock'ed: shared by writers, exclusive by prune
/// </code>
/// Every write goes to tmp, is made durable, renamed into place, and its folder fsynced. New chunks are made durable
/// in batches (<see cref="CommitPending"/>): written to tmp without a flush, then one syncfs for the batch, then
/// renamed into data/ and the touched folders fsynced; until then they are invisible (a crash leaves only tmp files).
/// A snapshot's manifest is written only after all its chunks are committed, so a crash leaves at worst unreferenced
/// chunks, which the next run reuses (same content, same id) and prune removes.
/// </summary>
public sealed class BackupRepository : IDisposable
{
    public const string ConfigFile = "config";
    public const string DataFolder = "data";
    public const string SnapshotsFolder = "snapshots";
    public const string TmpFolder = "tmp";
    public const string LockFile = "lock";

    /// <summary>
    /// Blobs read or written at once by backup and restore: a few per core, so reads and writes waiting on the disk
    /// overlap with hashing, compression and encryption on the others.
    /// </summary>
    public static int IoParallelism => Math.Clamp(Environment.ProcessorCount * 2, 4, 16);

    /// <summary>New chunk bytes written to tmp before a batch is committed (bounds what a crash makes a run redo).</summary>
    public const long BatchBytes = 32L * 1024 * 1024;

    private static readonly TimeSpan StaleTempAge = TimeSpan.FromHours(1);

    private readonly Lock _commitGate = new();
    private readonly Lock _commitSerial = new();
    private System.Collections.Concurrent.ConcurrentDictionary<string, string> _pending = new(StringComparer.Ordinal);
    private long _pendingBytes;
    private FileStream? _lock;

    private BackupRepository(string root, RepositoryConfig config, RepositoryKeys keys)
    {
        Root = root;
        Config = config;
        Keys = keys;
        Chunker = new Chunker(config.Chunker, keys.GearKey);
    }

    public string Root { get; }

    public RepositoryConfig Config { get; }

    public RepositoryKeys Keys { get; }

    public Chunker Chunker { get; }

    /// <summary>Set by a client that must never delete (in addition to the repository's own setting).</summary>
    public bool ClientAppendOnly { get; set; }

    public bool AppendOnly => Config.AppendOnly || ClientAppendOnly;

    /// <summary>Test hook: called before each file write, to inject a failure such as a full disk.</summary>
    internal Action<string>? BeforeWrite { get; set; }

    /// <summary>Creates a repository in an empty (or missing) folder.</summary>
    public static BackupRepository Init(string path, ReadOnlySpan<byte> passphrase, bool appendOnly, DateTimeOffset now, KdfParameters? kdf = null, ChunkerParameters? chunker = null)
    {
        var root = Path.GetFullPath(path);
        if (File.Exists(root))
        {
            throw new BackupException($"{root} is a file; give a folder for the backup repository");
        }

        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
        {
            throw new BackupException(File.Exists(Path.Combine(root, ConfigFile))
                ? $"{root} already holds a backup repository; use it as it is (rempart backup create --repo {root})"
                : $"{root} is not empty; give an empty or new folder for the backup repository");
        }

        var (config, keys) = RepositoryConfig.Create(passphrase, appendOnly, kdf ?? KdfParameters.Default, chunker ?? ChunkerParameters.Default, now);
        NativeFileSystem.CreatePrivateDirectory(root);
        foreach (var sub in new[] { DataFolder, SnapshotsFolder, TmpFolder })
        {
            Directory.CreateDirectory(Path.Combine(root, sub));
        }

        var repo = new BackupRepository(root, config, keys);
        repo.WriteAtomic(Path.Combine(root, ConfigFile), Encoding.UTF8.GetBytes(config.ToJson()), overwrite: false);
        NativeFileSystem.FsyncDirectory(root);
        return repo;
    }

    /// <summary>Opens and unlocks a repository; <see cref="WrongPassphraseException"/> for a wrong passphrase.</summary>
    public static BackupRepository Open(string path, ReadOnlySpan<byte> passphrase)
    {
        var root = Path.GetFullPath(path);
        var configPath = Path.Combine(root, ConfigFile);
        if (!File.Exists(configPath))
        {
            throw new BackupException(Directory.Exists(root)
                ? $"{root} is not a backup repository (no config file); create one with: rempart backup init --repo {root}"
                : $"no backup repository at {root}; create one with: rempart backup init --repo {root}");
        }

        var config = RepositoryConfig.Parse(File.ReadAllText(configPath), configPath);
        var keys = config.Unlock(passphrase, root);
        var repo = new BackupRepository(root, config, keys);
        Directory.CreateDirectory(repo.DataPath);
        Directory.CreateDirectory(repo.SnapshotsPath);
        Directory.CreateDirectory(repo.TmpPath);
        return repo;
    }

    public string DataPath => Path.Combine(Root, DataFolder);

    public string SnapshotsPath => Path.Combine(Root, SnapshotsFolder);

    public string TmpPath => Path.Combine(Root, TmpFolder);

    /// <summary>
    /// Takes the repository lock: shared for writers (several backups may run), exclusive for prune, which deletes
    /// chunks that a running backup might be about to reference. flock is released by the kernel if the process dies.
    /// </summary>
    public void Lock(bool exclusive)
    {
        if (_lock is not null)
        {
            return;
        }

        try
        {
            _lock = new FileStream(Path.Combine(Root, LockFile), FileMode.OpenOrCreate, FileAccess.ReadWrite, exclusive ? FileShare.None : FileShare.ReadWrite);
        }
        catch (IOException ex)
        {
            throw new BackupException(exclusive
                ? $"the repository {Root} is in use by a running backup; prune again when it has finished"
                : $"the repository {Root} is being pruned; try again when prune has finished", ex);
        }
    }

    public string ChunkPath(string id) => Path.Combine(DataPath, id[..2], id);

    /// <summary>True when the chunk is in data/ or written by this process and waiting for its batch commit.</summary>
    /// <remarks>Read without the gate: a miss during a commit only costs a duplicate write, dropped at commit.</remarks>
    public bool HasChunk(string id) => _pending.ContainsKey(id) || File.Exists(ChunkPath(id));

    /// <summary>
    /// Stores a chunk unless one with the same id exists. Returns its id and the bytes written (0 when deduplicated).
    /// The chunk is durable and visible only after the next <see cref="CommitPending"/> (at the latest, before a
    /// snapshot manifest is written).
    /// </summary>
    public (string Id, long Written) PutChunk(ReadOnlySpan<byte> plaintext, bool compress)
    {
        var id = Keys.ChunkId(plaintext);
        if (HasChunk(id))
        {
            return (id, 0);
        }

        var (sealedBuffer, sealedLength) = Keys.SealPooled(plaintext, RepositoryKeys.ChunkAd(id), compress);
        BeforeWrite?.Invoke(ChunkPath(id));
        var tmp = Path.Combine(TmpPath, Guid.NewGuid().ToString("N"));
        try
        {
            using var file = File.OpenHandle(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, FileOptions.None);
            RandomAccess.Write(file, sealedBuffer.AsSpan(0, sealedLength), 0);
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(sealedBuffer);
        }

        bool added, full;
        lock (_commitGate)
        {
            // Under the gate so a commit in progress cannot miss it.
            added = _pending.TryAdd(id, tmp);
            full = added && (_pendingBytes += sealedLength) >= BatchBytes;
        }

        if (!added)
        {
            // Another thread of this run wrote the same content meanwhile.
            TryDelete(tmp);
            return (id, 0);
        }

        if (full)
        {
            CommitPending();
        }

        return (id, sealedLength);
    }

    /// <summary>
    /// Makes every chunk written so far durable and visible: one file-system sync (or an fsync per file where syncfs
    /// does not exist), then each renamed into data/, then a second sync for the renames (or an fsync per touched
    /// folder).
    /// </summary>
    public void CommitPending()
    {
        // One commit at a time; writers only wait for the swap below, not for the sync, so they keep chunking and
        // encrypting the next batch while this one is flushed.
        lock (_commitSerial)
        {
            System.Collections.Concurrent.ConcurrentDictionary<string, string> batch;
            lock (_commitGate)
            {
                batch = _pending;
                _pending = new(StringComparer.Ordinal);
                _pendingBytes = 0;
            }

            if (batch.IsEmpty)
            {
                return;
            }

            // Contents durable before any final name exists; with syncfs the renames are made durable by a second
            // syncfs (one call instead of an fsync for each of up to 256 prefix folders).
            var syncfs = NativeFileSystem.SyncFiles(TmpPath, batch.Values);

            var touched = new HashSet<string>(StringComparer.Ordinal);
            var created = false;
            foreach (var (id, tmp) in batch)
            {
                var path = ChunkPath(id);
                var dir = Path.GetDirectoryName(path)!;
                if (touched.Add(dir) && !Directory.Exists(dir))
                {
                    Directory.CreateDirectory(dir);
                    created = true;
                }

                try
                {
                    File.Move(tmp, path, overwrite: false);
                }
                catch (IOException) when (File.Exists(path))
                {
                    // Committed meanwhile by a concurrent backup: same id, same content.
                    TryDelete(tmp);
                }
            }

            if (syncfs && NativeFileSystem.TrySyncFileSystem(DataPath))
            {
                return;
            }

            foreach (var dir in touched)
            {
                NativeFileSystem.FsyncDirectory(dir);
            }

            if (created)
            {
                NativeFileSystem.FsyncDirectory(DataPath);
            }
        }
    }

    /// <summary>Reads, authenticates and decrypts a chunk, and checks that its content matches its id.</summary>
    public byte[] ReadChunk(string id)
    {
        ValidateId(id);
        byte[] envelope;
        try
        {
            envelope = File.ReadAllBytes(ChunkPath(id));
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new DamagedDataException($"chunk {id[..16]} is missing", ex);
        }

        byte[] plain;
        try
        {
            plain = Keys.Open(envelope, RepositoryKeys.ChunkAd(id));
        }
        catch (DamagedDataException ex)
        {
            throw new DamagedDataException($"chunk {id[..16]}: {ex.Message}", ex);
        }

        if (!string.Equals(Keys.ChunkId(plain), id, StringComparison.Ordinal))
        {
            throw new DamagedDataException($"chunk {id[..16]}: content does not match its id");
        }

        return plain;
    }

    /// <summary>Ids of every chunk file present.</summary>
    public IEnumerable<string> ListChunkIds()
    {
        foreach (var dir in Directory.EnumerateDirectories(DataPath))
        {
            foreach (var file in Directory.EnumerateFiles(dir))
            {
                var name = Path.GetFileName(file);
                if (IsValidId(name))
                {
                    yield return name;
                }
            }
        }
    }

    public void WriteSnapshot(SnapshotManifest manifest)
    {
        ArgumentNullException.ThrowIfNull(manifest);
        ValidateId32(manifest.Id);
        CommitPending();
        WriteAtomic(Path.Combine(SnapshotsPath, manifest.Id), ManifestFormat.Write(manifest, Keys), overwrite: false);
    }

    /// <summary>
    /// A snapshot. A version-2 manifest is read up to its header here; its catalog sections are read when first used
    /// (<see cref="ManifestFormat"/>). A version-1 manifest (one sealed JSON document) is read whole.
    /// </summary>
    public SnapshotManifest ReadSnapshot(string id) => ReadSnapshot(id, summaryOnly: false);

    /// <summary>
    /// The manifest's header: for choosing a snapshot. Version 2 reads only the header (its lists still load on first
    /// use); version 1 decrypts the whole file but builds no lists (<see cref="SnapshotManifest.DeserializeSummary"/>).
    /// </summary>
    public SnapshotManifest ReadSnapshotSummary(string id) => ReadSnapshot(id, summaryOnly: true);

    /// <summary>Headers of every readable snapshot, oldest first (damaged ones left out).</summary>
    public IReadOnlyList<SnapshotManifest> ReadSnapshotSummaries() => ReadAll(summaryOnly: true).Snapshots;

    /// <summary>The newest readable snapshot of a kind (and host when given); null when there is none.</summary>
    public SnapshotManifest? ReadLatestSnapshot(string? kind = null, string? host = null) =>
        ReadSnapshotSummaries().LastOrDefault(s => (kind is null || s.Kind == kind) && (host is null || s.Host == host)) is { } latest
            ? latest.Version >= ManifestFormat.Version ? latest : ReadSnapshot(latest.Id)
            : null;

    private SnapshotManifest ReadSnapshot(string id, bool summaryOnly)
    {
        ValidateId32(id);
        var path = Path.Combine(SnapshotsPath, id);
        if (!File.Exists(path))
        {
            throw new BackupException($"no snapshot {id} in {Root}; list them with: rempart backup list");
        }

        Span<byte> start = stackalloc byte[ManifestFormat.PrefixLength];
        using (var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete))
        {
            start = start[..RandomAccess.Read(file, start, 0)];
        }

        if (ManifestFormat.HasMagic(start))
        {
            return ManifestFormat.Read(path, id, Keys);
        }

        byte[] plain;
        try
        {
            plain = Keys.Open(File.ReadAllBytes(path), RepositoryKeys.SnapshotAd(id));
        }
        catch (DamagedDataException ex)
        {
            throw new DamagedDataException($"snapshot manifest {id}: {ex.Message}", ex);
        }

        return summaryOnly ? SnapshotManifest.DeserializeSummary(plain, id) : SnapshotManifest.Deserialize(plain, id);
    }

    public IReadOnlyList<string> ListSnapshotIds() =>
        [.. Directory.EnumerateFiles(SnapshotsPath).Select(Path.GetFileName).OfType<string>().Where(IsValidId32).Order(StringComparer.Ordinal)];

    /// <summary>Every manifest (version 2: headers, lists on first use); damaged ones are returned separately instead of failing the whole listing.</summary>
    public (IReadOnlyList<SnapshotManifest> Snapshots, IReadOnlyList<(string Id, string Error)> Damaged) ReadAllSnapshots() => ReadAll(summaryOnly: false);

    private (IReadOnlyList<SnapshotManifest> Snapshots, IReadOnlyList<(string Id, string Error)> Damaged) ReadAll(bool summaryOnly)
    {
        var good = new List<SnapshotManifest>();
        var bad = new List<(string, string)>();
        foreach (var id in ListSnapshotIds())
        {
            try
            {
                var snapshot = ReadSnapshot(id, summaryOnly);
                if (!summaryOnly)
                {
                    // Whole: a damaged section is reported here with its snapshot, not later by whoever reads it.
                    snapshot.LoadAll();
                }

                good.Add(snapshot);
            }
            catch (BackupException ex)
            {
                bad.Add((id, ex.Message));
            }
        }

        return ([.. good.OrderBy(s => s.Time).ThenBy(s => s.Id, StringComparer.Ordinal)], bad);
    }

    /// <summary>Finds a snapshot by id prefix (at least 4 hex digits) or "latest".</summary>
    public SnapshotManifest FindSnapshot(string reference)
    {
        if (string.Equals(reference, "latest", StringComparison.OrdinalIgnoreCase))
        {
            return ReadLatestSnapshot() ?? throw new BackupException($"the repository {Root} has no snapshot yet; make one with: rempart backup create");
        }

        var matches = ListSnapshotIds().Where(i => i.StartsWith(reference.ToLowerInvariant(), StringComparison.Ordinal)).ToList();
        return matches.Count switch
        {
            0 => throw new BackupException($"no snapshot '{reference}' in {Root}; list them with: rempart backup list"),
            1 when reference.Length >= 4 => ReadSnapshot(matches[0]),
            _ => throw new BackupException($"'{reference}' matches {matches.Count} snapshots; give more digits of the id"),
        };
    }

    public void DeleteSnapshot(string id)
    {
        RefuseIfAppendOnly("delete a snapshot");
        ValidateId32(id);
        File.Delete(Path.Combine(SnapshotsPath, id));
        NativeFileSystem.FsyncDirectory(SnapshotsPath);
    }

    public void DeleteChunk(string id)
    {
        RefuseIfAppendOnly("delete data");
        ValidateId(id);
        File.Delete(ChunkPath(id));
    }

    public void RefuseIfAppendOnly(string what)
    {
        if (AppendOnly)
        {
            throw new BackupException(Config.AppendOnly
                ? $"the repository {Root} is append-only: this client may not {what}. Prune from a trusted machine with a repository copy that is not append-only."
                : $"append-only mode (--append-only or backup.appendOnly): this client may not {what}");
        }
    }

    /// <summary>Removes temp files older than an hour (crash leftovers); younger ones may be a running backup's.</summary>
    public int SweepTemp()
    {
        var cutoff = DateTime.UtcNow - StaleTempAge;
        var removed = 0;
        foreach (var file in Directory.EnumerateFiles(TmpPath))
        {
            if (File.GetLastWriteTimeUtc(file) < cutoff)
            {
                File.Delete(file);
                removed++;
            }
        }

        return removed;
    }

    public void Dispose()
    {
        // Chunks of a run that wrote no snapshot: nothing refers to them; the next run writes them again.
        lock (_commitGate)
        {
            foreach (var tmp in _pending.Values)
            {
                TryDelete(tmp);
            }

            _pending.Clear();
        }

        _lock?.Dispose();
        _lock = null;
    }

    internal static bool IsValidId(string? id) => id is { Length: 64 } && id.All(char.IsAsciiHexDigitLower);

    internal static bool IsValidId32(string? id) => id is { Length: 32 } && id.All(char.IsAsciiHexDigitLower);

    /// <summary>Temp file, fsync, rename into place, fsync the folder (and the parent when the folder is new).</summary>
    internal void WriteAtomic(string path, ReadOnlySpan<byte> content, bool overwrite)
    {
        BeforeWrite?.Invoke(path);
        var dir = Path.GetDirectoryName(path)!;
        var created = !Directory.Exists(dir);
        if (created)
        {
            Directory.CreateDirectory(dir);
        }

        var tmp = Path.Combine(TmpPath, Guid.NewGuid().ToString("N"));
        try
        {
            using (var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.None))
            {
                file.Write(content);
                file.Flush(flushToDisk: true);
            }

            try
            {
                File.Move(tmp, path, overwrite);
            }
            catch (IOException) when (!overwrite && File.Exists(path))
            {
                // Written meanwhile by a concurrent backup: same id, same content.
                File.Delete(tmp);
                return;
            }

            NativeFileSystem.FsyncDirectory(dir);
            if (created)
            {
                NativeFileSystem.FsyncDirectory(Path.GetDirectoryName(dir)!);
            }
        }
        catch
        {
            TryDelete(tmp);
            throw;
        }
    }

    private static void ValidateId(string id)
    {
        // Ids become paths: anything but 64 lower-case hex digits could escape the data folder.
        if (!IsValidId(id))
        {
            throw new BackupException($"not a chunk id: '{id}'");
        }
    }

    private static void ValidateId32(string id)
    {
        if (!IsValidId32(id))
        {
            throw new BackupException($"not a snapshot id: '{id}'");
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
