using Rempart.Backup.Export;

namespace Rempart.Backup.Tests;

public sealed class ExportTests
{
    [Theory]
    [InlineData(MailFormat.Mbox)]
    [InlineData(MailFormat.Maildir)]
    public async Task Export_then_import_into_another_account_gives_the_same_messages(MailFormat format)
    {
        using var tmp = new TempDir();
        await using var store = await TestData.OpenStoreAsync(tmp.Sub("data"));
        await TestData.FillAsync(store, extraFolders: 3);
        var alice = (await store.Directory.GetAccountAsync("alice@example.test"))!;
        var inbox = (await store.Messages.GetMailboxAsync(alice.Id, "INBOX"))!;

        // A body line that mbox must quote.
        await TestData.AppendAsync(store, inbox.Id, TestData.Message(60, "quoting", "From here on\r\n>From quoted\r\nend"), [@"\Seen"]);
        var exported = await MailExporter.ExportAsync(store, "alice@example.test", null, format, tmp.Sub("out"), default);
        Assert.Equal((await store.Messages.ListMailboxesAsync(alice.Id)).Count, exported.Folders);

        await store.Directory.AddAccountAsync(new Rempart.Store.NewAccount("carol@example.test", "x"));
        var imported = await MailExporter.ImportAsync(store, "carol@example.test", null, format, tmp.Sub("out"), default);
        Assert.Equal(exported.Messages, imported.Messages);

        var carol = (await store.Directory.GetAccountAsync("carol@example.test"))!;
        foreach (var box in await store.Messages.ListMailboxesAsync(alice.Id))
        {
            var source = await store.Messages.ListMessagesAsync(box.Id);
            if (source.Count == 0)
            {
                continue;
            }

            var copy = (await store.Messages.GetMailboxAsync(carol.Id, box.Name))!;
            var copied = await store.Messages.ListMessagesAsync(copy.Id);
            Assert.Equal(source.Select(m => m.BlobHash).Order(), copied.Select(m => m.BlobHash).Order());
            if (format == MailFormat.Maildir)
            {
                Assert.Equal(source.Select(m => string.Join(' ', m.Flags.Where(f => f != "$Important"))).Order(), copied.Select(m => string.Join(' ', m.Flags)).Order());
            }
        }

        var again = await Assert.ThrowsAsync<BackupException>(() => MailExporter.ExportAsync(store, "alice@example.test", "INBOX", format, tmp.Sub("out"), default));
        Assert.Contains("not empty", again.Message);
    }
}
