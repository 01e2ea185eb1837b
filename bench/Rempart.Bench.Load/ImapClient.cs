using System.Globalization;
using System.Net;

namespace Rempart.Bench.Load;

/// <summary>Tagged IMAP4 commands over a <see cref="Wire"/>; untagged lines are collected, literals consumed (RFC 9051 §4.3).</summary>
internal sealed class ImapClient : IAsyncDisposable
{
    private readonly Wire _wire;
    private int _tag;

    private ImapClient(Wire wire) => _wire = wire;

    public static async Task<ImapClient> ConnectAsync(IPEndPoint endpoint, bool tls, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = Bound(timeout, ct);
        var wire = await Wire.ConnectAsync(endpoint, tls, cts.Token);
        var client = new ImapClient(wire);
        try
        {
            var greeting = await wire.ReadLineAsync(cts.Token);
            if (!greeting.StartsWith("* OK", StringComparison.OrdinalIgnoreCase) && !greeting.StartsWith("* PREAUTH", StringComparison.OrdinalIgnoreCase))
            {
                throw new IOException("IMAP greeting: " + greeting);
            }

            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    public static async Task<ImapClient> LoginAsync(IPEndPoint endpoint, bool tls, string user, string password, TimeSpan timeout, CancellationToken ct)
    {
        var client = await ConnectAsync(endpoint, tls, timeout, ct);
        try
        {
            var r = await client.CommandAsync($"LOGIN {Quote(user)} {Quote(password)}", timeout, ct);
            r.EnsureOk("LOGIN " + user);
            return client;
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }

    public static string Quote(string s) => "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    public async Task<ImapReply> CommandAsync(string command, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = Bound(timeout, ct);
        var tag = NextTag();
        await _wire.WriteAsync(tag + " " + command + "\r\n", cts.Token);
        return await ReadUntilTaggedAsync(tag, cts.Token);
    }

    /// <summary>APPEND with a synchronizing literal (the same round trips on every server).</summary>
    public async Task<ImapReply> AppendAsync(string mailbox, byte[] message, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = Bound(timeout, ct);
        var tag = NextTag();
        await _wire.WriteAsync($"{tag} APPEND {Quote(mailbox)} {{{message.Length.ToString(CultureInfo.InvariantCulture)}}}\r\n", cts.Token);
        var untagged = new List<string>();
        while (true)
        {
            var line = await _wire.ReadLineAsync(cts.Token);
            if (line.StartsWith('+'))
            {
                break;
            }

            if (line.StartsWith(tag + " ", StringComparison.Ordinal))
            {
                return new ImapReply(line, untagged);
            }

            await AddUntaggedAsync(line, untagged, cts.Token);
        }

        await _wire.WriteAsync(message, cts.Token);
        await _wire.WriteAsync("\r\n"u8.ToArray(), cts.Token);
        var reply = await ReadUntilTaggedAsync(tag, cts.Token);
        reply.Untagged.InsertRange(0, untagged);
        return reply;
    }

    /// <summary>Several APPENDs with non-synchronizing literals (RFC 7888 LITERAL+) in one write, for filling mailboxes.</summary>
    public async Task AppendPipelinedAsync(string mailbox, IReadOnlyList<byte[]> messages, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = Bound(timeout, ct);
        var tags = new List<string>(messages.Count);
        using var ms = new MemoryStream();
        foreach (var m in messages)
        {
            var tag = NextTag();
            tags.Add(tag);
            ms.Write(System.Text.Encoding.ASCII.GetBytes($"{tag} APPEND {Quote(mailbox)} {{{m.Length.ToString(CultureInfo.InvariantCulture)}+}}\r\n"));
            ms.Write(m);
            ms.Write("\r\n"u8);
        }

        await _wire.WriteAsync(ms.ToArray(), cts.Token);
        foreach (var tag in tags)
        {
            (await ReadUntilTaggedAsync(tag, cts.Token)).EnsureOk("APPEND");
        }
    }

    /// <summary>Starts IDLE (RFC 2177) and waits for the continuation.</summary>
    public async Task<string> IdleAsync(TimeSpan timeout, CancellationToken ct)
    {
        using var cts = Bound(timeout, ct);
        var tag = NextTag();
        await _wire.WriteAsync(tag + " IDLE\r\n", cts.Token);
        while (true)
        {
            var line = await _wire.ReadLineAsync(cts.Token);
            if (line.StartsWith('+'))
            {
                return tag;
            }

            if (line.StartsWith(tag + " ", StringComparison.Ordinal))
            {
                throw new IOException("IDLE refused: " + line);
            }
        }
    }

    public async Task<ImapReply> DoneAsync(string idleTag, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = Bound(timeout, ct);
        await _wire.WriteAsync("DONE\r\n", cts.Token);
        return await ReadUntilTaggedAsync(idleTag, cts.Token);
    }

    /// <summary>STATUS mailbox (MESSAGES) → the count.</summary>
    public async Task<int> StatusMessagesAsync(string mailbox, TimeSpan timeout, CancellationToken ct)
    {
        var r = await CommandAsync($"STATUS {Quote(mailbox)} (MESSAGES)", timeout, ct);
        r.EnsureOk("STATUS");
        foreach (var line in r.Untagged)
        {
            var i = line.IndexOf("MESSAGES ", StringComparison.OrdinalIgnoreCase);
            if (line.StartsWith("* STATUS", StringComparison.OrdinalIgnoreCase) && i >= 0)
            {
                var j = i + 9;
                var k = j;
                while (k < line.Length && char.IsAsciiDigit(line[k]))
                {
                    k++;
                }

                return int.Parse(line.AsSpan(j, k - j), CultureInfo.InvariantCulture);
            }
        }

        throw new IOException("STATUS without MESSAGES: " + r.Tagged);
    }

    private string NextTag() => "b" + (++_tag).ToString(CultureInfo.InvariantCulture);

    private async Task<ImapReply> ReadUntilTaggedAsync(string tag, CancellationToken ct)
    {
        var untagged = new List<string>();
        while (true)
        {
            var line = await _wire.ReadLineAsync(ct);
            if (line.StartsWith(tag + " ", StringComparison.Ordinal))
            {
                return new ImapReply(line, untagged);
            }

            await AddUntaggedAsync(line, untagged, ct);
        }
    }

    /// <summary>Keeps a bounded number of untagged lines; a line ending in {n} is followed by an n-byte literal.</summary>
    private async Task AddUntaggedAsync(string line, List<string> untagged, CancellationToken ct)
    {
        while (true)
        {
            if (untagged.Count < 10_000)
            {
                untagged.Add(line);
            }

            var n = LiteralLength(line);
            if (n < 0)
            {
                return;
            }

            await _wire.ReadExactAsync(n, ct);
            line = await _wire.ReadLineAsync(ct);
        }
    }

    private static int LiteralLength(string line)
    {
        if (line.Length < 3 || line[^1] != '}')
        {
            return -1;
        }

        var open = line.LastIndexOf('{');
        if (open < 0)
        {
            return -1;
        }

        var digits = line.AsSpan(open + 1, line.Length - open - 2).TrimEnd('+');
        return int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : -1;
    }

    internal static CancellationTokenSource Bound(TimeSpan timeout, CancellationToken ct)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        return cts;
    }

    public async ValueTask DisposeAsync() => await _wire.DisposeAsync();
}

internal sealed record ImapReply(string Tagged, List<string> Untagged)
{
    public bool Ok => Tagged.Split(' ', 3) is [_, var s, ..] && s.Equals("OK", StringComparison.OrdinalIgnoreCase);

    public void EnsureOk(string what)
    {
        if (!Ok)
        {
            throw new IOException($"{what}: {Tagged}");
        }
    }
}
