using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Backup.Repository;
using Rempart.Common.Configuration;
using Rempart.Store;
using Rempart.Store.Sqlite;

namespace Rempart.Backup.Tests;

/// <summary>A temp folder removed at dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir() => Directory.CreateDirectory(Path);

    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "rempart-backup-test-" + Guid.NewGuid().ToString("N")[..10]);

    public string Sub(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A real data folder (SQLite store + blob files + TLS/DKIM/config files) filled with varied mail.</summary>
public static class TestData
{
    public static readonly byte[] Passphrase = Encoding.UTF8.GetBytes("correct horse battery staple");

    /// <summary>Cheap Argon2id so tests stay fast; production parameters are the defaults.</summary>
    public static readonly KdfParameters FastKdf = new(1024, 1, 1);

    public static BackupRepository InitRepo(string path, bool appendOnly = false) =>
        BackupRepository.Init(path, Passphrase, appendOnly, DateTimeOffset.UtcNow, FastKdf);

    public static Task<SqliteMailStore> OpenStoreAsync(string dataDir) =>
        SqliteMailStore.OpenAsync(System.IO.Path.Combine(dataDir, "rempart.db"), System.IO.Path.Combine(dataDir, "blobs"), new StoreOptions(), NullLogger.Instance);

    public static string Message(int n, string subject, string body, string? extraHeaders = null) =>
        $"From: sender{n}@remote.test\r\nTo: alice@example.test\r\nSubject: {subject}\r\nMessage-ID: <m{n}@remote.test>\r\nDate: Sat, 28 Nov 2026 01:00:00 +0000\r\n{extraHeaders}MIME-Version: 1.0\r\n\r\n{body}\r\n";

    /// <summary>Two accounts, many folders, flags, an attachment, 8-bit text and one message large enough to span several chunks.</summary>
    public static async Task FillAsync(IMailStore store, int extraFolders = 6)
    {
        await store.Directory.AddDomainAsync("example.test");
        var alice = await store.Directory.AddAccountAsync(new NewAccount("alice@example.test", "x"));
        var bob = await store.Directory.AddAccountAsync(new NewAccount("bob@example.test", "x"));
        var inbox = (await store.Messages.GetMailboxAsync(alice.Id, "INBOX"))!;
        var rng = new Random(42);

        await AppendAsync(store, inbox.Id, Message(1, "plain", "Hello Alice."), [@"\Seen"]);
        await AppendAsync(store, inbox.Id, Message(2, "8bit: café 😀", "Grüße aus Köln — ça va ?", "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"), [@"\Flagged", "$Important"]);
        var attachment = new byte[300_000];
        rng.NextBytes(attachment);
        var b64 = Convert.ToBase64String(attachment, Base64FormattingOptions.InsertLineBreaks);
        await AppendAsync(store, inbox.Id, Message(3, "attachment", $"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"data.bin\"\r\n\r\n{b64}\r\n--b--", "Content-Type: multipart/mixed; boundary=b\r\n"), [@"\Answered", @"\Seen"]);

        // Large and poorly compressible: several chunks even after the blob store's zstd.
        var large = new byte[6 * 1024 * 1024];
        rng.NextBytes(large);
        await AppendAsync(store, inbox.Id, Message(4, "large", Convert.ToBase64String(large, Base64FormattingOptions.InsertLineBreaks)), []);

        for (var f = 0; f < extraFolders; f++)
        {
            var name = f % 2 == 0 ? $"Projects/P{f}" : $"Archive {f}";
            var box = await store.Messages.CreateMailboxAsync(alice.Id, name);
            for (var i = 0; i < 3; i++)
            {
                await AppendAsync(store, box.Id, Message(100 + (f * 10) + i, $"folder {name} #{i}", $"Body {i} of {name}."), i == 0 ? [@"\Seen", @"\Draft"] : []);
            }
        }

        var bobInbox = (await store.Messages.GetMailboxAsync(bob.Id, "INBOX"))!;
        await AppendAsync(store, bobInbox.Id, Message(900, "for bob", "Hi Bob."), [@"\Seen"]);

        // An expunge so UIDs have a gap, which a restore must keep.
        var gap = await AppendAsync(store, inbox.Id, Message(5, "to delete", "bye"), [@"\Deleted"]);
        await store.Messages.ExpungeAsync(inbox.Id, [gap]);
        await AppendAsync(store, inbox.Id, Message(6, "after gap", "still here"), []);
    }

    public static async Task<long> AppendAsync(IMailStore store, long mailboxId, string message, string[] flags)
    {
        var blob = await store.Blobs.PutAsync(Encoding.UTF8.GetBytes(message));
        var result = await store.Messages.AppendAsync(mailboxId, blob, flags, DateTimeOffset.FromUnixTimeSeconds(1_795_000_000 + mailboxId));
        return result.Uid;
    }

    /// <summary>Creates the non-database files a server keeps: config, TLS, DKIM key (0600).</summary>
    public static void AddServerFiles(string dataDir)
    {
        File.WriteAllText(System.IO.Path.Combine(dataDir, "rempart.json"), "{ \"hostName\": \"mail.example.test\" }");
        Directory.CreateDirectory(System.IO.Path.Combine(dataDir, "tls"));
        File.WriteAllText(System.IO.Path.Combine(dataDir, "tls", "cert.pem"), "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
        var dkim = System.IO.Path.Combine(dataDir, "dkim", "example.test");
        Directory.CreateDirectory(dkim);
        var key = System.IO.Path.Combine(dkim, "default.key");
        File.WriteAllText(key, "-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n");
        File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    /// <summary>Everything a restore must preserve, per account and folder, in a comparable form.</summary>
    public static async Task<List<string>> DescribeAsync(IMailStore store)
    {
        var lines = new List<string>();
        foreach (var account in (await store.Directory.ListAccountsAsync()).OrderBy(a => a.Address, StringComparer.Ordinal))
        {
            lines.Add($"account {account.Address} admin={account.IsAdmin} hash={account.PasswordHash}");
            foreach (var box in (await store.Messages.ListMailboxesAsync(account.Id)).OrderBy(b => b.Name, StringComparer.Ordinal))
            {
                lines.Add($"  folder {box.Name} uidvalidity={box.UidValidity} uidnext={box.UidNext} special={box.SpecialUse} subscribed={box.Subscribed}");
                foreach (var m in await store.Messages.ListMessagesAsync(box.Id))
                {
                    var bytes = await store.Blobs.ReadAllAsync(m.BlobHash);
                    lines.Add($"    uid={m.Uid} flags={string.Join(' ', m.Flags)} date={m.InternalDate.ToUnixTimeMilliseconds()} size={m.Size} sha={Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes))}");
                }
            }
        }

        return lines;
    }
}
