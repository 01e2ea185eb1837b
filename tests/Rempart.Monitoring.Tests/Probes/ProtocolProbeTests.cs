using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Rempart.Monitoring.Probes;

namespace Rempart.Monitoring.Tests.Probes;

/// <summary>
/// Failure paths of the probe client over real loopback sockets, with a scripted peer where a real server cannot
/// be made to misbehave on demand. The interop tests (Rempart.Integration.Tests ProbeInteropTests) run the probes
/// against Dovecot, Postfix and Rempart.
/// </summary>
public sealed class ProtocolProbeTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task A_closed_port_fails_with_the_connect_error()
    {
        var port = FreePort();
        var outcome = await ProtocolProbe.RunAsync(new ProbeTarget("smtp", "127.0.0.1", port, ProbeTls.None), Deadline, CancellationToken.None);
        Assert.False(outcome.Success);
        Assert.Contains("connect to 127.0.0.1:" + port, outcome.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_silent_server_fails_at_the_deadline_naming_the_step()
    {
        await using var peer = ScriptedPeer.Start(async (_, _, ct) => await Task.Delay(Timeout.Infinite, ct));
        var outcome = await ProtocolProbe.RunAsync(new ProbeTarget("imap", "127.0.0.1", peer.Port, ProbeTls.None), TimeSpan.FromMilliseconds(500), CancellationToken.None);
        Assert.False(outcome.Success);
        Assert.Contains("no answer within 0.5 s", outcome.Detail, StringComparison.Ordinal);
        Assert.Contains("connect", outcome.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancelling_the_caller_token_throws_instead_of_reporting()
    {
        await using var peer = ScriptedPeer.Start(async (_, _, ct) => await Task.Delay(Timeout.Infinite, ct));
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            ProtocolProbe.RunAsync(new ProbeTarget("pop3", "127.0.0.1", peer.Port, ProbeTls.None), Deadline, cts.Token));
    }

    [Fact]
    public async Task An_endless_reply_line_fails_at_the_line_limit()
    {
        await using var peer = ScriptedPeer.Start(async (stream, _, ct) =>
        {
            var junk = Encoding.ASCII.GetBytes(new string('x', 4096));
            for (var i = 0; i < 8 && !ct.IsCancellationRequested; i++)
            {
                await stream.WriteAsync(junk, ct);
            }
        });
        var outcome = await ProtocolProbe.RunAsync(new ProbeTarget("smtp", "127.0.0.1", peer.Port, ProbeTls.None), Deadline, CancellationToken.None);
        Assert.False(outcome.Success);
        Assert.Contains("longer than 8192 bytes", outcome.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_protocol_answer_fails_with_what_was_received()
    {
        await using var peer = ScriptedPeer.Start(async (stream, _, ct) => await stream.WriteAsync("SSH-2.0-OpenSSH_9.2\r\n"u8.ToArray(), ct));
        var outcome = await ProtocolProbe.RunAsync(new ProbeTarget("smtp", "127.0.0.1", peer.Port, ProbeTls.None), Deadline, CancellationToken.None);
        Assert.False(outcome.Success);
        Assert.Contains("malformed SMTP reply \"SSH-2.0-OpenSSH_9.2\"", outcome.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Credentials_are_never_sent_without_tls()
    {
        await using var peer = ScriptedPeer.Start(async (stream, lines, ct) =>
        {
            await stream.WriteAsync("* OK IMAP4rev1 ready\r\n"u8.ToArray(), ct);
            var line = await lines.ReadLineAsync(ct);
            var tag = line!.Split(' ')[0];
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n{tag} OK done\r\n"), ct);
            await lines.ReadLineAsync(ct);
        });
        var target = new ProbeTarget("imap", "127.0.0.1", peer.Port, ProbeTls.None, "probe", "s3cret-pass");
        var outcome = await ProtocolProbe.RunAsync(target, Deadline, CancellationToken.None);
        Assert.False(outcome.Success);
        Assert.Contains("refusing to send the password over a connection without TLS", outcome.Detail, StringComparison.Ordinal);
        await peer.StopAsync();
        Assert.DoesNotContain(peer.Received, l => l.Contains("s3cret", StringComparison.Ordinal));
        Assert.DoesNotContain(outcome.Steps, s => s.Contains("s3cret", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Https_records_the_certificate_and_fails_an_untrusted_one_only_when_verifying()
    {
        using var cert = SelfSigned("probe-test.invalid", TimeSpan.FromDays(20));
        await using var peer = ScriptedPeer.Start(async (stream, _, ct) =>
        {
            await using var ssl = new SslStream(stream);
            await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = cert }, ct);
            var reader = new StreamReader(ssl, Encoding.ASCII);
            while (!string.IsNullOrEmpty(await reader.ReadLineAsync(ct)))
            {
            }

            await ssl.WriteAsync("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"u8.ToArray(), ct);
        }, connections: 2);

        var insecure = await ProtocolProbe.RunAsync(new ProbeTarget("http", "127.0.0.1", peer.Port, ProbeTls.Implicit, Path: "/healthz"), Deadline, CancellationToken.None);
        Assert.True(insecure.Success, insecure.Detail);
        Assert.Equal("GET /healthz answered 204", insecure.Detail);
        Assert.NotNull(insecure.Certificate);
        Assert.Equal("CN=probe-test.invalid", insecure.Certificate.Subject);
        Assert.False(insecure.Certificate.ChainValid);
        Assert.False(insecure.Certificate.NameMatches);
        Assert.InRange((insecure.Certificate.NotAfter - DateTimeOffset.UtcNow).TotalDays, 19, 21);
        Assert.Equal(ProbeStatus.Warn, ProbeVerdict.Judge(insecure, DateTimeOffset.UtcNow).Status);

        var verified = await ProtocolProbe.RunAsync(new ProbeTarget("http", "127.0.0.1", peer.Port, ProbeTls.Implicit, VerifyCertificate: true), Deadline, CancellationToken.None);
        Assert.False(verified.Success);
        Assert.StartsWith("certificate not trusted", verified.Detail, StringComparison.Ordinal);
        Assert.NotNull(verified.Certificate);
    }

    [Fact]
    public async Task An_unexpected_http_status_fails()
    {
        await using var peer = ScriptedPeer.Start(async (stream, lines, ct) =>
        {
            while (!string.IsNullOrEmpty(await lines.ReadLineAsync(ct)))
            {
            }

            await stream.WriteAsync("HTTP/1.1 503 Service Unavailable\r\n\r\n"u8.ToArray(), ct);
        });
        var outcome = await ProtocolProbe.RunAsync(new ProbeTarget("http", "127.0.0.1", peer.Port, ProbeTls.None), Deadline, CancellationToken.None);
        Assert.False(outcome.Success);
        Assert.Equal("GET / answered HTTP/1.1 503 Service Unavailable (expected 2xx or 3xx)", outcome.Detail);
    }

    private static X509Certificate2 SelfSigned(string name, TimeSpan validFor)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.Add(validFor));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>A loopback listener that runs a script per connection and records the lines it was sent.</summary>
    private sealed class ScriptedPeer : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly CancellationTokenSource _stop = new(TimeSpan.FromSeconds(30));
        private readonly Task _loop;

        private ScriptedPeer(Func<Stream, RecordingReader, CancellationToken, Task> script, int connections)
        {
            _listener = new TcpListener(IPAddress.Loopback, 0);
            _listener.Start();
            _loop = Task.Run(async () =>
            {
                for (var i = 0; i < connections; i++)
                {
                    using var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    var stream = client.GetStream();
                    try
                    {
                        await script(stream, new RecordingReader(stream, Received), _stop.Token);
                    }
                    catch (Exception ex) when (ex is IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
                    {
                    }
                }
            });
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public List<string> Received { get; } = [];

        public static ScriptedPeer Start(Func<Stream, RecordingReader, CancellationToken, Task> script, int connections = 1) => new(script, connections);

        public async Task StopAsync()
        {
            await _stop.CancelAsync();
            try
            {
                await _loop;
            }
            catch (OperationCanceledException)
            {
            }
        }

        public async ValueTask DisposeAsync()
        {
            await StopAsync();
            _listener.Stop();
            _listener.Dispose();
            _stop.Dispose();
        }
    }

    /// <summary>Reads lines byte by byte (so nothing is buffered past a STARTTLS) and records them.</summary>
    private sealed class RecordingReader(Stream stream, List<string> received)
    {
        public async Task<string?> ReadLineAsync(CancellationToken ct)
        {
            var bytes = new List<byte>();
            var one = new byte[1];
            while (bytes.Count < 10_000)
            {
                if (await stream.ReadAsync(one, ct) == 0)
                {
                    return null;
                }

                if (one[0] == '\n')
                {
                    var line = Encoding.UTF8.GetString([.. bytes]).TrimEnd('\r');
                    lock (received)
                    {
                        received.Add(line);
                    }

                    return line;
                }

                bytes.Add(one[0]);
            }

            return null;
        }
    }
}
