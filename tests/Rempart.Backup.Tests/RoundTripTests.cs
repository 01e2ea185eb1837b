using System.Text;
using Rempart.Backup.Snapshots;
using Rempart.Store;

namespace Rempart.Backup.Tests;

public sealed class RoundTripTests
{
    [Fact]
    public async Task Full_restore_into_an_empty_folder_gives_the_same_accounts_folders_uids_flags_and_bytes()
    {
        using var tmp = new TempDir();
        var data = tmp.Sub("data");
        List<string> before;
        await using (var store = await TestData.OpenStoreAsync(data))
        {
            await TestData.FillAsync(store);
            before = await TestData.DescribeAsync(store);

            // Taken while the store is open (the server running), as an online backup is.
            using var repo = TestData.InitRepo(tmp.Sub("repo"));
            var snapshot = await new SnapshotCreator(repo, TimeProvider.System).CreateAsync(data, null, null, null, default);
            Assert.Empty(snapshot.Stats.MissingBlobs);
        }

        TestData.AddServerFiles(data);
        using (var repo = Rempart.Backup.Repository.BackupRepository.Open(tmp.Sub("repo"), TestData.Passphrase))
        {
            await new SnapshotCreator(repo, TimeProvider.System).CreateAsync(data, null, "with files", null, default);
        }

        // Disaster: the data folder is gone.
        Directory.Delete(data, recursive: true);

        using (var repo = Rempart.Backup.Repository.BackupRepository.Open(tmp.Sub("repo"), TestData.Passphrase))
        {
            var latest = repo.FindSnapshot("latest");
            Assert.Equal("with files", latest.Tag);
            var result = await new SnapshotRestorer(repo).RestoreAllAsync(latest, tmp.Sub("restored"), null, default);
            Assert.True(result.Messages > 20);
        }

        var restored = tmp.Sub("restored");
        Assert.Equal("{ \"hostName\": \"mail.example.test\" }", File.ReadAllText(Path.Combine(restored, "rempart.json")));
        var key = Path.Combine(restored, "dkim", "example.test", "default.key");
        Assert.Contains("secret", File.ReadAllText(key));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
        Assert.True(File.Exists(Path.Combine(restored, "tls", "cert.pem")));

        await using (var store = await TestData.OpenStoreAsync(restored))
        {
            Assert.Equal(before, await TestData.DescribeAsync(store));
            Assert.Empty(await store.CheckIntegrityAsync());

            // The snapshot left the full-text index out: searches are right at once, the indexer then completes it.
            Assert.True(await store.TextIndexBacklogAsync() > 20);
            var alice0 = (await store.Directory.GetAccountAsync("alice@example.test"))!;
            var inbox0 = (await store.Messages.GetMailboxAsync(alice0.Id, "INBOX"))!;
            Assert.Equal([2L], await store.Messages.SearchTextAsync(inbox0.Id, "Köln", TextSearchScope.Body));
            await store.IndexWaitingTextAsync();
            Assert.Equal(0L, await store.TextIndexBacklogAsync());
            var p2 = (await store.Messages.GetMailboxAsync(alice0.Id, "Projects/P2"))!;
            Assert.Equal([2L], await store.Messages.SearchTextAsync(p2.Id, "body 1 of projects", TextSearchScope.Body));

            // The restored server keeps working: new mail gets the next UID.
            var alice = (await store.Directory.GetAccountAsync("alice@example.test"))!;
            var inbox = (await store.Messages.GetMailboxAsync(alice.Id, "INBOX"))!;
            var uid = await TestData.AppendAsync(store, inbox.Id, TestData.Message(77, "after restore", "ok"), []);
            Assert.Equal(inbox.UidNext, uid);
        }
    }

    [Fact]
    public async Task Restore_refuses_a_folder_that_is_not_empty_and_touches_nothing()
    {
        using var tmp = new TempDir();
        var data = tmp.Sub("data");
        await using (var store = await TestData.OpenStoreAsync(data))
        {
            await TestData.FillAsync(store, extraFolders: 0);
        }

        using var repo = TestData.InitRepo(tmp.Sub("repo"));
        var snapshot = await new SnapshotCreator(repo, TimeProvider.System).CreateAsync(data, null, null, null, default);
        var target = tmp.Sub("busy");
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "keep.txt"), "mine");

        var ex = await Assert.ThrowsAsync<BackupException>(() => new SnapshotRestorer(repo).RestoreAllAsync(snapshot, target, null, default));
        Assert.Contains("not empty", ex.Message);
        Assert.Equal(["keep.txt"], Directory.EnumerateFileSystemEntries(target).Select(Path.GetFileName));
        Assert.Equal("mine", File.ReadAllText(Path.Combine(target, "keep.txt")));
    }

    [Fact]
    public async Task A_deleted_folder_comes_back_into_a_new_folder_named_after_the_snapshot_and_one_message_into_another_account()
    {
        using var tmp = new TempDir();
        var data = tmp.Sub("data");
        await using var store = await TestData.OpenStoreAsync(data);
        await TestData.FillAsync(store);
        var alice = (await store.Directory.GetAccountAsync("alice@example.test"))!;
        var bob = (await store.Directory.GetAccountAsync("bob@example.test"))!;
        var archive = (await store.Messages.GetMailboxAsync(alice.Id, "Archive 1"))!;
        var originals = await store.Messages.ListMessagesAsync(archive.Id);

        using var repo = TestData.InitRepo(tmp.Sub("repo"));
        var snapshot = await new SnapshotCreator(repo, TimeProvider.System).CreateAsync(data, null, null, null, default);

        // The user deletes the folder by mistake.
        await store.Messages.DeleteMailboxAsync(archive.Id);
        var inboxBefore = await store.Messages.ListMessagesAsync((await store.Messages.GetMailboxAsync(alice.Id, "INBOX"))!.Id);

        var restorer = new SnapshotRestorer(repo);
        var result = await restorer.RestoreMessagesAsync(snapshot, store, new RestoreSelection("alice@example.test", "Archive 1"), default);
        var expectedName = $"Restored/{snapshot.Label} Archive 1";
        Assert.Equal([expectedName], result.Folders);
        var back = (await store.Messages.GetMailboxAsync(alice.Id, expectedName))!;
        var restored = await store.Messages.ListMessagesAsync(back.Id);
        Assert.Equal(originals.Select(m => (m.BlobHash, string.Join(' ', m.Flags), m.InternalDate)), restored.Select(m => (m.BlobHash, string.Join(' ', m.Flags), m.InternalDate)));

        // Nothing else changed.
        Assert.Equal(inboxBefore.Select(m => m.Uid), (await store.Messages.ListMessagesAsync((await store.Messages.GetMailboxAsync(alice.Id, "INBOX"))!.Id)).Select(m => m.Uid));

        // One message, into another account's chosen folder.
        var one = await restorer.RestoreMessagesAsync(snapshot, store, new RestoreSelection("alice@example.test", "INBOX", Uid: 2, TargetAccount: "bob@example.test", TargetFolder: "From Alice"), default);
        Assert.Equal(1, one.Messages);
        var bobBox = (await store.Messages.GetMailboxAsync(bob.Id, "From Alice"))!;
        var copy = Assert.Single(await store.Messages.ListMessagesAsync(bobBox.Id));
        Assert.Contains("café", Encoding.UTF8.GetString(await store.Blobs.ReadAllAsync(copy.BlobHash)));
        Assert.Contains(@"\Flagged", copy.Flags);

        var missing = await Assert.ThrowsAsync<BackupException>(() => restorer.RestoreMessagesAsync(snapshot, store, new RestoreSelection("alice@example.test", "INBOX", Uid: 999), default));
        Assert.Contains("no message UID 999", missing.Message);
    }

    [Fact]
    public async Task An_account_restored_into_another_server_has_the_same_bytes_flags_uid_order_and_metadata_and_search_finds_it()
    {
        using var tmp = new TempDir();
        var data = tmp.Sub("data");
        var original = new Dictionary<string, List<(string Hash, string Flags, DateTimeOffset Date, byte[] Bytes, MessageMetadata Meta)>>();
        await using (var store = await TestData.OpenStoreAsync(data))
        {
            await TestData.FillAsync(store);
            var alice = (await store.Directory.GetAccountAsync("alice@example.test"))!;
            foreach (var box in await store.Messages.ListMailboxesAsync(alice.Id))
            {
                var list = new List<(string, string, DateTimeOffset, byte[], MessageMetadata)>();
                var messages = await store.Messages.ListMessagesAsync(box.Id);
                var meta = await store.Messages.GetMetadataManyAsync([.. messages.Select(m => m.Id)]);
                foreach (var m in messages)
                {
                    list.Add((m.BlobHash, string.Join(' ', m.Flags), m.InternalDate, await store.Blobs.ReadAllAsync(m.BlobHash), meta[m.Id] with { MessageId = 0 }));
                }

                original[box.Name] = list;
            }
        }

        using var repo = TestData.InitRepo(tmp.Sub("repo"));
        var snapshot = await new SnapshotCreator(repo, TimeProvider.System).CreateAsync(data, null, null, null, default);

        // Another server with the account and none of its mail; a second store instance on the same data stands for
        // the running server next to the CLI that restores.
        var other = tmp.Sub("other");
        await using var target = await TestData.OpenStoreAsync(other);
        await using var server = await TestData.OpenStoreAsync(other);
        await target.Directory.AddDomainAsync("example.test");
        await target.Directory.AddAccountAsync(new NewAccount("alice@example.test", "x"));
        var result = await new SnapshotRestorer(repo).RestoreMessagesAsync(snapshot, target, new RestoreSelection("alice@example.test"), default);
        Assert.Equal(original.Values.Sum(v => v.Count), result.Messages);
        Assert.Empty(await target.CheckIntegrityAsync());

        var account = (await target.Directory.GetAccountAsync("alice@example.test"))!;
        foreach (var (name, expected) in original.Where(o => o.Value.Count > 0))
        {
            var box = (await target.Messages.GetMailboxAsync(account.Id, $"Restored/{snapshot.Label} {name}"))!;
            var messages = await target.Messages.ListMessagesAsync(box.Id);

            // New UIDs in the new folder, in the original order: 1..n.
            Assert.Equal(Enumerable.Range(1, expected.Count).Select(i => (long)i), messages.Select(m => m.Uid));
            var meta = await target.Messages.GetMetadataManyAsync([.. messages.Select(m => m.Id)]);
            for (var i = 0; i < expected.Count; i++)
            {
                Assert.Equal(expected[i].Hash, messages[i].BlobHash);
                Assert.Equal(expected[i].Flags, string.Join(' ', messages[i].Flags));
                Assert.Equal(expected[i].Date, messages[i].InternalDate);
                Assert.Equal(expected[i].Bytes, await target.Blobs.ReadAllAsync(messages[i].BlobHash));
                Assert.True(await target.Blobs.VerifyAsync(messages[i].BlobHash));
                Assert.Equal(expected[i].Meta, meta[messages[i].Id] with { MessageId = 0 });
            }
        }

        // The text was left for later: both store instances still find the restored messages.
        var inbox = (await target.Messages.GetMailboxAsync(account.Id, $"Restored/{snapshot.Label} INBOX"))!;
        Assert.Equal([2L], await server.Messages.SearchTextAsync(inbox.Id, "Köln", TextSearchScope.Body));
        Assert.Equal([2L], await target.Messages.SearchTextAsync(inbox.Id, "Köln", TextSearchScope.Body));
        var p2 = (await target.Messages.GetMailboxAsync(account.Id, $"Restored/{snapshot.Label} Projects/P2"))!;
        Assert.Equal([2L], await server.Messages.SearchTextAsync(p2.Id, "body 1 of projects", TextSearchScope.Body));

        // The indexer completes the index: nothing restored waits any more.
        Assert.True(await server.TextIndexBacklogAsync() > 0);
        await server.IndexWaitingTextAsync();
        Assert.Equal(0L, await server.TextIndexBacklogAsync());
    }

    [Fact]
    public async Task A_second_backup_reads_only_new_bodies_and_stores_only_new_chunks()
    {
        using var tmp = new TempDir();
        var data = tmp.Sub("data");
        await using var store = await TestData.OpenStoreAsync(data);
        await TestData.FillAsync(store);
        using var repo = TestData.InitRepo(tmp.Sub("repo"));
        var creator = new SnapshotCreator(repo, TimeProvider.System);
        var first = await creator.CreateAsync(data, null, null, null, default);

        var alice = (await store.Directory.GetAccountAsync("alice@example.test"))!;
        var inbox = (await store.Messages.GetMailboxAsync(alice.Id, "INBOX"))!;
        var newMessage = TestData.Message(500, "new", "new mail");
        await TestData.AppendAsync(store, inbox.Id, newMessage, []);
        var second = await creator.CreateAsync(data, null, null, null, default);

        Assert.Equal(first.Stats.Blobs + 1, second.Stats.Blobs);
        var dbSize = second.Files.Single(f => f.Path == "rempart.db").Size;

        // Only the database copy and the one new body were read; every old body came from the index.
        Assert.True(second.Stats.ReadBytes <= dbSize + 4096, $"read {second.Stats.ReadBytes}, db {dbSize}");
        Assert.True(second.Stats.DeduplicatedBytes >= first.Blobs.Sum(b => b.Size));
        Assert.True(second.Stats.NewChunks < first.Stats.NewChunks);

        var diff = SnapshotDiff.Compare(first, second);
        Assert.Equal(1, diff.Added);
        Assert.Contains(diff.Lines, l => l.StartsWith("+ alice@example.test/INBOX UID", StringComparison.Ordinal));
    }
}
