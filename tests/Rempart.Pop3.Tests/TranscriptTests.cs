namespace Rempart.Pop3.Tests;

/// <summary>
/// Transcript fixtures (Transcripts/*.txt: "C:" client lines, "S:" expected server lines) replayed over a real
/// TLS loopback socket three ways: all client lines in one write (pipelining), line by line, and byte by byte
/// (house style, habit 10).
/// </summary>
public class TranscriptTests
{
    public enum Mode
    {
        Whole,
        PerLine,
        PerByte,
    }

    public static TheoryData<string, Mode> Cases()
    {
        var data = new TheoryData<string, Mode>();
        foreach (var file in new[] { "basic.txt", "errors.txt", "sasl.txt" })
        {
            foreach (var mode in Enum.GetValues<Mode>())
            {
                data.Add(file, mode);
            }
        }

        return data;
    }

    internal const string Message1 = "From: bob@example.org\r\nSubject: one\r\n\r\nHello Alice\r\n.dot line\r\n";
    internal const string Message2 = "Subject: two\r\n\r\nSecond\r\n";

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Transcript_replays(string file, Mode mode)
    {
        var steps = Load(Path.Combine(AppContext.BaseDirectory, "Transcripts", file));
        await using var env = await TestEnvironment.CreateAsync();
        var alice = await env.AddAccountAsync("alice@example.org");
        await env.DeliverAsync(alice.Id, Message1);
        await env.DeliverAsync(alice.Id, Message2);
        await using var server = env.StartServer(implicitTls: true);
        await using var client = await RawClient.ConnectAsync(server.Port, tls: true);

        if (mode == Mode.Whole)
        {
            await client.SendAsync(string.Concat(steps.Where(s => s.Client).Select(s => s.Text + "\r\n")));
        }

        var lineNumber = 0;
        foreach (var step in steps)
        {
            lineNumber++;
            if (step.Client)
            {
                if (mode == Mode.PerLine)
                {
                    await client.SendAsync(step.Text + "\r\n");
                }
                else if (mode == Mode.PerByte)
                {
                    await client.SendByteByByteAsync(step.Text + "\r\n");
                }

                continue;
            }

            var actual = await client.ReadLineAsync();
            Assert.True(actual is not null, $"{file} step {lineNumber}: connection closed, expected '{step.Text}'");
            if (step.Text.EndsWith('*'))
            {
                Assert.StartsWith(step.Text[..^1], actual, StringComparison.Ordinal);
            }
            else
            {
                Assert.Equal(step.Text.TrimEnd(), actual!.TrimEnd());
            }
        }

        // Every transcript ends with QUIT: the server closes the connection.
        Assert.True(await client.IsClosedByServerAsync());
        Assert.Empty(server.Escaped);
    }

    private static List<(bool Client, string Text)> Load(string path)
    {
        var steps = new List<(bool, string)>();
        foreach (var raw in File.ReadAllLines(path))
        {
            if (raw.StartsWith("C:", StringComparison.Ordinal) || raw.StartsWith("S:", StringComparison.Ordinal))
            {
                var text = raw.Length > 2 && raw[2] == ' ' ? raw[3..] : raw[2..];
                steps.Add((raw[0] == 'C', text));
            }
        }

        Assert.NotEmpty(steps);
        return steps;
    }
}
