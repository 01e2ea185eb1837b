using System.Buffers;
using System.Collections.Concurrent;
using System.Security.Cryptography;
using ZstdSharp;

namespace Rempart.Store.Blobs;

/// <summary>
/// Content-addressed message bodies on the local file system.
/// <para>
/// On-disk format (persisted: changing it needs a migration; BlobStoreTests.Blob_path_and_format_are_fixed_for_a_known_input pins it):
/// <list type="bullet">
/// <item>The name of a blob is the SHA-256 of its UNCOMPRESSED bytes, as 64 lower-case hex digits.</item>
/// <item>The file lives at <c>&lt;root&gt;/&lt;h[0..2]&gt;/&lt;hash&gt;</c>, for example <c>blobs/ab/abcd1234...</c>:
///   one level of 256 folders (a million bodies make 4,000 names per folder, which ext4's and XFS's hashed folders
///   look up in one step). <c>&lt;root&gt;/layout</c> records it (<see cref="LayoutName"/>).</item>
/// <item>The file content is exactly one standard zstd frame (RFC 8878) of the uncompressed bytes, at the configured
///   level, so <c>zstd -d &lt; file</c> restores the message and <c>sha256sum</c> of that output equals the name.</item>
/// <item><c>&lt;root&gt;/tmp</c> holds files being written; anything left there after a crash is garbage and is
///   removed at open once older than an hour.</item>
/// </list>
/// </para>
/// <para>
/// Layout 1 (before 2026-12) had a second level, <c>blobs/ab/cd/&lt;hash&gt;</c>: with 65,536 leaf folders, nearly every
/// body of a store's first few hundred thousand created a folder as well as a file (two inodes, a folder block and one
/// more folder fsync per message, measured at 1.4 to 2.5 times the kernel CPU time per body on this ext4). A store without the
/// <c>layout</c> file is moved to layout 2 when it is opened (<see cref="MigrateLayout"/>: renames only, resumable).
/// </para>
/// <para>
/// Write protocol: compress into tmp, <c>fsync</c> the file, rename into place, <c>fsync</c> the target folder (and
/// any folder created on the way). Only then does the caller get a <see cref="BlobRef"/>, so a database row can never
/// refer to a body that a power loss could take away. Reference counts live in the metadata database (blobs
/// table); the store deletes a file after the commit that drops its count to zero.
/// </para>
/// <para>
/// Deferred protocol (<see cref="PutForCommitAsync"/>, SMTP deliveries): compress into tmp without <c>fsync</c> and
/// return; the store's writer calls <see cref="SyncPending"/> before it commits a batch, which syncs the file system
/// once (all waiting contents), renames them into place and syncs once more (the names); a single body gets the
/// write protocol's two fsyncs instead, cheaper than two syncs of the whole file system. A final name therefore
/// always holds content that was on stable storage before the name existed, whichever protocol wrote it: the dedup
/// paths (<see cref="TouchExisting"/>) trust any file they find, and a crash between a deferred write and its sync must
/// not leave a final name over an empty file that a later identical message would then refer to.
/// </para>
/// </summary>
public sealed class FileBlobStore : IBlobStore
{
    private const int CopyBufferSize = 64 * 1024;

    /// <summary>File in the root naming the layout; written once the root holds nothing in an older layout.</summary>
    public const string LayoutFile = "layout";

    /// <summary>Content of <see cref="LayoutFile"/> for the current layout (one folder level).</summary>
    public const string LayoutName = "2 sha256/h[0..2]/hash zstd\n";

    /// <summary>Age after which a file in tmp is a crash leftover rather than a write in progress.</summary>
    private static readonly TimeSpan StaleTempAge = TimeSpan.FromHours(1);

    [ThreadStatic]
    private static Compressor? t_compressor;

    [ThreadStatic]
    private static int t_compressorLevel;

    private readonly string _root;
    private readonly string _tmp;
    private readonly int _level;

    /// <summary>
    /// Bodies stored by <see cref="PutForCommitAsync"/> and not synced yet: hash to its temporary file, or to null for
    /// a body found already at its name (whose folder entry may be a concurrent writer's rename not synced yet).
    /// </summary>
    private readonly ConcurrentDictionary<string, string?> _pending = new(StringComparer.Ordinal);

    /// <summary>One <see cref="SyncPending"/> at a time: a sync that finds nothing to do relies on any sync in progress having finished.</summary>
    private readonly Lock _syncLock = new();

    /// <summary>Bumped by every deferred put after it recorded its body in <see cref="_pending"/>.</summary>
    private long _generation;

    /// <summary>The <see cref="_generation"/> that the last <see cref="SyncPending"/> made durable.</summary>
    private long _syncedGeneration;

    private long _syncCount;
    private long _fallbackFileSyncCount;

    public FileBlobStore(string root, int compressionLevel)
    {
        _root = Path.GetFullPath(root);
        _tmp = Path.Combine(_root, "tmp");
        _level = Math.Clamp(compressionLevel, 1, 19);
        Directory.CreateDirectory(_root);
        Directory.CreateDirectory(_tmp);
        if (!File.Exists(Path.Combine(_root, LayoutFile)))
        {
            MigrateLayout(_root);
        }

        // Only old leftovers: another process (the admin CLI next to the server) may be writing here right now.
        var cutoff = DateTime.UtcNow - StaleTempAge;
        foreach (var leftover in Directory.EnumerateFiles(_tmp))
        {
            if (File.GetLastWriteTimeUtc(leftover) < cutoff)
            {
                TryDelete(leftover);
            }
        }
    }

    /// <summary>The folder holding the blobs.</summary>
    public string Root => _root;

    /// <summary>File-system syncs made by <see cref="SyncPending"/> for deferred puts (tests check the batching).</summary>
    internal long SyncCount => Interlocked.Read(ref _syncCount);

    /// <summary>Temporary files fsynced one by one rather than by a syncfs (tests check the fallback).</summary>
    internal long FallbackFileSyncCount => Interlocked.Read(ref _fallbackFileSyncCount);

    /// <summary>Makes <see cref="SyncPending"/> and the batch puts fsync file by file as where syncfs(2) does not exist (tests).</summary>
    internal bool SyncFileSystemDisabled { get; set; }

    /// <summary>The path of a blob's file (whether or not it exists).</summary>
    public string PathOf(string hash) => PathIn(_root, hash);

    /// <summary>The path of a blob's file under a blob folder <paramref name="root"/> (the layout, for tools that copy files).</summary>
    public static string PathIn(string root, string hash)
    {
        ValidateHash(hash);
        return Path.Combine(root, hash[..2], hash);
    }

    /// <summary>Where layout 1 (<c>ab/cd/hash</c>) kept a blob's file: for readers of a folder not migrated yet.</summary>
    public static string LegacyPathIn(string root, string hash)
    {
        ValidateHash(hash);
        return Path.Combine(root, hash[..2], hash[2..4], hash);
    }

    /// <summary>
    /// Moves every body stored in layout 1 (<c>ab/cd/hash</c>) to <c>ab/hash</c>, then writes <see cref="LayoutFile"/>.
    /// Each move is a rename inside one file system, so a body is always in exactly one of the two places; a crash
    /// leaves the layout file unwritten and the next open continues. Folders are fsynced before the layout file is
    /// written, so the file never claims a move a power loss could undo. Two processes opening the same old store at
    /// once both migrate; a body the other one already moved is skipped. Returns the number of bodies moved.
    /// </summary>
    public static long MigrateLayout(string root)
    {
        long moved = 0;
        foreach (var level1 in Directory.EnumerateDirectories(root))
        {
            var prefix = Path.GetFileName(level1);
            if (prefix.Length != 2 || !prefix.All(char.IsAsciiHexDigitLower))
            {
                continue;
            }

            var changed = false;
            foreach (var level2 in Directory.EnumerateDirectories(level1).ToList())
            {
                var changedHere = false;
                foreach (var file in Directory.EnumerateFiles(level2).ToList())
                {
                    var name = Path.GetFileName(file);
                    if (!IsValidHash(name))
                    {
                        continue;
                    }

                    var target = Path.Combine(level1, name);
                    try
                    {
                        if (File.Exists(target))
                        {
                            // Same name, same content (written meanwhile in layout 2): one copy is enough.
                            File.Delete(file);
                        }
                        else
                        {
                            File.Move(file, target, overwrite: false);
                            moved++;
                        }
                    }
                    catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
                    {
                        // Moved by another process migrating at the same time.
                    }
                    catch (IOException) when (File.Exists(target))
                    {
                        // The other process moved its copy first.
                        TryDelete(file);
                    }

                    changedHere = true;
                }

                if (changedHere)
                {
                    NativeFileSystem.FsyncDirectory(level2);
                    changed = true;
                }

                TryDeleteEmptyFolder(level2);
            }

            if (changed)
            {
                NativeFileSystem.FsyncDirectory(level1);
            }
        }

        NativeFileSystem.FsyncDirectory(root);
        NativeFileSystem.ReplaceFile(Path.Combine(root, LayoutFile), System.Text.Encoding.ASCII.GetBytes(LayoutName));
        return moved;
    }

    private static void TryDeleteEmptyFolder(string path)
    {
        try
        {
            Directory.Delete(path, recursive: false);
        }
        catch (IOException)
        {
            // Not empty (a file that is not a blob): left for the administrator.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>SHA-256 of <paramref name="content"/> as lower-case hex: the blob's name.</summary>
    public static string HashOf(ReadOnlySpan<byte> content) => Convert.ToHexStringLower(SHA256.HashData(content));

    public async Task<BlobRef> PutAsync(Stream content, CancellationToken ct = default)
    {
        var tmpPath = NewTempPath();
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long size = 0;
        var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
        try
        {
            await using (var file = new FileStream(tmpPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, CopyBufferSize, FileOptions.Asynchronous))
            {
                await using (var zstd = new CompressionStream(file, _level, leaveOpen: true))
                {
                    int read;
                    while ((read = await content.ReadAsync(buffer.AsMemory(0, CopyBufferSize), ct)) > 0)
                    {
                        sha.AppendData(buffer, 0, read);
                        size += read;
                        await zstd.WriteAsync(buffer.AsMemory(0, read), ct);
                    }
                }

                file.Flush(flushToDisk: true);
            }

            var hash = Convert.ToHexStringLower(sha.GetHashAndReset());
            MoveIntoPlace(tmpPath, hash);
            return new BlobRef(hash, size);
        }
        catch
        {
            TryDelete(tmpPath);
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    public async Task<BlobRef> PutAsync(ReadOnlyMemory<byte> content, CancellationToken ct = default)
    {
        var hash = HashOf(content.Span);
        if (TouchExisting(PathOf(hash)))
        {
            return new BlobRef(hash, content.Length);
        }

        var tmpPath = NewTempPath();
        try
        {
            await WriteCompressedAsync(tmpPath, content, flush: true, ct);
            MoveIntoPlace(tmpPath, hash);
            return new BlobRef(hash, content.Length);
        }
        catch
        {
            TryDelete(tmpPath);
            throw;
        }
    }

    /// <inheritdoc/>
    public async Task<BlobRef> PutForCommitAsync(ReadOnlyMemory<byte> content, CancellationToken ct = default)
    {
        var hash = HashOf(content.Span);
        var blob = new BlobRef(hash, content.Length);
        if (TouchExisting(PathOf(hash), syncFolder: false))
        {
            // Stored already, but its name may be a concurrent writer's rename whose folder is not synced yet.
            _pending.TryAdd(hash, null);
            Interlocked.Increment(ref _generation);
            return blob;
        }

        if (_pending.TryGetValue(hash, out var waiting) && waiting is not null)
        {
            // Written by another deferred put, waiting for the next commit (or moved by a sync in progress).
            Interlocked.Increment(ref _generation);
            return blob;
        }

        var tmpPath = NewTempPath();
        try
        {
            await WriteCompressedAsync(tmpPath, content, flush: false, ct);
        }
        catch
        {
            TryDelete(tmpPath);
            throw;
        }

        if (!_pending.TryAdd(hash, tmpPath) && !_pending.TryUpdate(hash, tmpPath, null))
        {
            // A concurrent put of the same content recorded its own file first.
            TryDelete(tmpPath);
        }

        // After the record: a sync that reads this generation finds the body in _pending.
        Interlocked.Increment(ref _generation);
        return blob;
    }

    /// <summary>
    /// Makes every body of <see cref="PutForCommitAsync"/> that completed before this call durable under its name (the
    /// store's writer calls it before each commit). Returns at once when no deferred put happened since the last sync;
    /// otherwise one syncfs(2) for the contents, the renames, one more for the names (an fsync per file and folder
    /// for a single body or where syncfs does not exist). Throws <see cref="IOException"/> when a body cannot be made durable; the bodies
    /// stay pending for the next call.
    /// </summary>
    internal void SyncPending()
    {
        lock (_syncLock)
        {
            var generation = Interlocked.Read(ref _generation);
            if (generation == _syncedGeneration)
            {
                return;
            }

            // Every put counted in this generation recorded its body before counting it, so the snapshot holds it.
            var snapshot = _pending.ToArray();
            if (snapshot.Length != 0)
            {
                var items = new List<(string? Tmp, string Hash)>(snapshot.Length);
                string? lost = null;
                foreach (var (hash, tmp) in snapshot)
                {
                    if (tmp is null || File.Exists(tmp))
                    {
                        items.Add((tmp, hash));
                    }
                    else if (File.Exists(PathOf(hash)))
                    {
                        // Moved into place by an earlier call that failed after the rename.
                        items.Add((null, hash));
                    }
                    else
                    {
                        // Removed from tmp (the stale-file sweep of another process): nothing left to sync.
                        _pending.TryRemove(KeyValuePair.Create<string, string?>(hash, tmp));
                        lost = hash;
                    }
                }

                SyncAndMoveIntoPlace(items);
                Interlocked.Increment(ref _syncCount);
                foreach (var entry in snapshot)
                {
                    // Only the entries synced: a put of the same content meanwhile replaced none (TryAdd), but be exact.
                    _pending.TryRemove(entry);
                }

                if (lost is not null)
                {
                    throw new IOException($"blob {lost} was stored for the next commit but its temporary file is gone");
                }
            }

            _syncedGeneration = generation;
        }
    }

    public Task<IReadOnlyList<BlobRef>> PutManyAsync(IReadOnlyList<ReadOnlyMemory<byte>> contents, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(contents);
        var refs = new BlobRef[contents.Count];
        return PutBatchAsync(contents.Count, (i, token) =>
        {
            var content = contents[i];
            refs[i] = new BlobRef(HashOf(content.Span), content.Length);
            return (refs[i].Hash, tmp => WriteCompressedAsync(tmp, content, flush: false, token));
        }, refs, ct);
    }

    public Task<IReadOnlyList<BlobRef>> PutFramesManyAsync(IReadOnlyList<BlobFrame> frames, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(frames);
        var refs = new BlobRef[frames.Count];
        return PutBatchAsync(frames.Count, (i, _) =>
        {
            var frame = frames[i];
            ValidateHash(frame.Blob.Hash);
            refs[i] = frame.Blob;
            return (frame.Blob.Hash, tmp => WriteRaw(tmp, frame.Frame.Span));
        }, refs, ct);
    }

    /// <summary>
    /// The batch protocol of <see cref="PutManyAsync"/> and <see cref="PutFramesManyAsync"/>: for each item, its hash
    /// and a writer of its file into a temporary path (skipped when the blob exists), in parallel; then one sync for
    /// the contents, the renames, one sync for the renames.
    /// </summary>
    private async Task<IReadOnlyList<BlobRef>> PutBatchAsync(int count, Func<int, CancellationToken, (string Hash, Func<string, Task> Write)> item, BlobRef[] refs, CancellationToken ct)
    {
        var written = new System.Collections.Concurrent.ConcurrentBag<(string Tmp, string Hash)>();
        try
        {
            await Parallel.ForAsync(0, count, new ParallelOptions { CancellationToken = ct, MaxDegreeOfParallelism = Environment.ProcessorCount }, async (i, token) =>
            {
                var (hash, write) = item(i, token);
                if (TouchExisting(PathOf(hash)))
                {
                    return;
                }

                var tmpPath = NewTempPath();
                written.Add((tmpPath, hash));
                await write(tmpPath);
            });

            if (!written.IsEmpty)
            {
                SyncAndMoveIntoPlace([.. written.Select(w => ((string?)w.Tmp, w.Hash))]);
            }

            return refs;
        }
        catch
        {
            foreach (var (tmp, _) in written)
            {
                TryDelete(tmp);
            }

            throw;
        }
    }

    /// <summary>
    /// Makes temporary files durable, then their names: one syncfs for all contents (before any final name exists), the
    /// renames, one syncfs for the names; for a single body, or where syncfs does not exist, an fsync for each file
    /// before its rename and for its folder after (two fsyncs cost less than two syncs of the whole file system). Items
    /// without a temporary file are already at their name, whose folder entry is synced with the rest.
    /// </summary>
    private void SyncAndMoveIntoPlace(List<(string? Tmp, string Hash)> items)
    {
        var syncfs = items.Count > 1 && !SyncFileSystemDisabled && NativeFileSystem.TrySyncFileSystem(_root);
        var moved = false;
        foreach (var (tmp, hash) in items)
        {
            if (tmp is null)
            {
                if (!syncfs)
                {
                    NativeFileSystem.FsyncDirectory(Path.Combine(_root, hash[..2]));
                }

                continue;
            }

            if (!syncfs)
            {
                using var file = File.OpenHandle(tmp, FileMode.Open, FileAccess.ReadWrite);
                RandomAccess.FlushToDisk(file);
                Interlocked.Increment(ref _fallbackFileSyncCount);
            }

            MoveIntoPlace(tmp, hash, syncFolders: !syncfs);
            moved = true;
        }

        if (syncfs && moved)
        {
            NativeFileSystem.TrySyncFileSystem(_root);
        }
    }

    /// <summary>Bytes already in the blob file format, as they are, in a new temporary file (not flushed).</summary>
    private static Task WriteRaw(string tmpPath, ReadOnlySpan<byte> frame)
    {
        using var file = File.OpenHandle(tmpPath, FileMode.CreateNew, FileAccess.Write, FileShare.None);
        RandomAccess.Write(file, frame, 0);
        return Task.CompletedTask;
    }

    /// <summary>The content as one zstd frame in a new temporary file, fsynced when <paramref name="flush"/>.</summary>
    private Task WriteCompressedAsync(string tmpPath, ReadOnlyMemory<byte> content, bool flush, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var compressor = ThreadCompressor(_level);
        var buffer = ArrayPool<byte>.Shared.Rent(Compressor.GetCompressBound(content.Length));
        try
        {
            var length = compressor.Wrap(content.Span, buffer);

            // One unbuffered write of a few KiB: a FileStream would add its own buffer and an async state machine.
            using var file = File.OpenHandle(tmpPath, FileMode.CreateNew, FileAccess.Write, FileShare.None);
            RandomAccess.Write(file, buffer.AsSpan(0, length), 0);
            if (flush)
            {
                RandomAccess.FlushToDisk(file);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        return Task.CompletedTask;
    }

    /// <summary>
    /// A compression context for this thread: creating one per message costs more than compressing a 4 KiB message
    /// (it allocates and clears the match tables). A context gives the same frame whether fresh or reused.
    /// </summary>
    private static Compressor ThreadCompressor(int level)
    {
        if (t_compressor is null || t_compressorLevel != level)
        {
            t_compressor?.Dispose();
            t_compressor = new Compressor(level);
            t_compressorLevel = level;
        }

        return t_compressor;
    }

    public Stream Open(string hash)
    {
        var path = PathOf(hash);

        // A deferred put's body is in tmp until the next commit moves it; it may move between the two looks.
        var file = TryOpenRead(path)
            ?? (_pending.TryGetValue(hash, out var tmp) && tmp is not null ? TryOpenRead(tmp) ?? TryOpenRead(path) : null)
            ?? throw new StoreException($"blob {hash} is missing from {_root}");
        return new DecompressionStream(file, leaveOpen: false);
    }

    private static FileStream? TryOpenRead(string path)
    {
        try
        {
            return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, CopyBufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    public async Task<byte[]> ReadAllAsync(string hash, CancellationToken ct = default)
    {
        await using var stream = Open(hash);
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, ct);
        return buffer.ToArray();
    }

    public bool Exists(string hash) =>
        IsValidHash(hash) &&
        (File.Exists(PathOf(hash)) || (_pending.TryGetValue(hash, out var tmp) && tmp is not null && (File.Exists(tmp) || File.Exists(PathOf(hash)))));

    public async Task<bool> VerifyAsync(string hash, CancellationToken ct = default)
    {
        if (!Exists(hash))
        {
            return false;
        }

        try
        {
            await using var stream = Open(hash);
            using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var buffer = ArrayPool<byte>.Shared.Rent(CopyBufferSize);
            try
            {
                int read;
                while ((read = await stream.ReadAsync(buffer.AsMemory(0, CopyBufferSize), ct)) > 0)
                {
                    sha.AppendData(buffer, 0, read);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            return string.Equals(Convert.ToHexStringLower(sha.GetHashAndReset()), hash, StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is IOException or ZstdException or InvalidDataException or StoreException)
        {
            return false;
        }
    }

    /// <summary>Deletes a blob's file (called by the store after the commit that dropped its last reference).</summary>
    internal void Delete(string hash)
    {
        if (IsValidHash(hash))
        {
            TryDelete(PathOf(hash));
        }
    }

    /// <summary>Every stored hash (for verification and orphan sweeps).</summary>
    public IEnumerable<string> EnumerateHashes()
    {
        foreach (var level1 in Directory.EnumerateDirectories(_root))
        {
            if (Path.GetFileName(level1).Length != 2)
            {
                continue;
            }

            foreach (var file in Directory.EnumerateFiles(level1))
            {
                var name = Path.GetFileName(file);
                if (IsValidHash(name))
                {
                    yield return name;
                }
            }
        }
    }

    /// <summary>True for a blob name: 64 lower-case hex digits (a SHA-256), so it is safe to build a path from.</summary>
    public static bool IsValidHash(string? hash)
    {
        if (hash is null || hash.Length != 64)
        {
            return false;
        }

        foreach (var c in hash)
        {
            if (!char.IsAsciiHexDigitLower(c))
            {
                return false;
            }
        }

        return true;
    }

    private static void ValidateHash(string hash)
    {
        // The hash becomes a path: anything but 64 lower-case hex digits could escape the blob folder.
        if (!IsValidHash(hash))
        {
            throw new StoreException($"not a blob hash (64 lower-case hex digits expected): '{hash}'");
        }
    }

    private string NewTempPath() => Path.Combine(_tmp, Guid.NewGuid().ToString("N"));

    private void MoveIntoPlace(string tmpPath, string hash, bool syncFolders = true)
    {
        var folder = Path.Combine(_root, hash[..2]);
        var created = !Directory.Exists(folder);
        Directory.CreateDirectory(folder);

        var target = Path.Combine(folder, hash);
        if (TouchExisting(target, syncFolders))
        {
            // Same content already stored (its content fsynced by whoever stored it, before the rename): keep one copy.
            TryDelete(tmpPath);
            return;
        }

        try
        {
            File.Move(tmpPath, target, overwrite: false);
        }
        catch (IOException) when (File.Exists(target))
        {
            TryDelete(tmpPath);
            return;
        }

        if (!syncFolders)
        {
            return;
        }

        NativeFileSystem.FsyncDirectory(folder);
        if (created)
        {
            NativeFileSystem.FsyncDirectory(_root);
        }
    }

    /// <summary>
    /// True when the blob exists; its time is refreshed so the orphan sweep sees it as just stored, and its folder is
    /// flushed (unless the caller syncs later: <paramref name="syncFolder"/> false) because a concurrent writer of the
    /// same content may have renamed it in without having fsynced the folder yet. Its content needs no flush: every
    /// protocol makes the content durable before the rename.
    /// </summary>
    private static bool TouchExisting(string path, bool syncFolder = true)
    {
        if (!File.Exists(path))
        {
            return false;
        }

        try
        {
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow);
            if (syncFolder)
            {
                NativeFileSystem.FsyncDirectory(Path.GetDirectoryName(path)!);
            }
        }
        catch (IOException)
        {
            // Deleted meanwhile: store it again.
            return File.Exists(path);
        }
        catch (UnauthorizedAccessException)
        {
            // A read-only blob folder (restored backup): the file is there, which is what matters.
        }

        return true;
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (IOException)
        {
            // A file that cannot be removed now is only wasted space; the tmp folder is swept at next open.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
