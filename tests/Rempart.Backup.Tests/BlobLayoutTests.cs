using Rempart.Backup.Snapshots;
using Rempart.Store.Blobs;

namespace Rempart.Backup.Tests;

/// <summary>Backups of a data folder whose bodies are still in blob layout 1 (not opened by this version yet).</summary>
public sealed class BlobLayoutTests
{
    [Fact]
    public async Task A_data_folder_still_in_layout_1_is_backed_up_whole_and_restored_in_the_current_layout()
    {
        using var tmp = new TempDir();
        var data = tmp.Sub("data");
        List<string> before;
        await using (var store = await TestData.OpenStoreAsync(data))
        {
            await TestData.FillAsync(store, extraFolders: 1);
            before = await TestData.DescribeAsync(store);
        }

        // What an upgrade finds before the server's first start: ab/cd/<hash> and no layout file.
        var blobs = Path.Combine(data, "blobs");
        File.Delete(Path.Combine(blobs, FileBlobStore.LayoutFile));
        var hashes = Directory.GetFiles(blobs, "*", SearchOption.AllDirectories).Select(Path.GetFileName).Where(n => n!.Length == 64).ToList();
        Assert.NotEmpty(hashes);
        foreach (var hash in hashes)
        {
            var legacy = FileBlobStore.LegacyPathIn(blobs, hash!);
            Directory.CreateDirectory(Path.GetDirectoryName(legacy)!);
            File.Move(FileBlobStore.PathIn(blobs, hash!), legacy);
        }

        using (var repo = TestData.InitRepo(tmp.Sub("repo")))
        {
            var snapshot = await new SnapshotCreator(repo, TimeProvider.System).CreateAsync(data, null, null, null, default);
            Assert.Empty(snapshot.Stats.MissingBlobs);
            var result = await new SnapshotRestorer(repo).RestoreAllAsync(repo.FindSnapshot("latest"), tmp.Sub("restored"), null, default);
            Assert.Equal(hashes.Count, result.Blobs);
        }

        var restoredBlobs = Path.Combine(tmp.Sub("restored"), "blobs");
        Assert.All(hashes, h => Assert.True(File.Exists(FileBlobStore.PathIn(restoredBlobs, h!))));
        await using (var store = await TestData.OpenStoreAsync(tmp.Sub("restored")))
        {
            Assert.Equal(before, await TestData.DescribeAsync(store));
            Assert.Empty(await store.CheckIntegrityAsync());
        }

        // And the original folder, opened by this version, is moved to the current layout with nothing lost.
        await using (var store = await TestData.OpenStoreAsync(data))
        {
            Assert.True(File.Exists(Path.Combine(blobs, FileBlobStore.LayoutFile)));
            Assert.All(hashes, h => Assert.True(File.Exists(FileBlobStore.PathIn(blobs, h!))));
            Assert.Equal(before, await TestData.DescribeAsync(store));
        }
    }
}
