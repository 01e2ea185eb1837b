using System.Text;
using Rempart.Smtp.Inbound;

namespace Rempart.Smtp.Tests;

/// <summary>A transcript fixture: "C: " lines the client sends, "S: " lines the server must answer, "#" comments.</summary>
public sealed record TranscriptFixture(IReadOnlyList<(bool FromClient, string Line)> Lines)
{
    public static TranscriptFixture Parse(string text)
    {
        var lines = new List<(bool, string)>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            if (line == "C:" || line.StartsWith("C: ", StringComparison.Ordinal))
            {
                lines.Add((true, line.Length == 2 ? "" : line[3..]));
            }
            else if (line.StartsWith("S: ", StringComparison.Ordinal))
            {
                lines.Add((false, line[3..]));
            }
            else
            {
                throw new FormatException("Transcript line must start with 'C: ', 'S: ' or '#': " + line);
            }
        }

        return new TranscriptFixture(lines);
    }

    public static TranscriptFixture Load(string name)
    {
        var path = Path.Combine(AppContext.BaseDirectory, "Fixtures", "Transcripts", name);
        return Parse(File.ReadAllText(path));
    }

    public string ClientBytes => string.Concat(Lines.Where(l => l.FromClient).Select(l => l.Line + "\r\n"));

    public IReadOnlyList<string> ServerLines => [.. Lines.Where(l => !l.FromClient).Select(l => l.Line)];

    public static void AssertMatches(IReadOnlyList<string> expected, IReadOnlyList<string> actual)
    {
        Assert.Equal(expected.Count, actual.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            if (expected[i].EndsWith('*'))
            {
                Assert.StartsWith(expected[i][..^1], actual[i]);
            }
            else
            {
                Assert.Equal(expected[i], actual[i]);
            }
        }
    }
}

public class TranscriptTests
{
    public static TheoryData<string> Fixtures() => new() { "mx-basic.txt", "mx-sequence.txt", "mx-bdat.txt" };

    [Fact]
    public void Fixture_parser_reads_directions_and_empty_client_lines_and_refuses_garbage()
    {
        var f = TranscriptFixture.Parse("# c\nS: 220 hi\r\nC: DATA\nC:\nC: .\n");
        Assert.Equal(4, f.Lines.Count);
        Assert.Equal("DATA\r\n\r\n.\r\n", f.ClientBytes);
        Assert.Equal(["220 hi"], f.ServerLines);
        Assert.Throws<FormatException>(() => TranscriptFixture.Parse("X: nope"));
    }

    private static async Task<InboundTestHost> HostAsync() => await InboundTestHost.StartAsync(SmtpRole.Mx, withTls: false);

    [Theory]
    [MemberData(nameof(Fixtures))]
    public async Task Replayed_whole_in_one_write(string name)
    {
        var fixture = TranscriptFixture.Load(name);
        await using var host = await HostAsync();
        await using var c = await RawSmtpClient.ConnectAsync(host.Port);
        await c.SendAsync(fixture.ClientBytes);
        var all = await c.ReadToEndAsync();
        TranscriptFixture.AssertMatches(fixture.ServerLines, all.Split("\r\n", StringSplitOptions.RemoveEmptyEntries));
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public async Task Replayed_byte_by_byte(string name)
    {
        var fixture = TranscriptFixture.Load(name);
        await using var host = await HostAsync();
        await using var c = await RawSmtpClient.ConnectAsync(host.Port);
        foreach (var b in Encoding.UTF8.GetBytes(fixture.ClientBytes))
        {
            await c.SendAsync([b]);
        }

        var all = await c.ReadToEndAsync();
        TranscriptFixture.AssertMatches(fixture.ServerLines, all.Split("\r\n", StringSplitOptions.RemoveEmptyEntries));
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public async Task Replayed_line_by_line_in_lockstep(string name)
    {
        var fixture = TranscriptFixture.Load(name);
        await using var host = await HostAsync();
        await using var c = await RawSmtpClient.ConnectAsync(host.Port);
        var actual = new List<string>();
        var lines = fixture.Lines;
        for (var i = 0; i < lines.Count; i++)
        {
            if (lines[i].FromClient)
            {
                await c.SendAsync(lines[i].Line + "\r\n");
                continue;
            }

            var line = await c.ReadLineAsync();
            Assert.NotNull(line);
            actual.Add(line);
        }

        TranscriptFixture.AssertMatches(fixture.ServerLines, actual);
    }

    [Fact]
    public async Task Protocol_log_records_both_directions()
    {
        await using var host = await HostAsync();
        await using (var c = await RawSmtpClient.ConnectAsync(host.Port))
        {
            await c.ReplyAsync();
            await c.CommandAsync("HELO client.test");
            await c.CommandAsync("QUIT");
        }

        var log = host.Logs.Snapshot();
        Assert.Contains(log, l => l.EndsWith(" C: HELO client.test", StringComparison.Ordinal));
        Assert.Contains(log, l => l.EndsWith(" S: 221 2.0.0 Bye", StringComparison.Ordinal));
    }
}
