using System.Security.Cryptography;
using System.Text;
using Rempart.Store.Blobs;
using ZstdSharp;

namespace Rempart.Store.Tests;

public sealed class BlobStoreTests
{
    [Fact]
    public async Task Blob_path_and_format_are_fixed_for_a_known_input()
    {
        await using var t = await TempStore.CreateAsync();
        var content = Encoding.ASCII.GetBytes("Hello, Rempart!\r\n");

        var blob = await t.Store.Blobs.PutAsync(content);

        // Persisted format: sha256 of the uncompressed bytes, blobs/ab/<hash>, one standard zstd frame, blobs/layout naming it.
        const string expected = "6a12e021688dde95e5e4921c5e1e91f3248240786b8fe23a48f2bd0cd80845ff";
        Assert.Equal(expected, blob.Hash);
        Assert.Equal(content.Length, blob.Size);
        var path = Path.Combine(t.BlobsPath, "6a", expected);
        Assert.Equal("2 sha256/h[0..2]/hash zstd\n", await File.ReadAllTextAsync(Path.Combine(t.BlobsPath, "layout")));
        Assert.True(File.Exists(path));
        Assert.Equal(path, t.Store.BlobFiles.PathOf(expected));
        var onDisk = await File.ReadAllBytesAsync(path);
        Assert.Equal(new byte[] { 0x28, 0xB5, 0x2F, 0xFD }, onDisk[..4]);
        using var decompressor = new Decompressor();
        Assert.Equal(content, decompressor.Unwrap(onDisk).ToArray());
    }

    [Fact]
    public async Task A_store_in_layout_1_is_moved_to_one_folder_level_when_opened()
    {
        await using var t = await TempStore.CreateAsync();
        var alice = await t.AddAccountAsync("alice@example.test");
        var inbox = await t.InboxAsync(alice.Id);
        const int Bodies = 40;
        for (var i = 0; i < Bodies; i++)
        {
            await t.AppendAsync(inbox.Id, "body " + i);
        }

        // Rewrite the folder as layout 1 left it: ab/cd/<hash>, no layout file; plus what the move must leave alone.
        var hashes = Directory.GetFiles(t.BlobsPath, "*", SearchOption.AllDirectories).Select(Path.GetFileName).Where(n => n!.Length == 64).ToList();
        Assert.Equal(Bodies, hashes.Count);
        foreach (var hash in hashes)
        {
            var legacy = FileBlobStore.LegacyPathIn(t.BlobsPath, hash!);
            Directory.CreateDirectory(Path.GetDirectoryName(legacy)!);
            File.Move(FileBlobStore.PathIn(t.BlobsPath, hash!), legacy);
        }

        // A move interrupted by a crash: one body already at its new place, another at both.
        File.Move(FileBlobStore.LegacyPathIn(t.BlobsPath, hashes[0]!), FileBlobStore.PathIn(t.BlobsPath, hashes[0]!));
        File.Copy(FileBlobStore.LegacyPathIn(t.BlobsPath, hashes[1]!), FileBlobStore.PathIn(t.BlobsPath, hashes[1]!));
        File.Delete(Path.Combine(t.BlobsPath, "layout"));
        var stranger = Path.Combine(t.BlobsPath, hashes[2]![..2], hashes[2]![2..4], "notes.txt");
        await File.WriteAllTextAsync(stranger, "not a blob");

        Assert.Equal(Bodies - 2, FileBlobStore.MigrateLayout(t.BlobsPath));
        File.Delete(Path.Combine(t.BlobsPath, "layout"));
        Assert.Equal(0, FileBlobStore.MigrateLayout(t.BlobsPath));
        File.Delete(Path.Combine(t.BlobsPath, "layout"));
        foreach (var hash in hashes)
        {
            var legacy = FileBlobStore.LegacyPathIn(t.BlobsPath, hash!);
            Directory.CreateDirectory(Path.GetDirectoryName(legacy)!);
            File.Move(FileBlobStore.PathIn(t.BlobsPath, hash!), legacy);
        }

        // Opening the store does it.
        await t.ReopenAsync();
        Assert.True(File.Exists(Path.Combine(t.BlobsPath, "layout")));
        foreach (var hash in hashes)
        {
            Assert.True(File.Exists(FileBlobStore.PathIn(t.BlobsPath, hash!)));
            Assert.False(File.Exists(FileBlobStore.LegacyPathIn(t.BlobsPath, hash!)));
            Assert.True(await t.Store.Blobs.VerifyAsync(hash!));
        }

        Assert.True(File.Exists(stranger));
        Assert.Equal(hashes.Order(), t.Store.BlobFiles.EnumerateHashes().Order());
        var leftFolders = Directory.GetDirectories(t.BlobsPath, "*", SearchOption.AllDirectories).Select(d => Path.GetRelativePath(t.BlobsPath, d)).Where(d => d.Contains('/')).ToList();
        Assert.Equal([Path.GetRelativePath(t.BlobsPath, Path.GetDirectoryName(stranger)!)], leftFolders);
        Assert.Empty(await t.Store.VerifyBlobsAsync(full: true));
        var messages = await t.Store.Messages.ListMessagesAsync(inbox.Id);
        Assert.Contains("Subject: body 7\r\n", Encoding.ASCII.GetString(await t.Store.Blobs.ReadAllAsync(messages[7].BlobHash)), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Content_round_trips_byte_for_byte_through_both_put_paths()
    {
        await using var t = await TempStore.CreateAsync();
        var random = new byte[300_000];
        new Random(42).NextBytes(random);
        var text = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("Line with é and \0 nul\r\n", 5000)));

        var a = await t.Store.Blobs.PutAsync(random);
        using var stream = new MemoryStream(text);
        var b = await t.Store.Blobs.PutAsync(stream);

        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(random)), a.Hash);
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(text)), b.Hash);
        Assert.Equal(text.Length, b.Size);
        Assert.Equal(random, await t.Store.Blobs.ReadAllAsync(a.Hash));
        Assert.Equal(text, await t.Store.Blobs.ReadAllAsync(b.Hash));
        Assert.True(await t.Store.Blobs.VerifyAsync(a.Hash));
        Assert.True(await t.Store.Blobs.VerifyAsync(b.Hash));
        Assert.True(new FileInfo(t.Store.BlobFiles.PathOf(b.Hash)).Length < text.Length / 10);
    }

    [Fact]
    public async Task Same_content_is_kept_once()
    {
        await using var t = await TempStore.CreateAsync();
        var content = Encoding.ASCII.GetBytes("dedupe me");
        var a = await t.Store.Blobs.PutAsync(content);
        using var stream = new MemoryStream(content);
        var b = await t.Store.Blobs.PutAsync(stream);
        Assert.Equal(a, b);
        Assert.Single(t.Store.BlobFiles.EnumerateHashes());
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(t.BlobsPath, "tmp")));
    }

    [Fact]
    public async Task Missing_or_corrupted_blob_is_detected()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.Store.Blobs.PutAsync(Encoding.ASCII.GetBytes("first body"));
        var b = await t.Store.Blobs.PutAsync(Encoding.ASCII.GetBytes("second body"));

        File.Delete(t.Store.BlobFiles.PathOf(a.Hash));
        Assert.False(t.Store.Blobs.Exists(a.Hash));
        Assert.False(await t.Store.Blobs.VerifyAsync(a.Hash));
        Assert.Throws<StoreException>(() => t.Store.Blobs.Open(a.Hash));

        // A valid zstd frame of other bytes: decompresses fine but the hash no longer matches.
        using (var compressor = new Compressor(3))
        {
            await File.WriteAllBytesAsync(t.Store.BlobFiles.PathOf(b.Hash), compressor.Wrap(Encoding.ASCII.GetBytes("tampered")).ToArray());
        }

        Assert.False(await t.Store.Blobs.VerifyAsync(b.Hash));

        // Garbage that is not zstd at all.
        await File.WriteAllBytesAsync(t.Store.BlobFiles.PathOf(b.Hash), [1, 2, 3, 4, 5]);
        Assert.False(await t.Store.Blobs.VerifyAsync(b.Hash));
    }

    [Fact]
    public async Task Hashes_that_are_not_hex_are_refused()
    {
        await using var t = await TempStore.CreateAsync();
        Assert.Throws<StoreException>(() => t.Store.Blobs.Open("../../etc/passwd"));
        Assert.Throws<StoreException>(() => t.Store.Blobs.Open(new string('A', 64)));
        Assert.False(t.Store.Blobs.Exists("../x"));
        Assert.False(await t.Store.Blobs.VerifyAsync("zz"));
    }

    [Fact]
    public async Task Store_wide_verification_reports_missing_and_damaged_bodies()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        var one = await t.AppendAsync(inbox.Id, "one");
        var two = await t.AppendAsync(inbox.Id, "two");
        Assert.Empty(await t.Store.VerifyBlobsAsync(full: true));

        var messages = await t.Store.Messages.ListMessagesAsync(inbox.Id);
        File.Delete(t.Store.BlobFiles.PathOf(messages[0].BlobHash));
        await File.WriteAllBytesAsync(t.Store.BlobFiles.PathOf(messages[1].BlobHash), [9, 9, 9]);

        Assert.Equal([messages[0].BlobHash], await t.Store.VerifyBlobsAsync(full: false));
        Assert.Equal(messages.Select(m => m.BlobHash).Order(StringComparer.Ordinal), await t.Store.VerifyBlobsAsync(full: true));
        Assert.True(one.Uid < two.Uid);
    }

    [Fact]
    public async Task Orphan_sweep_deletes_only_old_unreferenced_bodies()
    {
        await using var t = await TempStore.CreateAsync();
        var a = await t.AddAccountAsync("a@example.com");
        var inbox = await t.InboxAsync(a.Id);
        await t.AppendAsync(inbox.Id, "kept");
        var orphanOld = await t.Store.Blobs.PutAsync(Encoding.ASCII.GetBytes("refused delivery"));
        var orphanNew = await t.Store.Blobs.PutAsync(Encoding.ASCII.GetBytes("being delivered right now"));
        File.SetLastWriteTimeUtc(t.Store.BlobFiles.PathOf(orphanOld.Hash), DateTime.UtcNow.AddDays(-2));

        Assert.Equal(1, await t.Store.SweepOrphanBlobsAsync(TimeSpan.FromDays(1)));
        Assert.False(t.Store.Blobs.Exists(orphanOld.Hash));
        Assert.True(t.Store.Blobs.Exists(orphanNew.Hash));
        Assert.Empty(await t.Store.VerifyBlobsAsync(full: true));
    }

    [Fact]
    public void Unparseable_messages_get_a_minimal_description_instead_of_being_refused()
    {
        var analysis = Rempart.Store.Mime.MessageAnalyzer.Fallback(Encoding.ASCII.GetBytes("line one\r\nline two\r\n"));
        Assert.Equal("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)", analysis.Envelope);
        Assert.Equal("(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 20 2)", analysis.Body);
        Assert.Contains("line two", analysis.BodyText, StringComparison.Ordinal);
    }

    [Fact]
    public void Old_leftover_temp_files_are_removed_at_open_but_fresh_ones_kept()
    {
        var root = Path.Combine(Path.GetTempPath(), "rempart-store-tests", Guid.NewGuid().ToString("N"));
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "tmp"));
            var crashed = Path.Combine(root, "tmp", "crashed-write");
            var inProgress = Path.Combine(root, "tmp", "in-progress");
            File.WriteAllText(crashed, "partial");
            File.SetLastWriteTimeUtc(crashed, DateTime.UtcNow.AddHours(-2));
            File.WriteAllText(inProgress, "another process is writing this");
            _ = new FileBlobStore(root, 3);
            Assert.False(File.Exists(crashed));
            Assert.True(File.Exists(inProgress));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}
