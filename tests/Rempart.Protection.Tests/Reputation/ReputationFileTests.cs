using System.Net;
using Rempart.Common.Configuration;
using Rempart.Protection.Reputation;

namespace Rempart.Protection.Tests.Reputation;

/// <summary>The reputation table survives a restart: saved whole, loaded back, bad files and entries refused.</summary>
public sealed class ReputationFileTests : IDisposable
{
    private static readonly ConnectionFilterOptions Options = new() { ReputationMinimumVolume = 10 };
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rempart-reputation-" + Guid.NewGuid().ToString("N"));

    private string FilePath => Path.Combine(_dir, "protection", "reputation.json");

    [Fact]
    public void Saved_and_loaded_counters_give_the_same_scores()
    {
        var time = new ManualTime(DateTimeOffset.UnixEpoch.AddDays(100));
        var tracker = new ReputationTracker(Options, time);
        var spammer = IPAddress.Parse("198.51.100.7");
        var neighbour = IPAddress.Parse("198.51.100.99");
        var good = IPAddress.Parse("2001:db8::25");
        for (var i = 0; i < 30; i++)
        {
            tracker.Record(spammer, i % 10 == 0 ? ReputationSignal.Ham : ReputationSignal.Spam);
            tracker.Record(good, ReputationSignal.Ham);
        }

        tracker.Record(spammer, ReputationSignal.Malware);
        ReputationFile.Save(FilePath, tracker.Export());

        var restarted = new ReputationTracker(Options, time);
        Assert.Equal(tracker.Count, restarted.Import(ReputationFile.Load(FilePath)!));
        foreach (var ip in new[] { spammer, neighbour, good })
        {
            Assert.Equal(tracker.Get(ip), restarted.Get(ip));
        }

        Assert.InRange(restarted.Get(neighbour).Score, 0.8, 1);
        Assert.False(File.Exists(FilePath + ".tmp"));
    }

    [Fact]
    public void Missing_file_is_no_table_and_a_damaged_one_a_clear_error()
    {
        Assert.Null(ReputationFile.Load(FilePath));
        Directory.CreateDirectory(Path.GetDirectoryName(FilePath)!);

        File.WriteAllText(FilePath, "{\"version\": 1, \"entries\": [ {\"key\": ");
        Assert.Contains("not valid JSON", Assert.Throws<InvalidDataException>(() => ReputationFile.Load(FilePath)).Message);

        File.WriteAllText(FilePath, "{\"version\": 7, \"entries\": []}");
        Assert.Contains("version 1", Assert.Throws<InvalidDataException>(() => ReputationFile.Load(FilePath)).Message);

        // Over the size limit (a sparse file): refused before anything is read.
        using (var big = new FileStream(FilePath, FileMode.Create))
        {
            big.SetLength(ReputationFile.MaxBytes + 1);
        }

        Assert.Contains("larger than", Assert.Throws<InvalidDataException>(() => ReputationFile.Load(FilePath)).Message);
    }

    [Fact]
    public void Entries_with_bad_keys_or_counters_are_skipped()
    {
        var tracker = new ReputationTracker(Options, new ManualTime(DateTimeOffset.UnixEpoch));
        var now = DateTimeOffset.UnixEpoch;
        var taken = tracker.Import(
        [
            new ReputationEntry("192.0.2.1", 5, 20, 0, 0, 0, now),
            new ReputationEntry("192.0.2.0/24", 5, 20, 0, 0, 0, now),
            new ReputationEntry("not-an-ip", 1, 1, 0, 0, 0, now),
            new ReputationEntry("192.0.2.0/8", 1, 1, 0, 0, 0, now),
            new ReputationEntry("192.0.2.2", double.NaN, 1, 0, 0, 0, now),
            new ReputationEntry("192.0.2.3", 1, -4, 0, 0, 0, now),
            null!,
        ]);
        Assert.Equal(2, taken);
        Assert.Equal(2, tracker.Count);
        Assert.InRange(tracker.Get(IPAddress.Parse("192.0.2.1")).Score, 0.7, 0.9);
    }

    public void Dispose()
    {
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}
