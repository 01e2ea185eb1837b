using System.Security.Cryptography;
using Rempart.Backup.Repository;
using Rempart.Store;
using Rempart.Store.Blobs;
using Rempart.Store.Mime;
using ZstdSharp;

namespace Rempart.Backup.Snapshots;

/// <summary>What a granular restore should take from a snapshot and where it should go.</summary>
/// <param name="Account">Account address in the snapshot.</param>
/// <param name="Folder">One folder, or null for every folder of the account.</param>
/// <param name="Uid">One message (needs <paramref name="Folder"/>), or null.</param>
/// <param name="TargetAccount">Account to restore into; null means the original one.</param>
/// <param name="TargetFolder">Folder to restore into; null means "Restored/&lt;snapshot time&gt; &lt;folder&gt;".</param>
public sealed record RestoreSelection(string Account, string? Folder = null, long? Uid = null, string? TargetAccount = null, string? TargetFolder = null);

public sealed record RestoreResult(int Files, int Blobs, int Messages, long Bytes, IReadOnlyList<string> Folders);

/// <summary>Full disaster recovery into an empty data folder, and granular restore through the store API.</summary>
public sealed class SnapshotRestorer(BackupRepository repository)
{
    /// <summary>Messages (and stored bytes) a granular restore handles per batch: one sync, one transaction.</summary>
    private const int RestoreBatch = 2000;

    private const long RestoreBatchBytes = 64L * 1024 * 1024;

    /// <summary>
    /// Writes the database copy, every blob and the other files into <paramref name="targetDir"/>, which must be empty
    /// or missing, so nothing there can be overwritten. The server then starts on it as before: the database is the
    /// consistent copy, with its UIDVALIDITY, UIDs, flags, folders and accounts.
    /// </summary>
    public async Task<RestoreResult> RestoreAllAsync(SnapshotManifest snapshot, string targetDir, IProgress<BackupProgress>? progress, CancellationToken ct)
    {
        if (snapshot.Kind != "server")
        {
            throw new BackupException($"snapshot {snapshot.ShortId} is a copy of an IMAP account, not of a server; restore it into an account with: rempart backup restore {snapshot.ShortId} ACCOUNT");
        }

        var root = Path.GetFullPath(targetDir);
        if (File.Exists(root))
        {
            throw new BackupException($"{root} is a file; restore needs an empty or new folder");
        }

        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
        {
            throw new BackupException($"refusing to restore into {root}: the folder is not empty, and a full restore never overwrites data. Restore into a new folder, then stop the server and swap the folders.");
        }

        Directory.CreateDirectory(root);
        long bytes = 0;
        foreach (var file in snapshot.Files)
        {
            var path = SafePath(root, file.Path);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            await using (var output = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                foreach (var chunk in file.Chunks)
                {
                    await output.WriteAsync(repository.ReadChunk(chunk), ct);
                }

                output.Flush(flushToDisk: true);
                bytes += output.Length;
            }

            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(path, (UnixFileMode)(file.Mode & 0x1FF));
            }
        }

        var blobsRoot = Path.Combine(root, "blobs");
        Directory.CreateDirectory(Path.Combine(blobsRoot, "tmp"));
        long done = 0;
        await Parallel.ForEachAsync(
            snapshot.Blobs,
            new ParallelOptions { CancellationToken = ct, MaxDegreeOfParallelism = BackupRepository.IoParallelism },
            async (blob, token) =>
            {
                var content = ReadBlobFile(blob);
                var path = FileBlobStore.PathIn(blobsRoot, blob.Hash);
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                await using (var output = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.None))
                {
                    await output.WriteAsync(content, token);
                }

                Interlocked.Add(ref bytes, content.Length);
                var n = Interlocked.Increment(ref done);
                if (n % 64 == 0)
                {
                    progress?.Report(new BackupProgress("messages", n, snapshot.Blobs.Count));
                }
            });

        foreach (var folder in SnapshotCreator.ExtraFolders.Append("tls"))
        {
            Directory.CreateDirectory(Path.Combine(root, folder));
        }

        // Durable before the command says it is done: one sync of the file system instead of an fsync per body.
        NativeFileSystem.SyncFiles(root, Directory.EnumerateFiles(blobsRoot, "*", SearchOption.AllDirectories));

        progress?.Report(new BackupProgress("done", 1, 1));
        return new RestoreResult(snapshot.Files.Count, snapshot.Blobs.Count, snapshot.Messages.Count, bytes, []);
    }

    /// <summary>
    /// Restores one account, folder or message into a live store through its API: new messages are appended (new
    /// UIDs in the target folder), nothing existing is touched. By default the target is a new folder named after
    /// the snapshot, e.g. "Restored/2026-11-28T01-00 INBOX".
    /// </summary>
    public async Task<RestoreResult> RestoreMessagesAsync(SnapshotManifest snapshot, IMailStore store, RestoreSelection selection, CancellationToken ct)
    {
        var account = snapshot.Accounts.FirstOrDefault(a => string.Equals(a.Address, selection.Account, StringComparison.OrdinalIgnoreCase))
            ?? throw new BackupException($"snapshot {snapshot.ShortId} has no account {selection.Account}; browse it with: rempart backup ls {snapshot.ShortId}");
        var mailboxes = snapshot.Mailboxes.Where(m => m.AccountId == account.Id).ToList();
        if (selection.Folder is not null)
        {
            mailboxes = [.. mailboxes.Where(m => SameFolder(m.Name, selection.Folder))];
            if (mailboxes.Count == 0)
            {
                throw new BackupException($"snapshot {snapshot.ShortId} has no folder {selection.Folder} in {account.Address}; browse it with: rempart backup ls {snapshot.ShortId} {account.Address}");
            }
        }
        else if (selection.Uid is not null)
        {
            throw new BackupException("a message (--uid) is chosen within one folder: give ACCOUNT/FOLDER");
        }

        var targetAddress = selection.TargetAccount ?? account.Address;
        var target = await store.Directory.GetAccountAsync(targetAddress, ct)
            ?? throw new BackupException($"no account {targetAddress} on this server to restore into; create it first (rempart user add {targetAddress}) or pass --to ACCOUNT");

        // Only the chosen folders' records are decoded (a version-2 manifest skips the others by length), and only
        // their bodies are indexed.
        var selected = snapshot.MessagesIn(mailboxes.Select(m => m.Id).ToHashSet())
            .Where(m => selection.Uid is null || m.Uid == selection.Uid)
            .GroupBy(m => m.MailboxId)
            .ToDictionary(g => g.Key, g => g.ToList());
        var needed = selected.Values.SelectMany(v => v).Select(m => m.Blob).ToHashSet(StringComparer.Ordinal);
        var blobs = new Dictionary<string, BlobEntry>(needed.Count, StringComparer.Ordinal);
        foreach (var blob in snapshot.Blobs)
        {
            if (needed.Contains(blob.Hash))
            {
                blobs[blob.Hash] = blob;
            }
        }

        var folders = new List<string>();
        var work = new List<(long BoxId, MessageEntry Message)>();
        foreach (var mailbox in mailboxes)
        {
            var messages = selected.GetValueOrDefault(mailbox.Id) ?? [];
            if (selection.Uid is not null && messages.Count == 0)
            {
                throw new BackupException($"snapshot {snapshot.ShortId} has no message UID {selection.Uid} in {account.Address}/{mailbox.Name}");
            }

            foreach (var message in messages)
            {
                if (!blobs.ContainsKey(message.Blob))
                {
                    throw new BackupException($"snapshot {snapshot.ShortId} lacks the body of {account.Address}/{mailbox.Name} UID {message.Uid} (it was deleted while the snapshot was taken)");
                }
            }

            var name = selection.TargetFolder ?? $"Restored/{snapshot.Label} {mailbox.Name}";
            if (selection.TargetFolder is not null && mailboxes.Count > 1)
            {
                name = $"{selection.TargetFolder}/{mailbox.Name}";
            }

            var box = await store.Messages.GetMailboxAsync(target.Id, name, ct) ?? await store.Messages.CreateMailboxAsync(target.Id, name, null, ct);
            folders.Add(box.Name);
            work.AddRange(messages.Select(m => (box.Id, m)));
        }

        // Bodies the store still holds (the mail was not deleted, or is restored a second time) are referred to by
        // hash, as any copy of a message is: nothing is read from the backup for them. The others are read, checked
        // and written back.
        var known = await store.Messages.FindKnownBodiesAsync(needed, ct);

        // Batches across folders, bounded in count and bytes: bodies read, decrypted and checked in parallel, written
        // with one file-system sync per batch, then appended in one transaction in their original UID order.
        var count = 0;
        long bytes = 0;
        for (var start = 0; start < work.Count;)
        {
            var end = start;
            long batchBytes = 0;
            while (end < work.Count && end - start < RestoreBatch && (end == start || batchBytes < RestoreBatchBytes))
            {
                batchBytes += known.Contains(work[end].Message.Blob) ? 0 : blobs[work[end].Message.Blob].Size;
                end++;
            }

            var batch = work.GetRange(start, end - start);
            var items = new AppendItem[batch.Count];
            var frames = new BlobFrame?[batch.Count];

            // Each stored blob file is written back as it is (it is already the blob store's format), after checking
            // that it decompresses to its hash; the decompressed body is parsed once here for the store's metadata,
            // and its text is indexed later (RestoreManyAsync). ForAsync, not For: a damaged chunk surfaces as its own
            // DamagedDataException, not wrapped.
            await Parallel.ForAsync(0, batch.Count, new ParallelOptions { CancellationToken = ct, MaxDegreeOfParallelism = BackupRepository.IoParallelism }, (i, _) =>
            {
                var message = batch[i].Message;
                var flags = message.Flags.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var date = DateTimeOffset.FromUnixTimeMilliseconds(message.InternalDate);
                if (known.Contains(message.Blob))
                {
                    items[i] = new AppendItem(new BlobRef(message.Blob, message.Size), flags, date);
                }
                else
                {
                    var blob = blobs[message.Blob];
                    var file = ReadBlobFile(blob);
                    var content = Decompress(file, blob.Hash);
                    var stored = new BlobRef(blob.Hash, content.Length);
                    frames[i] = new BlobFrame(stored, file);
                    items[i] = new AppendItem(stored, flags, date, MessageAnalyzer.AnalyzeOrFallback(content));
                }

                Interlocked.Add(ref bytes, message.Size);
                return ValueTask.CompletedTask;
            });
            await store.Blobs.PutFramesManyAsync([.. frames.OfType<BlobFrame>()], ct);
            // One transaction (one sync) for the batch, whatever folders it spans; within a folder, UID order.
            await store.Messages.RestoreManyAsync([.. batch.Select((w, i) => (w.BoxId, items[i]))], ct);
            count += batch.Count;

            start = end;
        }

        return new RestoreResult(0, 0, count, bytes, folders);
    }

    /// <summary>The stored blob file (one zstd frame), reassembled from its chunks.</summary>
    public byte[] ReadBlobFile(BlobEntry blob)
    {
        if (blob.Chunks.Count == 1)
        {
            return repository.ReadChunk(blob.Chunks[0]);
        }

        using var buffer = new MemoryStream((int)Math.Min(blob.Size, int.MaxValue));
        foreach (var chunk in blob.Chunks)
        {
            buffer.Write(repository.ReadChunk(chunk));
        }

        return buffer.ToArray();
    }

    /// <summary>Largest declared size decompressed straight into an exact array (larger frames stream, growing as data really comes).</summary>
    private const int DirectDecompressBytes = 64 * 1024 * 1024;

    /// <summary>The message bytes of a blob, checked against its SHA-256 name.</summary>
    public static byte[] Decompress(byte[] blobFile, string hash)
    {
        ArgumentNullException.ThrowIfNull(blobFile);
        ArgumentNullException.ThrowIfNull(hash);
        var content = DecompressKnownSize(blobFile);
        if (content is null)
        {
            try
            {
                using var input = new MemoryStream(blobFile);
                using var zstd = new DecompressionStream(input);
                using var output = new MemoryStream();
                zstd.CopyTo(output);
                content = output.ToArray();
            }
            catch (ZstdException ex)
            {
                throw new DamagedDataException($"message body {hash[..16]} is not valid zstd", ex);
            }
        }

        if (!string.Equals(Convert.ToHexStringLower(SHA256.HashData(content)), hash, StringComparison.Ordinal))
        {
            throw new DamagedDataException($"message body {hash[..16]} does not match its hash");
        }

        return content;
    }

    /// <summary>
    /// The blob store writes one frame that declares its content size: decompressed in one call into an exact array,
    /// not through a stream and a growing buffer. Null when the size is not declared, large, or does not fit (then the
    /// caller streams, and reports a frame that is really damaged).
    /// </summary>
    private static byte[]? DecompressKnownSize(byte[] blobFile)
    {
        try
        {
            var size = Decompressor.GetDecompressedSize(blobFile);
            if (size is 0 or > DirectDecompressBytes)
            {
                return null;
            }

            var content = new byte[size];
            using var decompressor = new Decompressor();
            return decompressor.Unwrap(blobFile, content, 0) == content.Length ? content : null;
        }
        catch (ZstdException)
        {
            return null;
        }
    }

    public static bool SameFolder(string name, string wanted) =>
        string.Equals(name, wanted, string.Equals(name, "INBOX", StringComparison.OrdinalIgnoreCase) ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);

    /// <summary>A manifest path under <paramref name="root"/>; refuses anything that would land outside it.</summary>
    internal static string SafePath(string root, string relative)
    {
        var full = Path.GetFullPath(Path.Combine(root, relative.Replace('/', Path.DirectorySeparatorChar)));
        if (relative.Length == 0 || Path.IsPathRooted(relative) || !full.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
        {
            throw new DamagedDataException($"snapshot names a file outside the data folder: '{relative}'");
        }

        return full;
    }
}
