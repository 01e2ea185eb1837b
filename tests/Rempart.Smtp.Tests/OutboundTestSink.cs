using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Rempart.Smtp.Tests;

/// <summary>What the sink recorded for one accepted message.</summary>
public sealed record SinkMessage(string MailFrom, IReadOnlyList<string> RcptTo, string Data, bool Tls, string? AuthUser);

/// <summary>
/// A minimal SMTP server on loopback used as the remote peer of outbound tests: records envelopes, can answer
/// each RCPT with a chosen reply, offers STARTTLS with a throw-away certificate, DSN, PIPELINING and AUTH PLAIN
/// as configured, and counts connections. Every read has a timeout; lines are capped.
/// </summary>
public sealed class OutboundTestSink : IAsyncDisposable
{
    private const int MaxLine = 64 * 1024;
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private readonly ConcurrentBag<Task> _sessions = [];
    private int _connections;
    private int _active;
    private int _maxActive;

    public OutboundTestSink(bool startTls = false, bool dsn = true, bool pipelining = true, string? authUser = null, string? authPassword = null, IPAddress? bind = null, bool implicitTls = false)
    {
        ImplicitTls = implicitTls;
        StartTls = startTls;
        Dsn = dsn;
        Pipelining = pipelining;
        AuthUser = authUser;
        AuthPassword = authPassword;
        _listener = new TcpListener(bind ?? IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = AcceptAsync();
    }

    public int Port { get; }

    public bool StartTls { get; }

    /// <summary>TLS from the first byte (smtps).</summary>
    public bool ImplicitTls { get; }

    public bool Dsn { get; }

    public bool Pipelining { get; }

    public string? AuthUser { get; }

    public string? AuthPassword { get; }

    /// <summary>Reply for RCPT TO by address (lower-case); default "250 2.1.5 OK".</summary>
    public Func<string, string> RcptReply { get; set; } = _ => "250 2.1.5 OK";

    /// <summary>Reply after the final dot; default "250 2.0.0 queued".</summary>
    public Func<string> DataReply { get; set; } = () => "250 2.0.0 queued";

    /// <summary>When set, new connections get this greeting and are closed (for example "421 4.3.2 busy").</summary>
    public string? RefuseWith { get; set; }

    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Drop the connection right after answering the final dot, as a peer closing idle sessions would.</summary>
    public bool CloseAfterMessage { get; set; }

    /// <summary>Pause before answering the final dot (makes concurrent sessions overlap).</summary>
    public TimeSpan DataDelay { get; set; }

    /// <summary>Answer STARTTLS with 220 and then hang up instead of doing the handshake.</summary>
    public bool BrokenTls { get; set; }

    /// <summary>Most sessions open at the same time.</summary>
    public int MaxActive => Volatile.Read(ref _maxActive);

    public ConcurrentQueue<SinkMessage> Messages { get; } = new();

    /// <summary>Every command line received, in order, across connections.</summary>
    public ConcurrentQueue<string> Commands { get; } = new();

    private static readonly Lazy<X509Certificate2> TestCertificate = new(CreateCertificate);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                return;
            }

            Interlocked.Increment(ref _connections);
            _sessions.Add(Task.Run(() => SessionAsync(client)));
        }
    }

    private async Task SessionAsync(TcpClient client)
    {
        using var _ = client;
        var active = Interlocked.Increment(ref _active);
        for (var seen = Volatile.Read(ref _maxActive); active > seen && Interlocked.CompareExchange(ref _maxActive, active, seen) != seen; seen = Volatile.Read(ref _maxActive))
        {
        }

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        var ct = timeout.Token;
        Stream stream = client.GetStream();
        try
        {
            if (RefuseWith is { } refuse)
            {
                await WriteAsync(stream, refuse, ct);
                return;
            }

            var tls = false;
            if (ImplicitTls)
            {
                var implicitSsl = new SslStream(stream, false);
                await implicitSsl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = TestCertificate.Value }, ct);
                stream = implicitSsl;
                tls = true;
            }

            var reader = new LineReader(stream);
            string? authUser = null;
            string? mailFrom = null;
            var rcpts = new List<string>();
            await WriteAsync(stream, "220 sink.test ESMTP test sink", ct);
            for (var i = 0; i < 10_000; i++)
            {
                var line = await reader.ReadLineAsync(ct);
                if (line is null)
                {
                    return;
                }

                Commands.Enqueue(line);
                var verb = line.Split(' ', 2)[0].ToUpperInvariant();
                switch (verb)
                {
                    case "EHLO":
                        var caps = new List<string> { "250-sink.test", "250-SIZE 100000000", "250-8BITMIME" };
                        if (Pipelining)
                        {
                            caps.Add("250-PIPELINING");
                        }

                        if (Dsn)
                        {
                            caps.Add("250-DSN");
                        }

                        if (StartTls && !tls)
                        {
                            caps.Add("250-STARTTLS");
                        }

                        if (AuthUser is not null)
                        {
                            caps.Add("250-AUTH PLAIN");
                        }

                        caps.Add("250 HELP");
                        await WriteAsync(stream, string.Join("\r\n", caps), ct);
                        break;
                    case "HELO":
                        await WriteAsync(stream, "250 sink.test", ct);
                        break;
                    case "STARTTLS" when StartTls && !tls:
                        await WriteAsync(stream, "220 2.0.0 go ahead", ct);
                        if (BrokenTls)
                        {
                            return;
                        }

                        var ssl = new SslStream(stream, false);
                        await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = TestCertificate.Value }, ct);
                        stream = ssl;
                        reader = new LineReader(stream);
                        tls = true;
                        mailFrom = null;
                        rcpts.Clear();
                        break;
                    case "AUTH" when AuthUser is not null:
                        var parts = line.Split(' ');
                        var payload = parts.Length > 2 ? parts[2] : null;
                        if (payload is null)
                        {
                            await WriteAsync(stream, "334 ", ct);
                            payload = await reader.ReadLineAsync(ct) ?? "";
                        }

                        var fields = Encoding.UTF8.GetString(Convert.FromBase64String(payload)).Split('\0');
                        if (fields.Length == 3 && fields[1] == AuthUser && fields[2] == AuthPassword)
                        {
                            authUser = fields[1];
                            await WriteAsync(stream, "235 2.7.0 ok", ct);
                        }
                        else
                        {
                            await WriteAsync(stream, "535 5.7.8 bad credentials", ct);
                        }

                        break;
                    case "MAIL":
                        mailFrom = line;
                        rcpts.Clear();
                        await WriteAsync(stream, "250 2.1.0 OK", ct);
                        break;
                    case "RCPT":
                        var address = Between(line, '<', '>').ToLowerInvariant();
                        var reply = RcptReply(address);
                        if (reply.StartsWith('2'))
                        {
                            rcpts.Add(line);
                        }

                        await WriteAsync(stream, reply, ct);
                        break;
                    case "DATA":
                        if (mailFrom is null || rcpts.Count == 0)
                        {
                            await WriteAsync(stream, "503 5.5.1 no valid recipients", ct);
                            break;
                        }

                        await WriteAsync(stream, "354 go", ct);
                        var data = new StringBuilder();
                        for (var n = 0; n < 1_000_000; n++)
                        {
                            var dataLine = await reader.ReadLineAsync(ct) ?? throw new IOException("eof in DATA");
                            if (dataLine == ".")
                            {
                                break;
                            }

                            data.Append(dataLine.StartsWith('.') ? dataLine[1..] : dataLine).Append("\r\n");
                        }

                        if (DataDelay > TimeSpan.Zero)
                        {
                            await Task.Delay(DataDelay, ct);
                        }

                        var dataReply = DataReply();
                        if (dataReply.StartsWith('2'))
                        {
                            Messages.Enqueue(new SinkMessage(mailFrom, rcpts.ToList(), data.ToString(), tls, authUser));
                        }

                        mailFrom = null;
                        rcpts.Clear();
                        await WriteAsync(stream, dataReply, ct);
                        if (CloseAfterMessage)
                        {
                            return;
                        }

                        break;
                    case "RSET":
                        mailFrom = null;
                        rcpts.Clear();
                        await WriteAsync(stream, "250 2.0.0 OK", ct);
                        break;
                    case "NOOP":
                        await WriteAsync(stream, "250 2.0.0 OK", ct);
                        break;
                    case "QUIT":
                        await WriteAsync(stream, "221 2.0.0 bye", ct);
                        return;
                    default:
                        await WriteAsync(stream, "502 5.5.2 not implemented", ct);
                        break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or SocketException or ObjectDisposedException or System.Security.Authentication.AuthenticationException)
        {
            // The client went away or the test ended.
        }
        finally
        {
            Interlocked.Decrement(ref _active);
            await stream.DisposeAsync();
        }
    }

    private static string Between(string line, char open, char close)
    {
        var start = line.IndexOf(open);
        var end = line.IndexOf(close, start + 1);
        return start >= 0 && end > start ? line[(start + 1)..end] : "";
    }

    private static async Task WriteAsync(Stream stream, string reply, CancellationToken ct)
    {
        await stream.WriteAsync(Encoding.UTF8.GetBytes(reply + "\r\n"), ct);
        await stream.FlushAsync(ct);
    }

    private static X509Certificate2 CreateCertificate()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=sink.test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("sink.test");
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pfx), null);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        try
        {
            await _acceptLoop.WaitAsync(TimeSpan.FromSeconds(10));
            await Task.WhenAll(_sessions).WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
        }

        _stop.Dispose();
    }

    /// <summary>Reads CRLF (or LF) terminated lines from a stream, capped at <see cref="MaxLine"/>.</summary>
    private sealed class LineReader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[8192];
        private int _start;
        private int _end;

        public async Task<string?> ReadLineAsync(CancellationToken ct)
        {
            var line = new MemoryStream();
            while (true)
            {
                for (var i = _start; i < _end; i++)
                {
                    if (_buffer[i] == (byte)'\n')
                    {
                        line.Write(_buffer, _start, i - _start);
                        _start = i + 1;
                        var bytes = line.ToArray();
                        var length = bytes.Length > 0 && bytes[^1] == (byte)'\r' ? bytes.Length - 1 : bytes.Length;
                        return Encoding.UTF8.GetString(bytes, 0, length);
                    }
                }

                line.Write(_buffer, _start, _end - _start);
                if (line.Length > MaxLine)
                {
                    throw new IOException("line too long");
                }

                _start = 0;
                _end = await stream.ReadAsync(_buffer, ct);
                if (_end == 0)
                {
                    return null;
                }
            }
        }
    }
}
