using Rempart.Backup.Repository;
using Rempart.Backup.Snapshots;
using Rempart.Store;

namespace Rempart.Backup.Tests;

public sealed class FaultTests
{
    private static async Task<(TempDir Tmp, SnapshotManifest Snapshot)> BackedUpAsync()
    {
        var tmp = new TempDir();
        var data = tmp.Sub("data");
        await using (var store = await TestData.OpenStoreAsync(data))
        {
            await TestData.FillAsync(store, extraFolders: 2);
        }

        using var repo = TestData.InitRepo(tmp.Sub("repo"));
        var snapshot = await new SnapshotCreator(repo, TimeProvider.System).CreateAsync(data, null, null, null, default);
        return (tmp, snapshot);
    }

    private static string ChunkOfMessage(SnapshotManifest snapshot, string subjectUid)
    {
        var message = snapshot.Messages.Single(m => Verifier.MessageName(snapshot, m) == subjectUid);
        return snapshot.Blobs.Single(b => b.Hash == message.Blob).Chunks[0];
    }

    [Fact]
    public async Task Wrong_passphrase_is_a_clear_error()
    {
        var (tmp, _) = await BackedUpAsync();
        using (tmp)
        {
            var ex = Assert.Throws<WrongPassphraseException>(() => BackupRepository.Open(tmp.Sub("repo"), "not the passphrase"u8));
            Assert.Contains("wrong passphrase", ex.Message);
        }
    }

    [Fact]
    public async Task A_bit_flipped_chunk_fails_verify_and_names_the_message_it_holds()
    {
        var (tmp, snapshot) = await BackedUpAsync();
        using (tmp)
        {
            using var repo = BackupRepository.Open(tmp.Sub("repo"), TestData.Passphrase);
            var chunk = ChunkOfMessage(snapshot, "alice@example.test/INBOX UID 2");
            var path = repo.ChunkPath(chunk);
            var bytes = File.ReadAllBytes(path);
            bytes[bytes.Length / 2] ^= 0x04;
            File.WriteAllBytes(path, bytes);

            var report = await new Verifier(repo).VerifyAsync(100, null, default);
            Assert.False(report.Ok);
            var damaged = Assert.Single(report.Damaged);
            Assert.Equal(chunk, damaged.ChunkId);
            Assert.Contains("authentication failed", damaged.Error);
            Assert.Equal([$"snapshot {snapshot.ShortId}: alice@example.test/INBOX UID 2"], damaged.Affected);

            // Restoring that message, once deleted from the store, fails loudly instead of returning altered mail.
            await using var store = await TestData.OpenStoreAsync(tmp.Sub("data"));
            var alice = (await store.Directory.GetAccountAsync("alice@example.test"))!;
            var inbox = (await store.Messages.GetMailboxAsync(alice.Id, "INBOX"))!;
            await store.Messages.StoreFlagsAsync(inbox.Id, [2], FlagOperation.Add, [@"\Deleted"]);
            await store.Messages.ExpungeAsync(inbox.Id, [2]);
            await Assert.ThrowsAsync<DamagedDataException>(() => new SnapshotRestorer(repo).RestoreMessagesAsync(snapshot, store, new RestoreSelection("alice@example.test", "INBOX", 2), default));
        }
    }

    [Fact]
    public async Task A_truncated_chunk_and_a_missing_chunk_are_reported_with_their_messages()
    {
        var (tmp, snapshot) = await BackedUpAsync();
        using (tmp)
        {
            using var repo = BackupRepository.Open(tmp.Sub("repo"), TestData.Passphrase);
            var truncated = ChunkOfMessage(snapshot, "alice@example.test/INBOX UID 1");
            var path = repo.ChunkPath(truncated);
            File.WriteAllBytes(path, File.ReadAllBytes(path)[..20]);
            var missing = ChunkOfMessage(snapshot, "bob@example.test/INBOX UID 1");
            File.Delete(repo.ChunkPath(missing));

            // Even a 1% sample reports the missing chunk (a stat is cheap), and a full run both.
            var report = await new Verifier(repo).VerifyAsync(100, null, default);
            Assert.Equal(2, report.Damaged.Count);
            var t = report.Damaged.Single(d => d.ChunkId == truncated);
            Assert.Contains("truncated", t.Error);
            Assert.Contains("alice@example.test/INBOX UID 1", t.Affected.Single());
            var m = report.Damaged.Single(d => d.ChunkId == missing);
            Assert.Equal("missing", m.Error);
            Assert.Contains("bob@example.test/INBOX UID 1", m.Affected.Single());

            var sample = await new Verifier(repo).VerifyAsync(1, null, default);
            Assert.Contains(sample.Damaged, d => d.ChunkId == missing);
        }
    }

    [Fact]
    public async Task A_clean_repository_verifies_and_a_moved_chunk_does_not()
    {
        var (tmp, snapshot) = await BackedUpAsync();
        using (tmp)
        {
            using var repo = BackupRepository.Open(tmp.Sub("repo"), TestData.Passphrase);
            var report = await new Verifier(repo).VerifyAsync(100, null, default);
            Assert.True(report.Ok, string.Join("\n", report.SnapshotProblems));
            Assert.Equal(report.ReferencedChunks, report.CheckedChunks);

            // A valid chunk copied over another one: authenticated data bound to its name fails.
            var a = ChunkOfMessage(snapshot, "alice@example.test/INBOX UID 1");
            var b = ChunkOfMessage(snapshot, "bob@example.test/INBOX UID 1");
            File.Copy(repo.ChunkPath(a), repo.ChunkPath(b), overwrite: true);
            var after = await new Verifier(repo).VerifyAsync(100, null, default);
            Assert.Equal(b, Assert.Single(after.Damaged).ChunkId);
        }
    }

    [Fact]
    public async Task A_full_disk_fails_the_backup_cleanly_and_the_next_run_completes_reusing_written_chunks()
    {
        // Simulated at an exact point (the 9th chunk write throws ENOSPC's IOException); ProcessTests fills a real tmpfs.
        using var tmp = new TempDir();
        var data = tmp.Sub("data");
        await using (var store = await TestData.OpenStoreAsync(data))
        {
            await TestData.FillAsync(store);
        }

        using var repo = TestData.InitRepo(tmp.Sub("repo"));
        var writes = 0;
        repo.BeforeWrite = _ =>
        {
            if (Interlocked.Increment(ref writes) > 8)
            {
                throw new IOException("No space left on device");
            }
        };
        var creator = new SnapshotCreator(repo, TimeProvider.System);
        var ex = await Assert.ThrowsAsync<IOException>(() => creator.CreateAsync(data, null, null, null, default));
        Assert.Contains("No space", ex.Message);
        Assert.Empty(repo.ListSnapshotIds());
        Assert.Empty(Directory.EnumerateFiles(repo.TmpPath));
        var written = repo.ListChunkIds().Count();
        Assert.Equal(8, written);

        repo.BeforeWrite = null;
        var snapshot = await creator.CreateAsync(data, null, null, null, default);
        Assert.Equal(repo.ListChunkIds().Count(), snapshot.Stats.NewChunks + written);
        Assert.True((await new Verifier(repo).VerifyAsync(100, null, default)).Ok);
    }

    [Fact]
    public async Task Editing_the_config_to_drop_append_only_is_detected_and_append_only_refuses_prune()
    {
        using var tmp = new TempDir();
        using (var repo = TestData.InitRepo(tmp.Sub("repo"), appendOnly: true))
        {
            var ex = Assert.Throws<BackupException>(() => new Pruner(repo).Prune(new RetentionPolicy(Last: 1), dryRun: false));
            Assert.Contains("append-only", ex.Message);
        }

        var config = Path.Combine(tmp.Sub("repo"), "config");
        File.WriteAllText(config, File.ReadAllText(config).Replace("\"appendOnly\": true", "\"appendOnly\": false", StringComparison.Ordinal));
        var tampered = Assert.Throws<BackupException>(() => BackupRepository.Open(tmp.Sub("repo"), TestData.Passphrase));
        Assert.Contains("modified outside Rempart", tampered.Message);
    }

    [Fact]
    public void Init_refuses_a_non_empty_folder_and_open_a_folder_without_repository()
    {
        using var tmp = new TempDir();
        File.WriteAllText(tmp.Sub("x"), "");
        Assert.Contains("not empty", Assert.Throws<BackupException>(() => TestData.InitRepo(tmp.Path)).Message);
        Assert.Contains("not a backup repository", Assert.Throws<BackupException>(() => BackupRepository.Open(tmp.Path, TestData.Passphrase)).Message);
    }
}
