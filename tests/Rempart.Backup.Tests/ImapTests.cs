using System.Text;
using MailKit;
using MailKit.Net.Imap;
using MailKit.Security;
using MimeKit;
using Rempart.Backup.Imap;
using Rempart.Backup.Snapshots;

namespace Rempart.Backup.Tests;

/// <summary>`backup imap` against a real Dovecot on loopback.</summary>
public sealed class ImapTests
{
    private static async Task<ImapClient> LoginAsync(DovecotServer server, string user)
    {
        var client = new ImapClient();
        await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None);
        await client.AuthenticateAsync(user, "secret");
        return client;
    }

    private static async Task AppendAsync(IMailFolder folder, int n, string subject, MessageFlags flags, string? messageId = null)
    {
        var raw = TestData.Message(n, subject, $"Body of {subject} — 8bit é");
        if (messageId is not null)
        {
            raw = raw.Replace($"<m{n}@remote.test>", messageId, StringComparison.Ordinal);
        }

        using var message = MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(raw)));
        await folder.AppendAsync(new AppendRequest(message, flags) { InternalDate = DateTimeOffset.FromUnixTimeSeconds(1_790_000_000 + n) });
    }

    [Fact]
    public async Task Backup_imap_copies_a_dovecot_account_incrementally_and_restores_into_rempart_and_back_into_imap()
    {
        await using var dovecot = await DovecotServer.StartAsync(("alice@remote.test", "secret"), ("restore@remote.test", "secret"));
        using (var client = await LoginAsync(dovecot, "alice@remote.test"))
        {
            var root = client.GetFolder(client.PersonalNamespaces[0]);
            var work = (await root.CreateAsync("Work", true))!;
            await AppendAsync(client.Inbox, 1, "hello", MessageFlags.Seen);
            await AppendAsync(client.Inbox, 2, "flagged", MessageFlags.Flagged);
            await AppendAsync(work, 3, "report", MessageFlags.None);

            // The same message (Message-ID and size) in two folders is downloaded once.
            await AppendAsync(work, 1, "hello", MessageFlags.Seen);
            await client.DisconnectAsync(true);
        }

        using var tmp = new TempDir();
        using var repo = TestData.InitRepo(tmp.Sub("repo"));
        var source = new ImapSource("127.0.0.1", dovecot.Port, SecureSocketOptions.None, "alice@remote.test", "secret");
        var backup = new ImapBackup(repo, TimeProvider.System);
        var first = await backup.BackupAsync(source, default);
        Assert.Equal(4, first.Messages.Count);
        Assert.Equal(3, backup.Downloaded);
        Assert.Equal(["INBOX", "Work"], first.Mailboxes.Select(m => m.Name));

        using (var client = await LoginAsync(dovecot, "alice@remote.test"))
        {
            await AppendAsync(client.Inbox, 4, "new one", MessageFlags.Answered);
            await client.DisconnectAsync(true);
        }

        var second = await backup.BackupAsync(source, default);
        Assert.Equal(5, second.Messages.Count);
        Assert.Equal(1, backup.Downloaded);
        Assert.Equal(first.Mailboxes.Select(m => m.UidValidity), second.Mailboxes.Select(m => m.UidValidity));
        Assert.True((await new Verifier(repo).VerifyAsync(100, null, default)).Ok);

        // Into Rempart: another account, a folder named after the snapshot.
        await using (var store = await TestData.OpenStoreAsync(tmp.Sub("data")))
        {
            await store.Directory.AddDomainAsync("example.test");
            var bob = await store.Directory.AddAccountAsync(new Rempart.Store.NewAccount("bob@example.test", "x"));
            var result = await new SnapshotRestorer(repo).RestoreMessagesAsync(second, store, new RestoreSelection("alice@remote.test", "INBOX", TargetAccount: "bob@example.test"), default);
            Assert.Equal(3, result.Messages);
            var box = (await store.Messages.GetMailboxAsync(bob.Id, $"Restored/{second.Label} INBOX"))!;
            var restored = await store.Messages.ListMessagesAsync(box.Id);
            Assert.Equal([@"\Seen", @"\Flagged", @"\Answered"], restored.Select(m => string.Join(' ', m.Flags)));
            Assert.Contains("Subject: flagged", Encoding.UTF8.GetString(await store.Blobs.ReadAllAsync(restored[1].BlobHash)));
        }

        // Back into an IMAP server (another account there).
        var target = source with { User = "restore@remote.test" };
        Assert.Equal(2, await backup.RestoreToImapAsync(second, "alice@remote.test", "Work", "Recovered", target, default));
        using (var client = await LoginAsync(dovecot, "restore@remote.test"))
        {
            var folder = await client.GetFolderAsync("Recovered");
            await folder.OpenAsync(FolderAccess.ReadOnly);
            var items = await folder.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.Flags);
            Assert.Equal(["report", "hello"], items.Select(i => i.Envelope!.Subject));
            Assert.True(items[1].Flags!.Value.HasFlag(MessageFlags.Seen));
        }
    }

    [Fact]
    public async Task The_backup_imap_and_imap_restore_commands_work_against_dovecot()
    {
        await using var dovecot = await DovecotServer.StartAsync(("carol@remote.test", "secret"), ("dest@remote.test", "secret"));
        using (var client = await LoginAsync(dovecot, "carol@remote.test"))
        {
            await AppendAsync(client.Inbox, 11, "first", MessageFlags.Seen);
            await AppendAsync(client.Inbox, 12, "second", MessageFlags.Flagged);
            await client.DisconnectAsync(true);
        }

        using var tmp = new TempDir();
        TestData.InitRepo(tmp.Sub("repo")).Dispose();
        var port = dovecot.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var password = new Dictionary<string, string> { ["REMPART_IMAP_PASSWORD"] = "secret" };
        string[] server = ["--host", "127.0.0.1", "--port", port, "--tls", "none", "--repo", tmp.Sub("repo")];

        var copy = await ProcessTests.RunAsync(ProcessTests.Pass, password, ["backup", "imap", "--user", "carol@remote.test", .. server]);
        Assert.True(copy.Code == 0, copy.Out + copy.Err);
        Assert.Matches(@"Messages\s+2 in 1 folders", copy.Out);
        Assert.Matches(@"Downloaded\s+2\b", copy.Out);

        // Incremental: only the new message is fetched the second time.
        using (var client = await LoginAsync(dovecot, "carol@remote.test"))
        {
            await AppendAsync(client.Inbox, 13, "third", MessageFlags.None);
            await client.DisconnectAsync(true);
        }

        var again = await ProcessTests.RunAsync(ProcessTests.Pass, password, ["backup", "imap", "--user", "carol@remote.test", .. server]);
        Assert.True(again.Code == 0, again.Out + again.Err);
        Assert.Matches(@"Downloaded\s+1\b", again.Out);
        using (var repo = Rempart.Backup.Repository.BackupRepository.Open(tmp.Sub("repo"), TestData.Passphrase))
        {
            var snapshots = repo.ReadAllSnapshots().Snapshots;
            Assert.Equal(2, snapshots.Count);
            Assert.Equal(3, snapshots[^1].Messages.Count);
        }

        var wrong = await ProcessTests.RunAsync(ProcessTests.Pass, new Dictionary<string, string> { ["REMPART_IMAP_PASSWORD"] = "nope" }, ["backup", "imap", "--user", "carol@remote.test", .. server]);
        Assert.Equal(1, wrong.Code);
        Assert.DoesNotContain("   at ", wrong.Err);

        var back = await ProcessTests.RunAsync(ProcessTests.Pass, password, ["backup", "imap-restore", "latest", "carol@remote.test/INBOX", "--folder", "Back", "--user", "dest@remote.test", .. server]);
        Assert.True(back.Code == 0, back.Out + back.Err);
        Assert.Contains("Appended 3 messages", back.Out);
        using (var client = await LoginAsync(dovecot, "dest@remote.test"))
        {
            var folder = await client.GetFolderAsync("Back");
            await folder.OpenAsync(FolderAccess.ReadOnly);
            var items = await folder.FetchAsync(0, -1, MessageSummaryItems.Envelope | MessageSummaryItems.Flags);
            Assert.Equal(["first", "second", "third"], items.Select(i => i.Envelope!.Subject));
            Assert.True(items[1].Flags!.Value.HasFlag(MessageFlags.Flagged));
        }
    }
}
