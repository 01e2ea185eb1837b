using System.Security.Cryptography;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;
using MimeKit;
using Rempart.Backup.Repository;
using Rempart.Backup.Snapshots;
using ZstdSharp;

namespace Rempart.Backup.Imap;

/// <summary>How to reach an IMAP account. The password comes from the environment or a file, never an argument.</summary>
public sealed record ImapSource(string Host, int Port, SecureSocketOptions Security, string User, string Password)
{
    /// <summary>The label stored as the snapshot's host: incremental runs continue from the same source's last snapshot.</summary>
    public string Label => $"imap://{User}@{Host}:{Port}";
}

/// <summary>
/// Copies every folder of a remote IMAP account into the repository as a snapshot of kind "imap", incrementally:
/// a folder whose UIDVALIDITY is unchanged only has its new UIDs fetched (flags of known ones are refreshed), and a
/// message whose Message-ID and size match one already stored is not downloaded again (the same mail in INBOX and
/// an "All Mail" folder, or copied between folders). Bodies are stored like the server's blobs (a zstd frame named by
/// the SHA-256 of the message), so the granular restore path applies unchanged.
/// </summary>
public sealed class ImapBackup(BackupRepository repository, TimeProvider time)
{
    /// <summary>Messages actually downloaded by the last run (the rest came from the previous snapshot or Message-ID dedup).</summary>
    public int Downloaded { get; private set; }

    public async Task<SnapshotManifest> BackupAsync(ImapSource source, CancellationToken ct)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        repository.Lock(exclusive: false);
        var previous = repository.ReadLatestSnapshot(kind: "imap", host: source.Label);
        var previousBlobs = previous?.Blobs.ToDictionary(b => b.Hash, StringComparer.Ordinal) ?? [];
        var byMessageId = new Dictionary<(string, long), MessageEntry>();
        foreach (var m in previous?.Messages ?? [])
        {
            if (m.MessageId is { Length: > 0 } id)
            {
                byMessageId.TryAdd((id, m.Size), m);
            }
        }

        var stats = new SnapshotStats();
        var blobs = new Dictionary<string, BlobEntry>(StringComparer.Ordinal);
        var mailboxes = new List<MailboxEntry>();
        var messages = new List<MessageEntry>();
        Downloaded = 0;

        using var client = new ImapClient();
        await client.ConnectAsync(source.Host, source.Port, source.Security, ct);
        await client.AuthenticateAsync(source.User, source.Password, ct);
        var folders = new List<IMailFolder>();
        foreach (var ns in client.PersonalNamespaces)
        {
            folders.AddRange(await client.GetFoldersAsync(ns, StatusItems.None, subscribedOnly: false, ct));
        }

        long nextId = 1;
        foreach (var folder in folders.Where(f => !f.Attributes.HasFlag(FolderAttributes.NoSelect) && !f.Attributes.HasFlag(FolderAttributes.NonExistent)).OrderBy(f => f.FullName, StringComparer.Ordinal))
        {
            await folder.OpenAsync(FolderAccess.ReadOnly, ct);
            var name = folder.DirectorySeparator == '/' ? folder.FullName : folder.FullName.Replace(folder.DirectorySeparator, '/');
            var box = new MailboxEntry(nextId++, 1, name, null, folder.UidValidity, folder.UidNext?.Id ?? 0);
            mailboxes.Add(box);
            var old = previous?.Mailboxes.FirstOrDefault(m => m.Name == name && m.UidValidity == folder.UidValidity);
            var known = old is null ? [] : previous!.Messages.Where(m => m.MailboxId == old.Id).ToDictionary(m => m.Uid);
            var summaries = folder.Count == 0 ? [] : await folder.FetchAsync(0, -1, MessageSummaryItems.UniqueId | MessageSummaryItems.Flags | MessageSummaryItems.InternalDate | MessageSummaryItems.Size | MessageSummaryItems.Envelope, ct);
            foreach (var s in summaries)
            {
                var flags = ImapFlags(s);
                var date = (s.InternalDate ?? DateTimeOffset.UnixEpoch).ToUnixTimeMilliseconds();
                var size = (long)(s.Size ?? 0);
                var messageId = s.Envelope?.MessageId is { Length: > 0 } mid ? "<" + mid + ">" : null;
                MessageEntry? reuse = null;
                if (known.TryGetValue(s.UniqueId.Id, out var k) && previousBlobs.ContainsKey(k.Blob))
                {
                    reuse = k;
                }
                else if (messageId is not null && byMessageId.TryGetValue((messageId, size), out var dup) && (previousBlobs.ContainsKey(dup.Blob) || blobs.ContainsKey(dup.Blob)))
                {
                    reuse = dup;
                }

                string hash;
                if (reuse is not null)
                {
                    hash = reuse.Blob;
                    if (!blobs.ContainsKey(hash) && previousBlobs.TryGetValue(hash, out var entry))
                    {
                        blobs[hash] = entry;
                        stats.DeduplicatedBytes += entry.Size;
                        stats.TotalBytes += entry.Size;
                    }
                }
                else
                {
                    using var raw = new MemoryStream();
                    await (await folder.GetStreamAsync(s.UniqueId, string.Empty, ct)).CopyToAsync(raw, ct);
                    var content = raw.ToArray();
                    Downloaded++;
                    stats.ReadBytes += content.Length;
                    hash = Convert.ToHexStringLower(SHA256.HashData(content));
                    if (!blobs.ContainsKey(hash))
                    {
                        blobs[hash] = StoreBlob(hash, content, stats);
                    }
                }

                var message = new MessageEntry(box.Id, s.UniqueId.Id, hash, size, date, flags, messageId);
                messages.Add(message);
                if (messageId is not null)
                {
                    byMessageId.TryAdd((messageId, size), message);
                }
            }

            await folder.CloseAsync(false, ct);
        }

        await client.DisconnectAsync(true, ct);
        stats.Blobs = blobs.Count;
        stats.Messages = messages.Count;
        stats.DurationSeconds = started.Elapsed.TotalSeconds;
        var manifest = new SnapshotManifest
        {
            Id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16)),
            Time = time.GetUtcNow(),
            Host = source.Label,
            Kind = "imap",
            Blobs = [.. blobs.Values.OrderBy(b => b.Hash, StringComparer.Ordinal)],
            Accounts = [new AccountEntry(1, source.User)],
            Mailboxes = mailboxes,
            Messages = messages,
            Stats = stats,
        };
        repository.WriteSnapshot(manifest);
        return manifest;
    }

    /// <summary>
    /// Puts one account's folders (or one folder) of a snapshot back into an IMAP server with their flags and dates,
    /// by default into "Restored/&lt;snapshot time&gt; &lt;folder&gt;" so nothing there is overwritten.
    /// </summary>
    public async Task<int> RestoreToImapAsync(SnapshotManifest snapshot, string account, string? folderName, string? targetFolder, ImapSource target, CancellationToken ct)
    {
        var acct = snapshot.Accounts.FirstOrDefault(a => string.Equals(a.Address, account, StringComparison.OrdinalIgnoreCase))
            ?? throw new BackupException($"snapshot {snapshot.ShortId} has no account {account}");
        var boxes = snapshot.Mailboxes.Where(m => m.AccountId == acct.Id && (folderName is null || SnapshotRestorer.SameFolder(m.Name, folderName))).ToList();
        if (boxes.Count == 0)
        {
            throw new BackupException($"snapshot {snapshot.ShortId} has no folder {folderName} in {account}");
        }

        var restorer = new SnapshotRestorer(repository);
        var blobs = snapshot.Blobs.ToDictionary(b => b.Hash, StringComparer.Ordinal);
        using var client = new ImapClient();
        await client.ConnectAsync(target.Host, target.Port, target.Security, ct);
        await client.AuthenticateAsync(target.User, target.Password, ct);
        var count = 0;
        foreach (var box in boxes)
        {
            var name = targetFolder is null ? $"Restored/{snapshot.Label} {box.Name}" : boxes.Count > 1 ? $"{targetFolder}/{box.Name}" : targetFolder;
            var folder = await GetOrCreateAsync(client, name, ct);
            foreach (var m in snapshot.Messages.Where(x => x.MailboxId == box.Id))
            {
                var content = SnapshotRestorer.Decompress(restorer.ReadBlobFile(blobs[m.Blob]), m.Blob);
                using var message = await MimeMessage.LoadAsync(new MemoryStream(content), ct);
                var flags = MessageFlags.None;
                var keywords = new List<string>();
                foreach (var f in m.Flags.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                {
                    switch (f)
                    {
                        case @"\Seen": flags |= MessageFlags.Seen; break;
                        case @"\Answered": flags |= MessageFlags.Answered; break;
                        case @"\Flagged": flags |= MessageFlags.Flagged; break;
                        case @"\Deleted": flags |= MessageFlags.Deleted; break;
                        case @"\Draft": flags |= MessageFlags.Draft; break;
                        default: keywords.Add(f); break;
                    }
                }

                await folder.AppendAsync(new AppendRequest(message, flags, keywords) { InternalDate = DateTimeOffset.FromUnixTimeMilliseconds(m.InternalDate) }, ct);
                count++;
            }
        }

        await client.DisconnectAsync(true, ct);
        return count;
    }

    private static async Task<IMailFolder> GetOrCreateAsync(ImapClient client, string name, CancellationToken ct)
    {
        var ns = client.PersonalNamespaces[0];
        var path = name.Replace('/', ns.DirectorySeparator);
        try
        {
            return await client.GetFolderAsync(path, ct);
        }
        catch (FolderNotFoundException)
        {
            var root = client.GetFolder(ns);
            return await root.CreateAsync(path, true, ct) ?? throw new BackupException($"the IMAP server did not create folder {name}");
        }
    }

    private static string ImapFlags(IMessageSummary s)
    {
        var list = new List<string>();
        var f = s.Flags ?? MessageFlags.None;
        if (f.HasFlag(MessageFlags.Answered))
        {
            list.Add(@"\Answered");
        }

        if (f.HasFlag(MessageFlags.Flagged))
        {
            list.Add(@"\Flagged");
        }

        if (f.HasFlag(MessageFlags.Deleted))
        {
            list.Add(@"\Deleted");
        }

        if (f.HasFlag(MessageFlags.Seen))
        {
            list.Add(@"\Seen");
        }

        if (f.HasFlag(MessageFlags.Draft))
        {
            list.Add(@"\Draft");
        }

        list.AddRange(s.Keywords.Order(StringComparer.Ordinal));
        return string.Join(' ', list);
    }

    private BlobEntry StoreBlob(string hash, byte[] content, SnapshotStats stats)
    {
        byte[] frame;
        using (var compressor = new Compressor(3))
        {
            frame = compressor.Wrap(content).ToArray();
        }

        var chunks = new List<string>();
        var rest = frame.AsSpan();
        while (!rest.IsEmpty)
        {
            var n = repository.Chunker.Cut(rest);
            var (id, written) = repository.PutChunk(rest[..n], compress: false);
            chunks.Add(id);
            if (written > 0)
            {
                stats.NewChunks++;
                stats.NewBytes += written;
            }
            else
            {
                stats.DeduplicatedBytes += n;
            }

            rest = rest[n..];
        }

        stats.TotalBytes += frame.Length;
        return new BlobEntry(hash, frame.Length, chunks);
    }
}
