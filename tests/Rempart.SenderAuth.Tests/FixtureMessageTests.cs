using System.Net;
using System.Text;

namespace Rempart.SenderAuth.Tests;

/// <summary>Data-driven: each line of Fixtures/cases.txt names a message, an SMTP envelope and the verdicts it must get.</summary>
[Collection(DnsCollection.Name)]
public sealed class FixtureMessageTests(AuthWorld world)
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "Fixtures");

    public static TheoryData<string, string, string, string> Cases()
    {
        var data = new TheoryData<string, string, string, string>();
        foreach (var line in File.ReadLines(Path.Combine(Folder, "cases.txt")))
        {
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var f = line.Split('|').Select(p => p.Trim()).ToArray();
            data.Add(f[0], f[1], f[2], f[3]);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Fixture_message_gets_its_verdicts(string file, string client, string mailFrom, string expected)
    {
        // Git may have turned CRLF into LF: put the wire form back before verifying.
        var text = File.ReadAllText(Path.Combine(Folder, file), Encoding.UTF8).Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal);
        var auth = world.Authenticator();
        auth.PercentSample = () => 0;
        var spf = await auth.CheckSpfAsync(IPAddress.Parse(client), "mx.client.test", mailFrom, CancellationToken.None);
        var result = await auth.VerifyAsync(AuthWorld.Parse(Encoding.UTF8.GetBytes(text)), spf, CancellationToken.None);

        var actual = new Dictionary<string, string>
        {
            ["spf"] = spf.Status.ToString().ToLowerInvariant(),
            ["dkim"] = result.Dkim.Count == 0 ? "none" : string.Join(',', result.Dkim.Select(d => d.Status.ToString().ToLowerInvariant())),
            ["dmarc"] = result.Dmarc.Status.ToString().ToLowerInvariant(),
            ["policy"] = result.Dmarc.Policy.ToString().ToLowerInvariant(),
            ["apply"] = result.Dmarc.ApplyPolicy ? "true" : "false",
            ["arc"] = result.Arc.Status.ToString().ToLowerInvariant(),
        };
        var header = SenderAuthenticator.AuthenticationResults("mx.rempart.test", spf, result);
        foreach (var tag in expected.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var (name, value) = (tag[..tag.IndexOf('=', StringComparison.Ordinal)], tag[(tag.IndexOf('=', StringComparison.Ordinal) + 1)..]);
            Assert.True(actual.TryGetValue(name, out var got), $"unknown tag {name} in cases.txt");
            Assert.True(value == got, $"{file}: {name} expected {value}, got {got}; {header}");
        }
    }
}
