using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Common.Configuration;
using Rempart.Net;

namespace Rempart.Server.Tests;

public sealed class CertificateTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rempart-cert-" + Guid.NewGuid().ToString("n")[..8]);

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public void First_run_generates_a_self_signed_certificate_for_localhost_and_the_host_name_and_keeps_it()
    {
        using var m = CertificateManager.Create(new TlsOptions(), "mail.example.test", _dir, NullLogger.Instance);
        Assert.True(m.IsSelfSigned);
        Assert.True(m.Certificate.MatchesHostname("localhost"));
        Assert.True(m.Certificate.MatchesHostname("mail.example.test"));
        Assert.True(m.Certificate.HasPrivateKey);
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, "selfsigned.key")));
        }

        var thumb = m.Certificate.Thumbprint;

        using var again = CertificateManager.Create(new TlsOptions(), "mail.example.test", _dir, NullLogger.Instance);
        Assert.Equal(thumb, again.Certificate.Thumbprint);
    }

    [Fact]
    public void Only_tls_1_2_and_1_3_are_enabled()
    {
        using var m = CertificateManager.Create(new TlsOptions(), "localhost", _dir, NullLogger.Instance);
        Assert.Equal(System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13, m.GetServerOptions().EnabledSslProtocols);
    }

    [Fact]
    public async Task A_renewed_certificate_is_served_without_restart_and_a_broken_one_is_ignored()
    {
        Directory.CreateDirectory(_dir);
        var cert = Path.Combine(_dir, "c.pem");
        var key = Path.Combine(_dir, "k.pem");
        CertificateManager.WriteSelfSigned("one.example.test", cert, key);
        using var m = CertificateManager.Create(new TlsOptions { CertificatePath = cert, KeyPath = key, ReloadInterval = TimeSpan.Zero }, "x", _dir, NullLogger.Instance);
        Assert.False(m.IsSelfSigned);
        Assert.Equal("CN=one.example.test", (await HandshakeAsync(m)).Subject);

        await Task.Delay(20);
        CertificateManager.WriteSelfSigned("two.example.test", cert, key);
        File.SetLastWriteTimeUtc(cert, DateTime.UtcNow.AddSeconds(5));
        Assert.True(m.ReloadIfChanged());
        Assert.Equal("CN=two.example.test", (await HandshakeAsync(m)).Subject);

        // A half-written renewal keeps the previous certificate.
        await File.WriteAllTextAsync(cert, "-----BEGIN CERTIFICATE-----\ngarbage\n");
        File.SetLastWriteTimeUtc(cert, DateTime.UtcNow.AddSeconds(10));
        Assert.False(m.ReloadIfChanged());
        Assert.Equal("CN=two.example.test", (await HandshakeAsync(m)).Subject);
    }

    private static async Task<X509Certificate2> HandshakeAsync(CertificateManager source)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var serverSide = Task.Run(async () =>
            {
                using var s = await listener.AcceptTcpClientAsync();
                await using var ssl = new SslStream(s.GetStream());
                await ssl.AuthenticateAsServerAsync(source.GetServerOptions());
                await ssl.WriteAsync("x"u8.ToArray());
            });
            using var c = new TcpClient();
            await c.ConnectAsync(IPAddress.Loopback, port);
            X509Certificate? seen = null;
            await using var client = new SslStream(c.GetStream(), false, (_, crt, _, _) => { seen = crt; return true; });
            await client.AuthenticateAsClientAsync("localhost");
            await client.ReadExactlyAsync(new byte[1]);
            await serverSide;
            return new X509Certificate2(seen!);
        }
        finally
        {
            listener.Stop();
        }
    }
}

public sealed class ListenerTests
{
    private sealed class EchoGreeting : IConnectionHandler
    {
        public async Task HandleAsync(NetConnection connection, CancellationToken shutdown)
        {
            await connection.Output.WriteAsync("HELLO\r\n"u8.ToArray(), shutdown);
            // Hold the connection until the client closes it or shutdown.
            try
            {
                while (true)
                {
                    var r = await connection.Input.ReadAsync(shutdown);
                    if (r.IsCompleted)
                    {
                        return;
                    }

                    connection.Input.AdvanceTo(r.Buffer.End);
                }
            }
            catch (OperationCanceledException)
            {
            }
        }
    }

    private static async Task<string> FirstLineAsync(TcpClient c)
    {
        var buf = new byte[256];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var n = await c.GetStream().ReadAsync(buf, cts.Token);
        return Encoding.ASCII.GetString(buf, 0, n).TrimEnd();
    }

    [Fact]
    public async Task Connections_over_the_per_ip_limit_get_the_busy_reply_and_are_closed()
    {
        var options = new ListenerOptions { Port = 0, Limits = new ListenerLimits { MaxConnectionsPerIp = 2, MaxConnections = 10 } };
        await using var l = new TcpListenerService("t", options, new EchoGreeting(), null, false, null, "421 busy", NullLogger.Instance);
        l.Start();
        var port = l.EndPoints[0].Port;
        using var a = new TcpClient();
        using var b = new TcpClient();
        using var c = new TcpClient();
        await a.ConnectAsync(IPAddress.Loopback, port);
        Assert.Equal("HELLO", await FirstLineAsync(a));
        await b.ConnectAsync(IPAddress.Loopback, port);
        Assert.Equal("HELLO", await FirstLineAsync(b));
        await c.ConnectAsync(IPAddress.Loopback, port);
        Assert.Equal("421 busy", await FirstLineAsync(c));

        // Once one closes, a new connection is served again.
        a.Close();
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (l.ActiveConnections > 1 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        using var d = new TcpClient();
        await d.ConnectAsync(IPAddress.Loopback, port);
        Assert.Equal("HELLO", await FirstLineAsync(d));
    }

    [Fact]
    public async Task A_second_listener_cannot_bind_a_port_in_use()
    {
        await using var first = new TcpListenerService("a", new ListenerOptions { Port = 0 }, new EchoGreeting(), null, false, null, null, NullLogger.Instance);
        first.Start();
        await using var second = new TcpListenerService("b", new ListenerOptions { Port = first.EndPoints[0].Port }, new EchoGreeting(), null, false, null, null, NullLogger.Instance);
        Assert.Throws<SocketException>(second.Start);
    }

    [Fact]
    public async Task Banned_addresses_are_refused_at_connect()
    {
        await using var l = new TcpListenerService("t", new ListenerOptions { Port = 0 }, new EchoGreeting(), null, false, _ => true, "421 banned", NullLogger.Instance);
        l.Start();
        using var c = new TcpClient();
        await c.ConnectAsync(IPAddress.Loopback, l.EndPoints[0].Port);
        Assert.Equal("421 banned", await FirstLineAsync(c));
    }

    [Fact]
    public async Task Stop_signals_sessions_and_closes_within_the_deadline()
    {
        var l = new TcpListenerService("t", new ListenerOptions { Port = 0 }, new EchoGreeting(), null, false, null, null, NullLogger.Instance);
        l.Start();
        var port = l.EndPoints[0].Port;
        using var c = new TcpClient();
        await c.ConnectAsync(IPAddress.Loopback, port);
        Assert.Equal("HELLO", await FirstLineAsync(c));
        await l.StopAsync(TimeSpan.FromSeconds(5)).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, l.ActiveConnections);
        await Assert.ThrowsAnyAsync<SocketException>(async () =>
        {
            using var late = new TcpClient();
            await late.ConnectAsync(IPAddress.Loopback, port);
        });
        await l.DisposeAsync();
    }
}

public sealed class OpenSslIdleBufferTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rempart-ossl-" + Guid.NewGuid().ToString("n")[..8]);

    public void Dispose() => Directory.Delete(_dir, true);

    [Fact]
    public async Task Release_buffers_mode_takes_on_linux_and_the_connection_still_carries_data_both_ways()
    {
        using var certificates = CertificateManager.Create(new TlsOptions(), "localhost", _dir, NullLogger.Instance);
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try
        {
            var port = ((IPEndPoint)listener.LocalEndpoint).Port;
            var rounds = new[] { 1, 100, 16_384, 70_000, 3 };
            var serverSide = Task.Run(async () =>
            {
                using var s = await listener.AcceptTcpClientAsync();
                await using var ssl = new SslStream(s.GetStream());
                await ssl.AuthenticateAsServerAsync(certificates.GetServerOptions());
                var enabled = OpenSslIdleBuffers.TryEnable(ssl);

                // Echo each block back once it is complete; between blocks OpenSSL has released its buffers.
                foreach (var size in rounds)
                {
                    var block = new byte[size];
                    await ssl.ReadExactlyAsync(block);
                    await ssl.WriteAsync(block);
                }

                return enabled;
            });

            using var c = new TcpClient();
            await c.ConnectAsync(IPAddress.Loopback, port);
            await using var client = new SslStream(c.GetStream(), false, (_, _, _, _) => true);
            await client.AuthenticateAsClientAsync("localhost");
            var random = new Random(7);
            foreach (var size in rounds)
            {
                var sent = new byte[size];
                random.NextBytes(sent);
                await client.WriteAsync(sent);
                var echoed = new byte[size];
                await client.ReadExactlyAsync(echoed);
                Assert.Equal(sent, echoed);
            }

            Assert.Equal(OperatingSystem.IsLinux(), await serverSide);
        }
        finally
        {
            listener.Stop();
        }
    }
}
