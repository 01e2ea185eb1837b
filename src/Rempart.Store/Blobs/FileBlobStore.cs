using System.Buffers;
using System.Security.Cryptography;
using ZstdSharp;

namespace Rempart.Store.Blobs;

/// <summary>
/// Content-addressed message bodies on the local file system.
/// <para>
/// On-disk format (persisted: changing it needs a migration; BlobStoreTests.Blob_path_and_format_are_fixed_for_a_known_input pins it):
/// <list type="bullet">
/// <item>The name of a blob is the SHA-256 of its UNCOMPRESSED bytes, as 64 lower-case hex digits.</item>
/// <item>The file lives at <c>&lt;root&gt;/&lt;h[0..2]&gt;/&lt;h[2..4]&gt;/&lt;hash&gt;</c>, for example
///   <c>blobs/ab/cd/abcd1234...</c> (two levels of 256 folders keep every folder small).</item>
/// <item>The file content is exactly one standard zstd frame (RFC 8878) of the uncompressed bytes, at the configured
///   level, so <c>zstd -d &lt; file</c> restores the message and <c>sha256sum</c> of that output equals the name.</item>
/// <item><c>&lt;root&gt;/tmp</c> holds files being written; anything left there after a crash is garbage and is
///   removed at open once older than an hour.</item>
/// </list>
/// Write protocol: compress into tmp, <c>fsync</c> the file, rename into place, <c>fsync</c> the target folder (and
/// any folder created on the way). Only then does the caller get a <see cref="BlobRef"/>, so a database row can never
/// refer to a body that a power loss could take away. Reference counts live in the metadata database (blobs
/// table); the store deletes a file after the commit that drops its count to zero.
/// </para>
/// </summary>
public sealed class FileBlobStore : IBlobStore
{
    private const int CopyBufferSize = 64 * 1024;

    /// <summary>Age after which a file in tmp is a crash leftover rather than a write in progress.</summary>
    private static readonly TimeSpan StaleTempAge = TimeSpan.FromHours(1);

    [ThreadStatic]
    private static Compressor? t_compressor;

    [ThreadStatic]
    private static int t_compressorLevel;

    private readonly string _root;
    private readonly string _tmp;
    private readonly int _level;

    public FileBlobStore(string root, int compressionLevel)
    {
        _root = Path.GetFullPath(root);
        _tmp = Path.Combine(_root, "tmp");
        _level = Math.Clamp(compressionLevel, 1, 19);
        Directory.CreateDirectory(_root);
        Directory.CreateDirectory(_tmp);
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

    /// <summary>The path of a blob's file (whether or not it exists).</summary>
    public string PathOf(string hash)
    {
        ValidateHash(hash);
        return Path.Combine(_root, hash[..2], hash[2..4], hash);
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

            if (written.IsEmpty)
            {
                return refs;
            }

            // Contents durable before any final name exists, then the renames made durable by a second sync.
            var syncfs = NativeFileSystem.SyncFiles(_tmp, written.Select(w => w.Tmp));

            foreach (var (tmp, hash) in written)
            {
                MoveIntoPlace(tmp, hash, syncFolders: !syncfs);
            }

            if (syncfs)
            {
                NativeFileSystem.TrySyncFileSystem(_root);
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
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, CopyBufferSize, FileOptions.Asynchronous | FileOptions.SequentialScan);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new StoreException($"blob {hash} is missing from {_root}", ex);
        }

        return new DecompressionStream(file, leaveOpen: false);
    }

    public async Task<byte[]> ReadAllAsync(string hash, CancellationToken ct = default)
    {
        await using var stream = Open(hash);
        using var buffer = new MemoryStream();
        await stream.CopyToAsync(buffer, ct);
        return buffer.ToArray();
    }

    public bool Exists(string hash) => IsValidHash(hash) && File.Exists(PathOf(hash));

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

            foreach (var level2 in Directory.EnumerateDirectories(level1))
            {
                foreach (var file in Directory.EnumerateFiles(level2))
                {
                    var name = Path.GetFileName(file);
                    if (IsValidHash(name))
                    {
                        yield return name;
                    }
                }
            }
        }
    }

    internal static bool IsValidHash(string? hash)
    {
        if (hash is null || hash.Length != 64)
        {
            return false;
        }

        foreach (var c in hash)
        {
            if (!char.IsAsciiHexDigitLower(c) && !char.IsAsciiDigit(c))
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
        var level1 = Path.Combine(_root, hash[..2]);
        var level2 = Path.Combine(level1, hash[2..4]);
        var created1 = !Directory.Exists(level1);
        var created2 = created1 || !Directory.Exists(level2);
        Directory.CreateDirectory(level2);

        var target = Path.Combine(level2, hash);
        if (TouchExisting(target))
        {
            // Same content already stored (and fsynced by whoever stored it): keep one copy.
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

        NativeFileSystem.FsyncDirectory(level2);
        if (created2)
        {
            NativeFileSystem.FsyncDirectory(level1);
        }

        if (created1)
        {
            NativeFileSystem.FsyncDirectory(_root);
        }
    }

    /// <summary>
    /// True when the blob exists; its time is refreshed so the orphan sweep sees it as just stored, and its folder is
    /// flushed because a concurrent writer of the same content may have renamed it in without having fsynced yet.
    /// </summary>
    private static bool TouchExisting(string path)
    {
        if (!File.Exists(path))
        {
            return false;
        }

        try
        {
            File.SetLastWriteTimeUtc(path, DateTime.UtcNow);
            NativeFileSystem.FsyncDirectory(Path.GetDirectoryName(path)!);
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
