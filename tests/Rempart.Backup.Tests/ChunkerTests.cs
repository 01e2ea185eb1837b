using Rempart.Backup.Repository;

namespace Rempart.Backup.Tests;

public sealed class ChunkerTests
{
    private static readonly ChunkerParameters Small = new(2048, 8192, 32768);

    private static List<byte[]> Split(Chunker chunker, byte[] data)
    {
        var chunks = new List<byte[]>();
        var rest = data.AsSpan();
        while (!rest.IsEmpty)
        {
            var n = chunker.Cut(rest);
            chunks.Add(rest[..n].ToArray());
            rest = rest[n..];
        }

        return chunks;
    }

    [Fact]
    public void Chunks_respect_the_bounds_and_average_near_the_target()
    {
        var data = new byte[2_000_000];
        new Random(1).NextBytes(data);
        var chunks = Split(new Chunker(Small, "k"u8), data);
        Assert.All(chunks.SkipLast(1), c => Assert.InRange(c.Length, Small.MinSize + 1, Small.MaxSize));
        Assert.Equal(data, chunks.SelectMany(c => c).ToArray());
        var average = data.Length / chunks.Count;
        Assert.InRange(average, Small.AverageSize / 2, Small.AverageSize * 2);
    }

    [Fact]
    public void An_insertion_changes_only_the_chunks_around_it()
    {
        var data = new byte[1_000_000];
        new Random(2).NextBytes(data);
        var chunker = new Chunker(Small, "k"u8);
        var before = Split(chunker, data).Select(Convert.ToHexString).ToHashSet();
        var edited = data[..500_000].Concat(new byte[] { 1, 2, 3, 4, 5 }).Concat(data[500_000..]).ToArray();
        var after = Split(chunker, edited).Select(Convert.ToHexString).ToList();
        var changed = after.Count(c => !before.Contains(c));
        Assert.InRange(changed, 1, 3);
    }

    [Fact]
    public void Another_key_gives_other_boundaries_so_sizes_do_not_fingerprint_content()
    {
        var data = new byte[500_000];
        new Random(3).NextBytes(data);
        var a = Split(new Chunker(Small, "key one"u8), data).Select(c => c.Length).ToList();
        var b = Split(new Chunker(Small, "key two"u8), data).Select(c => c.Length).ToList();
        Assert.NotEqual(a, b);
    }

    [Fact]
    public async Task Streaming_gives_the_same_chunks_as_cutting_a_buffer()
    {
        var data = new byte[300_000];
        new Random(4).NextBytes(data);
        var chunker = new Chunker(Small, "k"u8);
        var streamed = new List<byte[]>();
        await chunker.ChunkAsync(new MemoryStream(data), c => { streamed.Add(c.ToArray()); return Task.CompletedTask; }, default);
        Assert.Equal(Split(chunker, data).Select(Convert.ToHexString), streamed.Select(Convert.ToHexString));
    }

    [Fact]
    public void Bad_parameters_are_refused()
    {
        Assert.Throws<BackupException>(() => new Chunker(new ChunkerParameters(1024, 1000, 4096), "k"u8));
        Assert.Throws<BackupException>(() => new Chunker(new ChunkerParameters(8192, 4096, 16384), "k"u8));
    }
}
