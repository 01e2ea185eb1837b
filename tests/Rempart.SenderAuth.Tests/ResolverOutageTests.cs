using System.Net;
using System.Net.Sockets;
using DnsClient;
using Microsoft.Extensions.Time.Testing;
using Rempart.SenderAuth.Dns;

namespace Rempart.SenderAuth.Tests;

/// <summary>
/// A resolver that stops answering: a UDP socket on loopback that counts the queries it receives and answers only when
/// told to (NXDOMAIN, built from the query). After three timeouts in a row lookups fail at once without sending
/// anything, until the window passes; then one query goes out, and an answer closes the breaker.
/// </summary>
public sealed class ResolverOutageTests
{
    [Fact]
    public async Task After_three_timeouts_lookups_fail_at_once_until_the_resolver_answers_again()
    {
        using var server = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var port = ((IPEndPoint)server.Client.LocalEndPoint!).Port;
        var received = 0;
        var answer = false;
        using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        var loop = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                UdpReceiveResult query;
                try
                {
                    query = await server.ReceiveAsync(stop.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                Interlocked.Increment(ref received);
                if (Volatile.Read(ref answer))
                {
                    var reply = query.Buffer.ToArray();
                    reply[2] |= 0x80;                          // QR: a response
                    reply[3] = (byte)((reply[3] & 0x70) | 0x83); // RA, RCODE 3 (NXDOMAIN)
                    await server.SendAsync(reply, query.RemoteEndPoint, stop.Token);
                }
            }
        });

        var options = new LookupClientOptions(new IPEndPoint(IPAddress.Loopback, port))
        {
            Timeout = TimeSpan.FromMilliseconds(150),
            Retries = 0,
            UseCache = false,
            ThrowDnsErrors = false,
        };
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var lookup = new DnsLookup(new LookupClient(options), time);

        for (var i = 0; i < DnsLookup.TimeoutsToOpen; i++)
        {
            var timedOut = await lookup.TxtAsync($"q{i}.example.test", default);
            Assert.Equal(DnsOutcome.Error, timedOut.Outcome);
        }

        Assert.True(lookup.ResolverDown);
        var sent = Volatile.Read(ref received);
        Assert.Equal(DnsLookup.TimeoutsToOpen, sent);

        // Open: nothing is sent, the answer is a temporary error naming the reason.
        for (var i = 0; i < 20; i++)
        {
            var skipped = await lookup.TxtAsync($"s{i}.example.test", default);
            Assert.Equal(DnsOutcome.Error, skipped.Outcome);
            Assert.Contains("did not answer", skipped.Error);
        }

        await Task.Delay(100);
        Assert.Equal(sent, Volatile.Read(ref received));

        // After the window one lookup goes out; still no answer: open again.
        time.Advance(DnsLookup.OpenFor + TimeSpan.FromSeconds(1));
        Assert.False(lookup.ResolverDown);
        Assert.Equal(DnsOutcome.Error, (await lookup.TxtAsync("probe1.example.test", default)).Outcome);
        Assert.Equal(sent + 1, Volatile.Read(ref received));
        Assert.True(lookup.ResolverDown);

        // The resolver is back: the next probe gets its answer and lookups flow again.
        Volatile.Write(ref answer, true);
        time.Advance(DnsLookup.OpenFor + TimeSpan.FromSeconds(1));
        Assert.Equal(DnsOutcome.Empty, (await lookup.TxtAsync("probe2.example.test", default)).Outcome);
        Assert.False(lookup.ResolverDown);
        Assert.Equal(DnsOutcome.Empty, (await lookup.TxtAsync("after.example.test", default)).Outcome);
        Assert.Equal(sent + 3, Volatile.Read(ref received));

        await stop.CancelAsync();
        await loop;
    }
}
