using System.Globalization;
using System.Text;

namespace Rempart.Monitoring.Probes;

/// <summary>The tagged completion of an IMAP command and the untagged lines before it (RFC 9051 7.1).</summary>
internal sealed record ImapProbeReply(string Status, string Text, IReadOnlyList<string> Untagged)
{
    public override string ToString() => Status + " " + Text;
}

/// <summary>The client side of an IMAP dialogue as far as a probe needs it: greeting, CAPABILITY, STARTTLS, LOGIN, SELECT, SEARCH, delete.</summary>
internal sealed class ImapProbeDialog(ProbeConnection connection, ProbeTarget target)
{
    private int _tag;
    private IReadOnlyList<string> _capabilities = [];

    public bool HasCapability(string name) => _capabilities.Contains(name, StringComparer.OrdinalIgnoreCase);

    public async Task<ImapProbeReply> CommandAsync(string step, string command, CancellationToken ct, bool expectOk = true)
    {
        var tag = "p" + (++_tag).ToString(CultureInfo.InvariantCulture);
        connection.Begin(step);
        await connection.WriteLineAsync(tag + " " + command, ct);
        var untagged = new List<string>();
        for (var i = 0; i < ProbeLimits.MaxReplyLines; i++)
        {
            var line = await connection.ReadLineAsync(ct);
            if (line.StartsWith(tag + " ", StringComparison.Ordinal))
            {
                var rest = line[(tag.Length + 1)..];
                var space = rest.IndexOf(' ', StringComparison.Ordinal);
                var status = (space < 0 ? rest : rest[..space]).ToUpperInvariant();
                var reply = new ImapProbeReply(status, space < 0 ? "" : rest[(space + 1)..], untagged);
                connection.Record(step, reply.ToString());
                if (expectOk && status != "OK")
                {
                    throw new ProbeFailedException($"{step} refused: {reply}");
                }

                return reply;
            }

            untagged.Add(line);
        }

        throw new ProbeFailedException($"{step}: more than {ProbeLimits.MaxReplyLines} lines without a completion");
    }

    /// <summary>Greeting, CAPABILITY, STARTTLS when asked (capabilities asked again, RFC 9051 6.2.1), LOGIN when credentials are given.</summary>
    public async Task OpenAsync(CancellationToken ct)
    {
        connection.Begin("greeting");
        var greeting = await connection.ReadLineAsync(ct);
        connection.Record("greeting", greeting);
        if (!greeting.StartsWith("* OK", StringComparison.OrdinalIgnoreCase) && !greeting.StartsWith("* PREAUTH", StringComparison.OrdinalIgnoreCase))
        {
            throw new ProbeFailedException("greeting refused: " + SmtpProbeDialog.Clip(greeting));
        }

        await CapabilityAsync(ct);
        if (target.Tls == ProbeTls.StartTls)
        {
            if (!HasCapability("STARTTLS"))
            {
                throw new ProbeFailedException("the server does not offer STARTTLS");
            }

            await CommandAsync("STARTTLS", "STARTTLS", ct);
            await connection.UpgradeToTlsAsync(ct);
            await CapabilityAsync(ct);
        }

        if (target.User is not null)
        {
            connection.RequireTlsForCredentials();
            if (HasCapability("LOGINDISABLED"))
            {
                throw new ProbeFailedException("the server advertises LOGINDISABLED");
            }

            await CommandAsync("LOGIN", "LOGIN " + Quote(target.User) + " " + Quote(target.Password ?? ""), ct);
        }
    }

    private async Task CapabilityAsync(CancellationToken ct)
    {
        var reply = await CommandAsync("CAPABILITY", "CAPABILITY", ct);
        _capabilities = [.. reply.Untagged
            .Where(l => l.StartsWith("* CAPABILITY ", StringComparison.OrdinalIgnoreCase))
            .SelectMany(l => l[13..].Split(' ', StringSplitOptions.RemoveEmptyEntries))];
    }

    /// <summary>UID SEARCH HEADER name value (RFC 9051 6.4.4); the UIDs found.</summary>
    public async Task<IReadOnlyList<uint>> SearchHeaderAsync(string header, string value, CancellationToken ct)
    {
        var reply = await CommandAsync("SEARCH", "UID SEARCH HEADER " + Quote(header) + " " + Quote(value), ct);
        return ParseSearch(reply.Untagged);
    }

    internal static IReadOnlyList<uint> ParseSearch(IEnumerable<string> untagged)
    {
        var uids = new List<uint>();
        foreach (var line in untagged)
        {
            if (!line.StartsWith("* SEARCH", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            foreach (var word in line[8..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                if (uint.TryParse(word, NumberStyles.None, CultureInfo.InvariantCulture, out var uid))
                {
                    uids.Add(uid);
                }
            }
        }

        return uids;
    }

    /// <summary>Flags the messages \Deleted and expunges only them when UIDPLUS allows it (RFC 4315 2.1).</summary>
    public async Task DeleteAsync(IReadOnlyList<uint> uids, CancellationToken ct)
    {
        var set = string.Join(',', uids.Select(u => u.ToString(CultureInfo.InvariantCulture)));
        await CommandAsync("STORE \\Deleted", "UID STORE " + set + " +FLAGS.SILENT (\\Deleted)", ct);
        if (HasCapability("UIDPLUS") || HasCapability("IMAP4rev2"))
        {
            await CommandAsync("UID EXPUNGE", "UID EXPUNGE " + set, ct);
        }
        else
        {
            await CommandAsync("EXPUNGE", "EXPUNGE", ct);
        }
    }

    /// <summary>A quoted string (RFC 9051 4.3) with backslash and quote escaped; CR and LF are refused by the connection.</summary>
    internal static string Quote(string value)
    {
        var builder = new StringBuilder(value.Length + 2).Append('"');
        foreach (var c in value)
        {
            if (c is '"' or '\\')
            {
                builder.Append('\\');
            }

            builder.Append(c);
        }

        return builder.Append('"').ToString();
    }
}
