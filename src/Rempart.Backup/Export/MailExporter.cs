using System.Globalization;
using System.Text;
using Rempart.Store;

namespace Rempart.Backup.Export;

public enum MailFormat
{
    /// <summary>mboxrd: one file per folder, "From " separator lines, "&gt;From " quoting.</summary>
    Mbox,

    /// <summary>Maildir++: INBOX at the root, other folders as ".A.B", flags in the ":2," file-name suffix.</summary>
    Maildir,
}

public sealed record ExportResult(int Folders, int Messages);

/// <summary>
/// Export to and import from formats other servers and clients read. Message bytes are kept exactly (CRLF line
/// endings included; Dovecot, mutt and Thunderbird read them), so export then import gives the same messages,
/// flags (Maildir) and internal dates.
/// </summary>
public static class MailExporter
{
    /// <summary>Messages imported per transaction.</summary>
    private const int ImportBatch = 200;

    private static readonly byte[] FromPrefix = "From "u8.ToArray();

    private static readonly (char Letter, string Flag)[] MaildirFlags =
    [
        ('D', @"\Draft"), ('F', @"\Flagged"), ('R', @"\Answered"), ('S', @"\Seen"), ('T', @"\Deleted"),
    ];

    public static async Task<ExportResult> ExportAsync(IMailStore store, string address, string? folder, MailFormat format, string output, CancellationToken ct)
    {
        var account = await store.Directory.GetAccountAsync(address, ct) ?? throw new BackupException($"no account {address}");
        var boxes = (await store.Messages.ListMailboxesAsync(account.Id, ct)).ToList();
        if (folder is not null)
        {
            boxes = [.. boxes.Where(b => Snapshots.SnapshotRestorer.SameFolder(b.Name, folder))];
            if (boxes.Count == 0)
            {
                throw new BackupException($"no folder {folder} in {address}");
            }
        }

        var root = Path.GetFullPath(output);
        if (Directory.Exists(root) && Directory.EnumerateFileSystemEntries(root).Any())
        {
            throw new BackupException($"refusing to export into {root}: the folder is not empty");
        }

        Directory.CreateDirectory(root);
        var count = 0;
        foreach (var box in boxes)
        {
            var messages = await store.Messages.ListMessagesAsync(box.Id, ct);
            if (format == MailFormat.Mbox)
            {
                var path = Path.Combine(root, SafeName(box.Name).Replace('/', Path.DirectorySeparatorChar) + ".mbox");
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                await using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
                foreach (var m in messages)
                {
                    await WriteMboxMessageAsync(file, await store.Blobs.ReadAllAsync(m.BlobHash, ct), m.InternalDate, ct);
                    count++;
                }
            }
            else
            {
                var dir = IsInbox(box.Name) ? root : Path.Combine(root, "." + SafeName(box.Name).Replace('/', '.'));
                foreach (var sub in new[] { "cur", "new", "tmp" })
                {
                    Directory.CreateDirectory(Path.Combine(dir, sub));
                }

                foreach (var m in messages)
                {
                    var letters = new string([.. MaildirFlags.Where(f => m.Flags.Contains(f.Flag)).Select(f => f.Letter)]);
                    var name = string.Create(CultureInfo.InvariantCulture, $"{m.InternalDate.ToUnixTimeSeconds()}.U{m.Uid}.rempart:2,{letters}");
                    var path = Path.Combine(dir, "cur", name);
                    await File.WriteAllBytesAsync(path, await store.Blobs.ReadAllAsync(m.BlobHash, ct), ct);
                    File.SetLastWriteTimeUtc(path, m.InternalDate.UtcDateTime);
                    count++;
                }
            }
        }

        return new ExportResult(boxes.Count, count);
    }

    public static async Task<ExportResult> ImportAsync(IMailStore store, string address, string? folder, MailFormat format, string input, CancellationToken ct)
    {
        var account = await store.Directory.GetAccountAsync(address, ct) ?? throw new BackupException($"no account {address}");
        var source = Path.GetFullPath(input);
        var items = new List<(string Folder, byte[] Bytes, IReadOnlyCollection<string> Flags, DateTimeOffset Date)>();
        if (format == MailFormat.Mbox)
        {
            var files = File.Exists(source) ? [(source, "INBOX")]
                : Directory.Exists(source) ? Directory.EnumerateFiles(source, "*.mbox", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
                    .Select(f => (f, Path.GetRelativePath(source, f)[..^5].Replace(Path.DirectorySeparatorChar, '/'))).ToList()
                : throw new BackupException($"{source} does not exist");
            foreach (var (file, name) in files)
            {
                foreach (var (bytes, date) in ReadMbox(await File.ReadAllBytesAsync(file, ct)))
                {
                    items.Add((name, bytes, [], date));
                }
            }
        }
        else
        {
            if (!Directory.Exists(source))
            {
                throw new BackupException($"{source} is not a Maildir folder");
            }

            var dirs = new List<(string Dir, string Name)> { (source, "INBOX") };
            dirs.AddRange(Directory.EnumerateDirectories(source, ".*").Order(StringComparer.Ordinal).Select(d => (d, Path.GetFileName(d)[1..].Replace('.', '/'))));
            foreach (var (dir, name) in dirs)
            {
                foreach (var sub in new[] { "new", "cur" })
                {
                    var path = Path.Combine(dir, sub);
                    if (!Directory.Exists(path))
                    {
                        continue;
                    }

                    foreach (var file in Directory.EnumerateFiles(path).Order(StringComparer.Ordinal))
                    {
                        var fileName = Path.GetFileName(file);
                        var info = fileName.LastIndexOf(":2,", StringComparison.Ordinal);
                        var letters = info < 0 ? "" : fileName[(info + 3)..];
                        var flags = MaildirFlags.Where(f => letters.Contains(f.Letter, StringComparison.Ordinal)).Select(f => f.Flag).ToList();
                        items.Add((name, await File.ReadAllBytesAsync(file, ct), flags, new DateTimeOffset(File.GetLastWriteTimeUtc(file), TimeSpan.Zero)));
                    }
                }
            }
        }

        // Runs of messages for one folder go in by batches: bodies stored with one sync, one transaction per batch.
        var folders = new HashSet<string>(StringComparer.Ordinal);
        for (var start = 0; start < items.Count;)
        {
            var name = items[start].Folder;
            var end = start;
            while (end < items.Count && end - start < ImportBatch && string.Equals(items[end].Folder, name, StringComparison.Ordinal))
            {
                end++;
            }

            var target = folder is null ? name : IsInbox(name) ? folder : folder + "/" + name;
            var box = await store.Messages.GetMailboxAsync(account.Id, target, ct) ?? await store.Messages.CreateMailboxAsync(account.Id, target, null, ct);
            folders.Add(box.Name);
            var batch = items.GetRange(start, end - start);
            var blobs = await store.Blobs.PutManyAsync([.. batch.Select(b => (ReadOnlyMemory<byte>)b.Bytes)], ct);
            await store.Messages.AppendManyAsync(box.Id, [.. batch.Select((b, k) => new AppendItem(blobs[k], b.Flags, b.Date))], ct);
            start = end;
        }

        return new ExportResult(folders.Count, items.Count);
    }

    /// <summary>mboxrd (https://www.loc.gov/preservation/digital/formats/fdd/fdd000385.shtml): "&gt;*From " lines get one more "&gt;".</summary>
    public static async Task WriteMboxMessageAsync(Stream output, byte[] message, DateTimeOffset date, CancellationToken ct)
    {
        var header = "From MAILER-DAEMON " + date.UtcDateTime.ToString("ddd MMM d HH:mm:ss yyyy", CultureInfo.InvariantCulture) + "\n";
        await output.WriteAsync(Encoding.ASCII.GetBytes(header), ct);
        var start = 0;
        while (start < message.Length)
        {
            var end = Array.IndexOf(message, (byte)'\n', start);
            end = end < 0 ? message.Length : end + 1;
            var line = message.AsMemory(start, end - start);
            if (IsQuotedFrom(line.Span))
            {
                await output.WriteAsync(">"u8.ToArray(), ct);
            }

            await output.WriteAsync(line, ct);
            start = end;
        }

        if (message.Length == 0 || message[^1] != '\n')
        {
            await output.WriteAsync("\r\n"u8.ToArray(), ct);
        }

        await output.WriteAsync("\n"u8.ToArray(), ct);
    }

    /// <summary>Splits an mboxrd file into messages and their "From " line dates.</summary>
    public static List<(byte[] Message, DateTimeOffset Date)> ReadMbox(byte[] mbox)
    {
        var result = new List<(byte[], DateTimeOffset)>();
        MemoryStream? current = null;
        var date = DateTimeOffset.UnixEpoch;
        var start = 0;
        void Finish()
        {
            if (current is null)
            {
                return;
            }

            var bytes = current.ToArray();

            // Drop the blank separator line the writer adds after each message.
            if (bytes.Length > 0 && bytes[^1] == '\n' && (bytes.Length == 1 || bytes[^2] == '\n'))
            {
                bytes = bytes[..^1];
            }

            result.Add((bytes, date));
        }

        while (start < mbox.Length)
        {
            var end = Array.IndexOf(mbox, (byte)'\n', start);
            end = end < 0 ? mbox.Length : end + 1;
            var line = mbox.AsSpan(start, end - start);
            if (line.StartsWith(FromPrefix))
            {
                Finish();
                current = new MemoryStream();
                date = ParseFromLineDate(Encoding.ASCII.GetString(line).TrimEnd());
            }
            else if (current is not null)
            {
                current.Write(IsQuotedFrom(line) && line[0] == '>' && line.TrimStart((byte)'>').StartsWith(FromPrefix) ? line[1..] : line);
            }

            start = end;
        }

        Finish();
        return result;
    }

    private static bool IsQuotedFrom(ReadOnlySpan<byte> line) => line.TrimStart((byte)'>').StartsWith(FromPrefix);

    private static DateTimeOffset ParseFromLineDate(string line)
    {
        // "From sender Sat Nov 28 01:00:00 2026": the last five words.
        var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length >= 7 && DateTime.TryParseExact(string.Join(' ', parts[^5..]), "ddd MMM d HH:mm:ss yyyy", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var t))
        {
            return new DateTimeOffset(t, TimeSpan.Zero);
        }

        return DateTimeOffset.UnixEpoch;
    }

    private static bool IsInbox(string name) => string.Equals(name, "INBOX", StringComparison.OrdinalIgnoreCase);

    /// <summary>Folder names become paths: no "..", no empty segments.</summary>
    private static string SafeName(string name) =>
        string.Join('/', name.Split('/').Select(s => s is "" or "." or ".." ? "_" : s.Replace('\\', '_')));
}
