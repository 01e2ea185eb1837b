using System.Text.RegularExpressions;

namespace Rempart.Imap.Tests.Sessions;

/// <summary>
/// Replays Transcripts/*.txt: "C: " lines are sent (with CRLF), "S: " lines are expected in order, where "*"
/// matches any text. Each file runs with whole lines and again byte by byte, over implicit TLS.
/// </summary>
public class TranscriptTests
{
    public static TheoryData<string, bool> Files()
    {
        var data = new TheoryData<string, bool>();
        foreach (var file in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "Transcripts"), "*.txt").Order(StringComparer.Ordinal))
        {
            data.Add(Path.GetFileName(file), false);
            data.Add(Path.GetFileName(file), true);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Files))]
    public async Task Transcript_replays(string file, bool byteByByte)
    {
        await using var server = await ImapTestServer.StartAsync(implicitTls: true);
        await using var client = await RawImapClient.ConnectAsync(server);
        var lines = await File.ReadAllLinesAsync(Path.Combine(AppContext.BaseDirectory, "Transcripts", file));
        var number = 0;
        foreach (var raw in lines)
        {
            number++;
            if (raw.StartsWith("C: ", StringComparison.Ordinal))
            {
                await client.SendAsync(raw[3..].Replace("\\0", "\0", StringComparison.Ordinal) + "\r\n", byteByByte);
            }
            else if (raw.StartsWith("S: ", StringComparison.Ordinal))
            {
                var expected = raw[3..];
                var actual = await client.ReadLineAsync();
                Assert.True(actual is not null, $"{file}:{number}: connection closed, expected {expected}");
                var pattern = "^" + Regex.Escape(expected).Replace("\\*", ".*", StringComparison.Ordinal) + "$";
                Assert.True(Regex.IsMatch(actual!, pattern, RegexOptions.None, TimeSpan.FromSeconds(1)), $"{file}:{number}: expected {expected}\n got {actual}");
            }
            else if (raw == "CLOSED")
            {
                Assert.Null(await client.ReadLineAsync());
            }
        }
    }
}
