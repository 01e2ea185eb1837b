using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Rempart.Monitoring.Probes;

/// <summary>A protocol step failed: the probe stops and reports <see cref="Exception.Message"/> as its detail.</summary>
internal sealed class ProbeFailedException(string message) : Exception(message);

/// <summary>What a probe run collects as it goes, kept when a later step fails.</summary>
internal sealed class ProbeRecorder
{
    public List<string> Steps { get; } = [];

    public CertificateInfo? Certificate { get; set; }

    /// <summary>The latency to report instead of the whole run's duration (the mail-flow probe's end-to-end time).</summary>
    public TimeSpan? Latency { get; set; }
}

/// <summary>Limits of the probe client: a probe reads replies of servers it does not trust.</summary>
internal static class ProbeLimits
{
    /// <summary>Longest reply line accepted (RFC 5321 4.5.3.1.5 allows 512; IMAP lines are longer, 8 KiB is ample).</summary>
    public const int MaxLine = 8192;

    /// <summary>Most lines in one reply (an EHLO list, a CAPA list, an IMAP response with untagged data).</summary>
    public const int MaxReplyLines = 1000;

    /// <summary>How much of a reply a step keeps for the report.</summary>
    public const int StepReplyChars = 160;
}

/// <summary>
/// One TCP connection of a probe: line reads bounded by <see cref="ProbeLimits.MaxLine"/>, a TLS upgrade that records
/// the certificate, and a transcript of timed steps (passwords never appear in it).
/// </summary>
internal sealed class ProbeConnection : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly ProbeTarget _target;
    private readonly ProbeRecorder _recorder;
    private readonly byte[] _buffer = new byte[ProbeLimits.MaxLine];
    private Stream _stream;
    private int _start;
    private int _end;
    private long _stepStarted;

    private ProbeConnection(Socket socket, ProbeTarget target, ProbeRecorder recorder)
    {
        _socket = socket;
        _target = target;
        _recorder = recorder;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _stepStarted = Stopwatch.GetTimestamp();
    }

    public CertificateInfo? Certificate => _recorder.Certificate;

    public bool IsTls => _stream is SslStream;

    /// <summary>What the probe is doing now, for the detail of a timeout.</summary>
    public string CurrentStep { get; private set; } = "connect";

    /// <summary>The local address as an SMTP address literal (RFC 5321 4.1.3), so EHLO never needs a host name.</summary>
    public string LocalAddressLiteral => _socket.LocalEndPoint is IPEndPoint ip
        ? ip.Address.IsIPv4MappedToIPv6 ? "[" + ip.Address.MapToIPv4() + "]"
        : ip.AddressFamily == AddressFamily.InterNetworkV6 ? "[IPv6:" + ip.Address + "]" : "[" + ip.Address + "]"
        : "[127.0.0.1]";

    public static async Task<ProbeConnection> ConnectAsync(ProbeTarget target, ProbeRecorder recorder, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(target.Host, target.Port, ct);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new ProbeFailedException(
                string.Create(CultureInfo.InvariantCulture, $"connect to {target.Host}:{target.Port} failed: {ex.Message}"));
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        var connection = new ProbeConnection(socket, target, recorder);
        connection.Record("connect", socket.RemoteEndPoint?.ToString() ?? target.Host, started);
        return connection;
    }

    /// <summary>Starts timing a step; the next Record closes it.</summary>
    public void Begin(string step)
    {
        CurrentStep = step;
        _stepStarted = Stopwatch.GetTimestamp();
    }

    public void Record(string step, string reply) => Record(step, reply, _stepStarted);

    private void Record(string step, string reply, long started)
    {
        var ms = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (reply.Length > ProbeLimits.StepReplyChars)
        {
            reply = string.Concat(reply.AsSpan(0, ProbeLimits.StepReplyChars), "…");
        }

        _recorder.Steps.Add(string.Create(CultureInfo.InvariantCulture, $"{step}: {reply} ({ms:0} ms)"));
    }

    public async Task WriteLineAsync(string line, CancellationToken ct)
    {
        if (line.Contains('\r', StringComparison.Ordinal) || line.Contains('\n', StringComparison.Ordinal))
        {
            // A CR or LF in a user name or address would inject a second command.
            throw new ProbeFailedException("refusing to send a command containing CR or LF");
        }

        var bytes = Encoding.UTF8.GetBytes(line + "\r\n");
        await _stream.WriteAsync(bytes, ct);
        await _stream.FlushAsync(ct);
    }

    public async Task WriteRawAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct)
    {
        await _stream.WriteAsync(bytes, ct);
        await _stream.FlushAsync(ct);
    }

    /// <summary>Reads one line without its CRLF; fails on end of stream or a line over the limit.</summary>
    public async Task<string> ReadLineAsync(CancellationToken ct)
    {
        while (true)
        {
            var lf = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (lf >= 0)
            {
                var length = lf - _start;
                if (length > 0 && _buffer[lf - 1] == (byte)'\r')
                {
                    length--;
                }

                var line = Encoding.UTF8.GetString(_buffer, _start, length);
                _start = lf + 1;
                return line;
            }

            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            if (_end == _buffer.Length)
            {
                throw new ProbeFailedException(string.Create(CultureInfo.InvariantCulture,
                    $"{CurrentStep}: reply line longer than {ProbeLimits.MaxLine} bytes"));
            }

            var read = await _stream.ReadAsync(_buffer.AsMemory(_end), ct);
            if (read == 0)
            {
                throw new ProbeFailedException($"{CurrentStep}: connection closed by the server");
            }

            _end += read;
        }
    }

    /// <summary>Upgrades to TLS (implicit or after STARTTLS), recording the certificate it presents.</summary>
    public async Task UpgradeToTlsAsync(CancellationToken ct)
    {
        if (_end > _start)
        {
            // Bytes sent before the handshake would be read as if protected by TLS (the STARTTLS injection of
            // CVE-2011-0411); a well-behaved server sends nothing there.
            throw new ProbeFailedException("server sent data before the TLS handshake");
        }

        Begin("tls");
        X509Certificate2? seen = null;
        var errors = SslPolicyErrors.None;
        string? chainError = null;
        var ssl = new SslStream(_stream, leaveInnerStreamOpen: false);
        var options = new SslClientAuthenticationOptions
        {
            TargetHost = _target.Host,
            RemoteCertificateValidationCallback = (_, certificate, chain, policyErrors) =>
            {
                // Accept here and judge after the handshake, so a bad certificate is described rather than a
                // bare handshake failure.
                errors = policyErrors;
                if (certificate is not null)
                {
                    seen = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                }

                if (chain is not null && chain.ChainStatus.Length > 0)
                {
                    chainError = string.Join("; ", chain.ChainStatus
                        .Where(s => s.Status != X509ChainStatusFlags.NoError)
                        .Select(s => s.StatusInformation.Trim())
                        .Where(s => s.Length > 0)
                        .Distinct(StringComparer.Ordinal));
                }

                return true;
            },
        };

        try
        {
            await ssl.AuthenticateAsClientAsync(options, ct);
        }
        catch (Exception ex) when (ex is IOException or System.Security.Authentication.AuthenticationException)
        {
            await ssl.DisposeAsync();
            throw new ProbeFailedException("TLS handshake failed: " + ex.Message);
        }

        _stream = ssl;
        _start = _end = 0;
        if (seen is null)
        {
            Record("tls", ssl.SslProtocol + ", no certificate");
            throw new ProbeFailedException("TLS: the server presented no certificate");
        }

        var chainValid = (errors & (SslPolicyErrors.RemoteCertificateChainErrors | SslPolicyErrors.RemoteCertificateNotAvailable)) == 0;
        var nameMatches = (errors & SslPolicyErrors.RemoteCertificateNameMismatch) == 0;
        if (!chainValid && string.IsNullOrEmpty(chainError))
        {
            chainError = errors.ToString();
        }

        var info = new CertificateInfo(
            seen.Subject,
            seen.Issuer,
            new DateTimeOffset(seen.NotAfter.ToUniversalTime(), TimeSpan.Zero),
            chainValid,
            nameMatches,
            chainValid ? null : chainError);
        _recorder.Certificate = info;
        Record("tls", string.Create(CultureInfo.InvariantCulture,
            $"{ssl.SslProtocol} {seen.Subject}, expires {info.NotAfter:yyyy-MM-dd}{(chainValid ? "" : ", untrusted")}{(nameMatches ? "" : ", name mismatch")}"));

        if (_target.VerifyCertificate && !chainValid)
        {
            throw new ProbeFailedException("certificate not trusted: " + chainError);
        }

        if (_target.VerifyCertificate && !nameMatches)
        {
            throw new ProbeFailedException($"certificate {seen.Subject} does not match host {_target.Host}");
        }
    }

    /// <summary>Fails when credentials would cross the wire in clear text.</summary>
    public void RequireTlsForCredentials()
    {
        if (!IsTls)
        {
            throw new ProbeFailedException(
                "refusing to send the password over a connection without TLS: use STARTTLS or implicit TLS");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _socket.Dispose();
    }
}
