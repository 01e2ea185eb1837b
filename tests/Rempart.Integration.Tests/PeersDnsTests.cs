using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace Rempart.Integration.Tests;

/// <summary>MX delivery resolved through a real DNS server (dnsmasq) on loopback, as on the internet.</summary>
[Collection(InteropCollection.Name)]
public sealed class PeersDnsTests
{
    [Fact]
    public async Task Mail_for_a_remote_domain_goes_to_the_host_its_mx_record_names()
    {
        var dnsmasq = ExternalTool.Require("dnsmasq", "dnsmasq-base");
        var dnsPort = ServerProcess.FreePort();
        using var dns = StartDnsmasq(dnsmasq, dnsPort,
            "--mx-host=mx.test,mail.mx.test,10",
            "--mx-host=mx.test,dead.mx.test,5",
            "--host-record=mail.mx.test,127.0.0.1",
            "--host-record=dead.mx.test,127.0.0.2");
        await WaitForUdpAsync(dnsPort);

        // B serves mx.test; A knows nothing of it but DNS. The preferred MX (dead.mx.test, 127.0.0.2) has nothing
        // listening on that port, so A must fall back to the next MX in preference order.
        await using var b = ServerProcess.Create();
        await b.StartAsync();
        var (bob, bobPw) = await MailProbe.NewUserAsync(b, "bob", "mx.test");

        await using var a = ServerProcess.Create(c =>
        {
            c["dns"] = new JsonObject { ["servers"] = new JsonArray("127.0.0.1:" + dnsPort.ToString(CultureInfo.InvariantCulture)) };
            c["queue"] = new JsonObject { ["mxPort"] = b.Port("smtp"), ["connectTimeout"] = "00:00:05" };
        });
        await a.StartAsync();
        var (alice, alicePw) = await MailProbe.NewUserAsync(a, "alice", "a.test");

        var marker = "via-mx-" + Guid.NewGuid().ToString("n")[..8];
        await MailProbe.SubmitAsync(a, alice, alicePw, MailProbe.Message(alice, bob, marker, "found through DNS"));
        var got = await MailProbe.WaitForSubjectAsync(b, bob, bobPw, marker, TimeSpan.FromSeconds(60));
        Assert.Contains("found through DNS", got.TextBody, StringComparison.Ordinal);
    }

    private static KillOnDispose StartDnsmasq(string exe, int port, params string[] records)
    {
        var psi = new ProcessStartInfo(exe) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[] { "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--listen-address=127.0.0.1", "--bind-interfaces", "--port=" + port.ToString(CultureInfo.InvariantCulture), "--user=root", "--pid-file=", "--local=/test/" })
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var r in records)
        {
            psi.ArgumentList.Add(r);
        }

        return new KillOnDispose(Process.Start(psi) ?? throw new InvalidOperationException("dnsmasq did not start"));
    }

    private static async Task WaitForUdpAsync(int port)
    {
        // A minimal DNS query for mx.test MX; any answer means the server is up.
        byte[] query = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 2, (byte)'m', (byte)'x', 4, (byte)'t', (byte)'e', (byte)'s', (byte)'t', 0, 0, 15, 0, 1];
        using var udp = new UdpClient();
        for (var i = 0; i < 50; i++)
        {
            await udp.SendAsync(query, "127.0.0.1", port);
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
            try
            {
                var r = await udp.ReceiveAsync(cts.Token);
                if (r.Buffer.Length > 12)
                {
                    return;
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        throw new TimeoutException("dnsmasq did not answer on port " + port);
    }

    /// <summary>Kills the process when the test ends, whatever happened.</summary>
    private sealed class KillOnDispose(Process process) : IDisposable
    {
        public void Dispose()
        {
            try
            {
                process.Kill();
                process.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
            }

            process.Dispose();
        }
    }
}
