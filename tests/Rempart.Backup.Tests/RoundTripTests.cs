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

            // The snapshot left the full-text index out: searches are right at once, the rebuild then completes it.
            Assert.True(store.TextIndexPending);
            var alice0 = (await store.Directory.GetAccountAsync("alice@example.test"))!;
            var inbox0 = (await store.Messages.GetMailboxAsync(alice0.Id, "INBOX"))!;
            Assert.Equal([2L], await store.Messages.SearchTextAsync(inbox0.Id, "Köln", TextSearchScope.Body));
            await store.RebuildTextIndexAsync(default);
            Assert.False(store.TextIndexPending);
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
