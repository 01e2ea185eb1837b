using System.Text;
using Rempart.Backup.Repository;
using Rempart.Backup.Snapshots;

namespace Rempart.Backup.Tests;

/// <summary>Persisted-format stability (house style habit 13): what this code wrote must stay readable.</summary>
public sealed class FormatTests
{
    private const string FixturePassphrase = "fixture passphrase v1";

    private static string FixtureRepo => Fixture("repo-v1");

    private static string Fixture(string name) => Path.Combine(AppContext.BaseDirectory, "Fixtures", name);

    [Fact]
    public void Keys_chunk_ids_and_gear_table_are_fixed_for_a_known_master_secret()
    {
        var master = Enumerable.Range(0, 64).Select(i => (byte)i).ToArray();
        var keys = new RepositoryKeys(master);
        var id = keys.ChunkId("hello"u8);
        Assert.True(id == ExpectedHelloId, id);
        var chunker = new Chunker(new ChunkerParameters(64, 256, 1024), keys.GearKey);
        var data = Enumerable.Range(0, 4096).Select(i => (byte)((i * 7919) % 251)).ToArray();
        var cuts = new List<int>();
        var rest = data.AsSpan();
        while (!rest.IsEmpty)
        {
            var n = chunker.Cut(rest);
            cuts.Add(n);
            rest = rest[n..];
        }

        var joined = string.Join(',', cuts);
        Assert.True(joined == ExpectedCuts, joined);
    }

    // Pinned values: a change here means existing repositories no longer dedup (ids) or no longer open.
    private const string ExpectedHelloId = "648a5bffc67ec3297563c53e7cc37db4adc1b50587fce34f5fadc337b13eaff8";
    private const string ExpectedCuts = "272,261,285,263,281,335,296,287,261,285,263,281,335,296,95";

    [Fact]
    public void Sealed_data_opens_and_any_change_to_it_or_its_name_is_refused()
    {
        var keys = new RepositoryKeys(new byte[64]);
        var payload = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("compressible ", 100)));
        var sealedBytes = keys.Seal(payload, RepositoryKeys.ChunkAd("a"), compress: true);
        Assert.True(sealedBytes.Length < payload.Length);
        Assert.Equal(payload, keys.Open(sealedBytes, RepositoryKeys.ChunkAd("a")));
        Assert.Throws<DamagedDataException>(() => keys.Open(sealedBytes, RepositoryKeys.ChunkAd("b")));
        sealedBytes[^1] ^= 1;
        Assert.Throws<DamagedDataException>(() => keys.Open(sealedBytes, RepositoryKeys.ChunkAd("a")));
        Assert.Contains("truncated", Assert.Throws<DamagedDataException>(() => keys.Open(sealedBytes.AsSpan(0, 10), RepositoryKeys.ChunkAd("a"))).Message);
    }

    [Fact]
    public async Task Nothing_in_the_repository_shows_names_or_content_in_clear()
    {
        using var tmp = new TempDir();
        await using (var store = await TestData.OpenStoreAsync(tmp.Sub("data")))
        {
            await TestData.FillAsync(store, extraFolders: 1);
        }

        using (var repo = TestData.InitRepo(tmp.Sub("repo")))
        {
            await new SnapshotCreator(repo, TimeProvider.System).CreateAsync(tmp.Sub("data"), null, null, null, default);
        }

        {
            foreach (var file in Directory.EnumerateFiles(tmp.Sub("repo"), "*", SearchOption.AllDirectories))
            {
                // Markers long and exact enough that random ciphertext cannot contain them by chance (a
                // case-insensitive "alice" did once, in a megabyte of AES-GCM output).
                var text = Encoding.Latin1.GetString(File.ReadAllBytes(file));
                Assert.DoesNotContain("alice@example.test", text, StringComparison.Ordinal);
                Assert.DoesNotContain("Message-ID: <m", text, StringComparison.Ordinal);
                Assert.DoesNotContain("INBOX", text, StringComparison.Ordinal);
                Assert.DoesNotContain("SQLite format", text, StringComparison.Ordinal);
            }
        }
    }

    [Fact]
    public async Task The_committed_version_1_repository_stays_readable()
    {
        // Written by the version-1 code (JSON manifest), never regenerated: what it pins is that old repositories open.
        Assert.True(File.Exists(Path.Combine(FixtureRepo, "config")), "fixture missing: " + FixtureRepo);
        using var copy = new TempDir();
        CopyTree(FixtureRepo, copy.Sub("repo"));
        using var repo = BackupRepository.Open(copy.Sub("repo"), Encoding.UTF8.GetBytes(FixturePassphrase));
        Assert.Equal(1, repo.Config.Version);
        var snapshot = Assert.Single(repo.ReadAllSnapshots().Snapshots);
        Assert.Equal(1, snapshot.Version);
        await AssertFixtureSnapshotAsync(repo, snapshot, copy.Sub("data"));
    }

    [Fact]
    public async Task The_committed_version_2_repository_stays_readable()
    {
        if (Environment.GetEnvironmentVariable("REMPART_WRITE_BACKUP_FIXTURE") is { Length: > 0 } target)
        {
            await WriteFixtureAsync(target);
        }

        var fixture = Fixture("repo-v2");
        Assert.True(File.Exists(Path.Combine(fixture, "config")), "fixture missing: " + fixture);
        using var copy = new TempDir();
        CopyTree(fixture, copy.Sub("repo"));
        using var repo = BackupRepository.Open(copy.Sub("repo"), Encoding.UTF8.GetBytes(FixturePassphrase));
        Assert.Equal(2, repo.Config.Version);
        var snapshot = Assert.Single(repo.ReadAllSnapshots().Snapshots);
        Assert.Equal(2, snapshot.Version);
        Assert.True(ManifestFormat.HasMagic(File.ReadAllBytes(Path.Combine(repo.SnapshotsPath, snapshot.Id))));
        await AssertFixtureSnapshotAsync(repo, snapshot, copy.Sub("data"));
    }

    [Fact]
    public async Task A_version_1_repository_takes_version_2_snapshots_and_reads_both()
    {
        using var tmp = new TempDir();
        CopyTree(FixtureRepo, tmp.Sub("repo"));
        await using (var store = await TestData.OpenStoreAsync(tmp.Sub("data")))
        {
            await store.Directory.AddDomainAsync("example.test");
            var account = await store.Directory.AddAccountAsync(new Rempart.Store.NewAccount("fixture@example.test", "x"));
            var inbox = (await store.Messages.GetMailboxAsync(account.Id, "INBOX"))!;
            await TestData.AppendAsync(store, inbox.Id, TestData.Message(1, "fixture", "Kept readable forever."), [@"\Seen"]);
            await TestData.AppendAsync(store, inbox.Id, TestData.Message(2, "newer", "Written by format 2."), []);
        }

        using var repo = BackupRepository.Open(tmp.Sub("repo"), Encoding.UTF8.GetBytes(FixturePassphrase));
        var created = await new SnapshotCreator(repo, TimeProvider.System).CreateAsync(tmp.Sub("data"), null, "v2", null, default);

        // The config file is not rewritten (an append-only share may forbid it); the new manifest is version 2.
        Assert.Equal(1, repo.Config.Version);
        Assert.Contains("\"version\": 1", File.ReadAllText(Path.Combine(repo.Root, BackupRepository.ConfigFile)), StringComparison.Ordinal);
        var all = repo.ReadAllSnapshots();
        Assert.Empty(all.Damaged);
        Assert.Equal([1, 2], all.Snapshots.Select(s => s.Version).Order());
        var latest = repo.FindSnapshot("latest");
        Assert.Equal(created.Id, latest.Id);
        Assert.Equal(2, latest.Messages.Count);

        // The body both snapshots hold was found in the version-1 snapshot's index and not read again.
        var old = all.Snapshots.Single(s => s.Version == 1);
        Assert.Equal(old.Messages.Single().Blob, latest.Messages.Single(m => m.Uid == 1).Blob);
        Assert.True(created.Stats.DeduplicatedBytes >= old.Blobs.Single().Size, $"deduplicated {created.Stats.DeduplicatedBytes}");
        Assert.True((await new Verifier(repo).VerifyAsync(100, null, default)).Ok);
    }

    [Fact]
    public async Task Choosing_a_snapshot_reads_only_manifest_headers_and_damaged_sections_are_still_found()
    {
        using var tmp = new TempDir();
        await using (var store = await TestData.OpenStoreAsync(tmp.Sub("data")))
        {
            await TestData.FillAsync(store, extraFolders: 1);
        }

        using var repo = TestData.InitRepo(tmp.Sub("repo"));
        var snapshot = await new SnapshotCreator(repo, TimeProvider.System).CreateAsync(tmp.Sub("data"), null, "tag", null, default);
        var path = Path.Combine(repo.SnapshotsPath, snapshot.Id);

        // Flip a byte in the last section (messages): the header still reads, so the snapshot can be chosen ...
        var bytes = File.ReadAllBytes(path);
        bytes[^20] ^= 0x40;
        File.WriteAllBytes(path, bytes);
        var summary = Assert.Single(repo.ReadSnapshotSummaries());
        Assert.Equal("tag", summary.Tag);
        Assert.Equal(snapshot.Stats.Messages, summary.Stats.Messages);
        Assert.NotEmpty(summary.Blobs);

        // ... but reading its catalog, listing it whole, or verifying reports the damage.
        Assert.Throws<DamagedDataException>(() => summary.Messages);
        var damaged = Assert.Single(repo.ReadAllSnapshots().Damaged);
        Assert.Contains("messages", damaged.Error, StringComparison.Ordinal);
        Assert.False((await new Verifier(repo).VerifyAsync(100, null, default)).Ok);

        // A truncated manifest is refused at its header.
        File.WriteAllBytes(path, bytes[..^5]);
        Assert.Contains("truncated", Assert.Throws<DamagedDataException>(() => repo.ReadSnapshot(snapshot.Id)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_granular_restore_decodes_only_the_chosen_folders()
    {
        using var tmp = new TempDir();
        await using (var store = await TestData.OpenStoreAsync(tmp.Sub("data")))
        {
            await TestData.FillAsync(store, extraFolders: 2);
        }

        using var repo = TestData.InitRepo(tmp.Sub("repo"));
        var created = await new SnapshotCreator(repo, TimeProvider.System).CreateAsync(tmp.Sub("data"), null, null, null, default);
        var snapshot = repo.ReadSnapshot(created.Id);
        var box = snapshot.Mailboxes.First(m => snapshot.Messages.Any(x => x.MailboxId == m.Id));
        var fresh = repo.ReadSnapshot(created.Id);
        var some = fresh.MessagesIn(new HashSet<long> { box.Id });
        Assert.Equal(snapshot.Messages.Where(m => m.MailboxId == box.Id), some);
        Assert.True(some.Count < snapshot.Messages.Count);
        Assert.Empty(fresh.MessagesIn(new HashSet<long> { -1 }));
    }

    private static async Task AssertFixtureSnapshotAsync(BackupRepository repo, SnapshotManifest snapshot, string dataDir)
    {
        Assert.Equal("fixture", snapshot.Tag);
        Assert.Equal(["fixture@example.test"], snapshot.Accounts.Select(a => a.Address));
        var message = Assert.Single(snapshot.Messages);
        Assert.Equal(@"\Seen", message.Flags);
        var body = SnapshotRestorer.Decompress(new SnapshotRestorer(repo).ReadBlobFile(snapshot.Blobs.Single(b => b.Hash == message.Blob)), message.Blob);
        Assert.Equal(TestData.Message(1, "fixture", "Kept readable forever."), Encoding.UTF8.GetString(body));
        Assert.True((await new Verifier(repo).VerifyAsync(100, null, default)).Ok);

        var restored = await new SnapshotRestorer(repo).RestoreAllAsync(snapshot, dataDir, null, default);
        Assert.Equal(1, restored.Messages);
        await using var store = await TestData.OpenStoreAsync(dataDir);
        Assert.NotNull(await store.Directory.GetAccountAsync("fixture@example.test"));
    }

    /// <summary>Writes the current-version fixture (REMPART_WRITE_BACKUP_FIXTURE=DIR); commit it as Fixtures/repo-vN.</summary>
    private static async Task WriteFixtureAsync(string target)
    {
        using var tmp = new TempDir();
        await using (var store = await TestData.OpenStoreAsync(tmp.Sub("data")))
        {
            await store.Directory.AddDomainAsync("example.test");
            var account = await store.Directory.AddAccountAsync(new Rempart.Store.NewAccount("fixture@example.test", "x"));
            var inbox = (await store.Messages.GetMailboxAsync(account.Id, "INBOX"))!;
            await TestData.AppendAsync(store, inbox.Id, TestData.Message(1, "fixture", "Kept readable forever."), [@"\Seen"]);
        }

        using var repo = BackupRepository.Init(target, Encoding.UTF8.GetBytes(FixturePassphrase), false, DateTimeOffset.UtcNow, TestData.FastKdf);
        await new SnapshotCreator(repo, TimeProvider.System).CreateAsync(tmp.Sub("data"), null, "fixture", null, default);
        Directory.Delete(repo.TmpPath);
        File.Delete(Path.Combine(repo.Root, BackupRepository.LockFile));
    }

    private static void CopyTree(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var dest = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(dest)!);
            File.Copy(file, dest);
        }
    }
}
