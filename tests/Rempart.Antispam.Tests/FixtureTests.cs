using Microsoft.Extensions.Logging.Abstractions;

namespace Rempart.Antispam.Tests;

/// <summary>Data-driven: Fixtures/expected.txt lists each message with the SCL band and the rules it must get.</summary>
public sealed class FixtureTests : IDisposable
{
    private readonly TempFolder _folder = new();
    private readonly SpamEngine _engine;

    public FixtureTests()
    {
        _engine = new SpamEngine(Fixtures.Options(), _folder.Path, null, NullLogger.Instance);
        Fixtures.Train(_engine);
    }

    public static TheoryData<string, int, int, string> Cases()
    {
        var data = new TheoryData<string, int, int, string>();
        foreach (var line in File.ReadLines(Path.Combine(Fixtures.Root, "expected.txt")))
        {
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            data.Add(f[0], int.Parse(f[1]), int.Parse(f[2]), f[3]);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Fixture_gets_its_scl_band_and_rules(string file, int minScl, int maxScl, string rules)
    {
        var a = Fixtures.AnalyzeFile(_engine, file);
        var detail = SpamEngine.SpamHeaderValue(a);
        Assert.True(a.Scl >= minScl && a.Scl <= maxScl, $"{file}: SCL {a.Scl} outside {minScl}-{maxScl} ({detail})");
        foreach (var rule in rules == "-" ? [] : rules.Split(','))
        {
            Assert.True(a.Hits.Any(h => h.Name == rule), $"{file}: rule {rule} did not hit ({detail})");
        }

        Assert.NotNull(a.BayesProbability);
    }

    [Fact]
    public void Manifest_covers_every_scoring_fixture()
    {
        var listed = Cases().Select(row => (string)row[0]).ToHashSet();
        var files = Directory.GetFiles(Path.Combine(Fixtures.Root, "score"), "*.eml").Select(Path.GetFileName).ToHashSet();
        Assert.Equal(files.Order(), listed.Order());
    }

    public void Dispose()
    {
        _engine.Dispose();
        _folder.Dispose();
    }
}
