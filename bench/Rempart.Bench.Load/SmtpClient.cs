using System.Net;

namespace Rempart.Bench.Load;

/// <summary>SMTP (RFC 5321) or LMTP (RFC 2033) client transaction loop, pipelined when offered (RFC 2920).</summary>
internal sealed class SmtpClient : IAsyncDisposable
{
    private readonly Wire _wire;

    private SmtpClient(Wire wire) => _wire = wire;

    public bool Pipelining { get; private set; }

    public static async Task<SmtpClient> ConnectAsync(IPEndPoint endpoint, bool lmtp, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = ImapClient.Bound(timeout, ct);
        var wire = await Wire.ConnectAsync(endpoint, tls: false, cts.Token);
        var c = new SmtpClient(wire);
        try
        {
            (await c.ReadReplyAsync(cts.Token)).Ensure(220, "greeting");
            await wire.WriteAsync((lmtp ? "LHLO" : "EHLO") + " loadgen.bench.test\r\n", cts.Token);
            var ehlo = await c.ReadReplyAsync(cts.Token);
            ehlo.Ensure(250, "EHLO");
            c.Pipelining = ehlo.Lines.Any(l => l.Length > 4 && l[4..].StartsWith("PIPELINING", StringComparison.OrdinalIgnoreCase));
            return c;
        }
        catch
        {
            await c.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// One MAIL/RCPT/DATA transaction (one recipient). Returns the time from the end-of-data dot to the final reply
    /// and from MAIL to the final reply, in Stopwatch ticks.
    /// </summary>
    public async Task<(long FinalTicks, long TransactionTicks)> SendAsync(string from, string to, byte[] dotStuffedBody, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = ImapClient.Bound(timeout, ct);
        var t0 = System.Diagnostics.Stopwatch.GetTimestamp();
        var envelope = $"MAIL FROM:<{from}>\r\nRCPT TO:<{to}>\r\nDATA\r\n";
        if (Pipelining)
        {
            await _wire.WriteAsync(envelope, cts.Token);
            (await ReadReplyAsync(cts.Token)).Ensure(250, "MAIL");
            (await ReadReplyAsync(cts.Token)).Ensure(250, "RCPT");
            (await ReadReplyAsync(cts.Token)).Ensure(354, "DATA");
        }
        else
        {
            await _wire.WriteAsync($"MAIL FROM:<{from}>\r\n", cts.Token);
            (await ReadReplyAsync(cts.Token)).Ensure(250, "MAIL");
            await _wire.WriteAsync($"RCPT TO:<{to}>\r\n", cts.Token);
            (await ReadReplyAsync(cts.Token)).Ensure(250, "RCPT");
            await _wire.WriteAsync("DATA\r\n", cts.Token);
            (await ReadReplyAsync(cts.Token)).Ensure(354, "DATA");
        }

        await _wire.WriteAsync(dotStuffedBody, cts.Token);
        var t1 = System.Diagnostics.Stopwatch.GetTimestamp();
        await _wire.WriteAsync(".\r\n"u8.ToArray(), cts.Token);
        (await ReadReplyAsync(cts.Token)).Ensure(250, "end of DATA");
        var t2 = System.Diagnostics.Stopwatch.GetTimestamp();
        return (t2 - t1, t2 - t0);
    }

    public async Task QuitAsync(TimeSpan timeout, CancellationToken ct)
    {
        using var cts = ImapClient.Bound(timeout, ct);
        await _wire.WriteAsync("QUIT\r\n", cts.Token);
        await ReadReplyAsync(cts.Token);
    }

    private async Task<SmtpReply> ReadReplyAsync(CancellationToken ct)
    {
        var lines = new List<string>();
        while (lines.Count < 1000)
        {
            var line = await _wire.ReadLineAsync(ct);
            lines.Add(line);
            if (line.Length < 4 || line[3] != '-')
            {
                var code = line.Length >= 3 && int.TryParse(line.AsSpan(0, 3), out var c) ? c : 0;
                return new SmtpReply(code, lines);
            }
        }

        throw new IOException("reply longer than 1000 lines");
    }

    public async ValueTask DisposeAsync() => await _wire.DisposeAsync();

    private sealed record SmtpReply(int Code, List<string> Lines)
    {
        public void Ensure(int expected, string what)
        {
            if (Code != expected)
            {
                throw new IOException($"{what}: expected {expected}, got '{string.Join(" | ", Lines)}'");
            }
        }
    }
}
