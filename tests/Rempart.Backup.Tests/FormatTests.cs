using System.Text;
using Rempart.Backup.Repository;
using Rempart.Backup.Snapshots;

namespace Rempart.Backup.Tests;

/// <summary>Persisted-format stability (house style habit 13): what this code wrote must stay readable.</summary>
public sealed class FormatTests
{
    private const string FixturePassphrase = "fixture passphrase v1";

    private static string FixtureRepo => Path.Combine(AppContext.BaseDirectory, "Fixtures", "repo-v1");

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
        if (Environment.GetEnvironmentVariable("REMPART_WRITE_BACKUP_FIXTURE") is { Length: > 0 } target)
        {
            await WriteFixtureAsync(target);
        }

        Assert.True(File.Exists(Path.Combine(FixtureRepo, "config")), "fixture missing: " + FixtureRepo);
        using var copy = new TempDir();
        CopyTree(FixtureRepo, copy.Sub("repo"));
        using var repo = BackupRepository.Open(copy.Sub("repo"), Encoding.UTF8.GetBytes(FixturePassphrase));
        Assert.Equal(1, repo.Config.Version);
        var snapshot = Assert.Single(repo.ReadAllSnapshots().Snapshots);
        Assert.Equal("fixture", snapshot.Tag);
        Assert.Equal(["fixture@example.test"], snapshot.Accounts.Select(a => a.Address));
        var message = Assert.Single(snapshot.Messages);
        Assert.Equal(@"\Seen", message.Flags);
        var body = SnapshotRestorer.Decompress(new SnapshotRestorer(repo).ReadBlobFile(snapshot.Blobs.Single(b => b.Hash == message.Blob)), message.Blob);
        Assert.Equal(TestData.Message(1, "fixture", "Kept readable forever."), Encoding.UTF8.GetString(body));
        Assert.True((await new Verifier(repo).VerifyAsync(100, null, default)).Ok);

        var restored = await new SnapshotRestorer(repo).RestoreAllAsync(snapshot, copy.Sub("data"), null, default);
        Assert.Equal(1, restored.Messages);
        await using var store = await TestData.OpenStoreAsync(copy.Sub("data"));
        Assert.NotNull(await store.Directory.GetAccountAsync("fixture@example.test"));
    }

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
