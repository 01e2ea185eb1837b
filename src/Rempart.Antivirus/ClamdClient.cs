using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Rempart.Antivirus;

/// <summary>
/// A client of ClamAV's clamd over its socket protocol (unix or TCP). Each call opens one connection, sends one
/// command and reads one NUL-terminated reply, all within the timeout given to the constructor.
/// </summary>
public sealed class ClamdClient
{
    private readonly EndPoint _endPoint;

    /// <param name="endpoint">"unix:/path/to/clamd.ctl" or "tcp:host:port".</param>
    /// <param name="timeout">Time one exchange may take, connect included.</param>
    public ClamdClient(string endpoint, TimeSpan timeout)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        _endPoint = ParseEndpoint(endpoint);
        Endpoint = endpoint;
        Timeout = timeout;
    }

    /// <summary>The endpoint as configured.</summary>
    public string Endpoint { get; }

    public TimeSpan Timeout { get; }

    /// <summary>True when clamd answers PONG; false on any failure (never throws except on cancellation by <paramref name="ct"/>).</summary>
    public async Task<bool> PingAsync(CancellationToken ct)
    {
        try
        {
            var reply = await ExchangeAsync(ClamdProtocol.Ping.ToArray(), ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
            return Encoding.ASCII.GetString(reply).TrimEnd('\0') == "PONG";
        }
        catch (ClamdException)
        {
            return false;
        }
    }

    /// <summary>
    /// The VERSION reply, such as "ClamAV 1.4.6/27000/Thu Nov 27 09:32:03 2025"; see <see cref="ParseVersion"/>.
    /// </summary>
    /// <exception cref="ClamdException">clamd is unreachable, timed out or answered nonsense.</exception>
    public async Task<string> VersionAsync(CancellationToken ct)
    {
        var reply = await ExchangeAsync(ClamdProtocol.Version.ToArray(), ReadOnlyMemory<byte>.Empty, ct).ConfigureAwait(false);
        var text = Encoding.UTF8.GetString(reply).TrimEnd('\0').Trim();
        return text.StartsWith("ClamAV ", StringComparison.Ordinal) ? text : throw new ClamdException("clamd: unexpected VERSION reply '" + text + "'");
    }

    /// <summary>Splits a VERSION reply into engine, database version and signature date (null when not reported).</summary>
    public static (string Engine, int? DatabaseVersion, DateTimeOffset? SignatureDate) ParseVersion(string version) =>
        ClamdProtocol.ParseVersion(version);

    /// <summary>
    /// Scans <paramref name="data"/> with zINSTREAM. Never throws for scanner problems: unreachable, timeout or an
    /// error reply give <see cref="ClamdScanStatus.Error"/>, a stream over clamd's StreamMaxLength gives
    /// <see cref="ClamdScanStatus.SizeLimitExceeded"/>.
    /// </summary>
    public async Task<ClamdScanResult> ScanAsync(ReadOnlyMemory<byte> data, CancellationToken ct)
    {
        try
        {
            var reply = await ExchangeAsync(ClamdProtocol.InStream.ToArray(), data, ct, stream: true).ConfigureAwait(false);
            return ClamdProtocol.ParseScanReply(reply);
        }
        catch (ClamdException e)
        {
            return ClamdScanResult.Error(e.Message);
        }
    }

    private async Task<byte[]> ExchangeAsync(byte[] command, ReadOnlyMemory<byte> data, CancellationToken ct, bool stream = false)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Timeout);
        using var socket = _endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(_endPoint, timeout.Token).ConfigureAwait(false);
            await socket.SendAsync(command, SocketFlags.None, timeout.Token).ConfigureAwait(false);
            if (stream)
            {
                // The reply is read while the chunks are still being written: clamd answers early and closes when
                // the stream passes its StreamMaxLength, and over TCP the reset that follows may drop an unread reply.
                var reply = ReadReplyAsync(socket, timeout.Token);
                try
                {
                    await SendChunksAsync(socket, data, reply, timeout.Token).ConfigureAwait(false);
                }
                catch
                {
                    // The socket is disposed on the way out; the pending read then fails and must not go unobserved.
                    _ = reply.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
                    throw;
                }

                return await reply.ConfigureAwait(false);
            }

            return await ReadReplyAsync(socket, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new ClamdException($"clamd at {Endpoint} did not answer within {Timeout.TotalSeconds:0.###} s");
        }
        catch (SocketException e)
        {
            throw new ClamdException($"clamd at {Endpoint} is unreachable: {e.Message}", e);
        }
    }

    /// <summary>Sends the INSTREAM chunks and the zero-length end, stopping as soon as clamd has answered.</summary>
    private static async Task SendChunksAsync(Socket socket, ReadOnlyMemory<byte> data, Task<byte[]> reply, CancellationToken ct)
    {
        var header = new byte[4];
        try
        {
            for (var offset = 0; offset < data.Length; offset += ClamdProtocol.ChunkSize)
            {
                if (reply.IsCompleted)
                {
                    return;
                }

                var chunk = data.Slice(offset, Math.Min(ClamdProtocol.ChunkSize, data.Length - offset));
                ClamdProtocol.WriteChunkLength(header, chunk.Length);
                await socket.SendAsync(header, SocketFlags.None, ct).ConfigureAwait(false);
                await socket.SendAsync(chunk, SocketFlags.None, ct).ConfigureAwait(false);
            }

            ClamdProtocol.WriteChunkLength(header, 0);
            await socket.SendAsync(header, SocketFlags.None, ct).ConfigureAwait(false);
        }
        catch (SocketException)
        {
            // clamd answered and closed while we were writing (size limit): its reply is the result.
            if (!await WaitBriefly(reply, ct).ConfigureAwait(false))
            {
                throw;
            }
        }
    }

    /// <summary>After a failed write, gives an answer already on its way a moment to arrive.</summary>
    private static async Task<bool> WaitBriefly(Task reply, CancellationToken ct)
    {
        try
        {
            await reply.WaitAsync(TimeSpan.FromSeconds(1), ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is TimeoutException or SocketException or ClamdException or OperationCanceledException)
        {
            // Decided below from the task's state.
        }

        return reply.IsCompleted;
    }

    private static async Task<byte[]> ReadReplyAsync(Socket socket, CancellationToken ct)
    {
        var buffer = new byte[ClamdProtocol.MaxReplyLength];
        var filled = 0;
        while (filled < buffer.Length)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, ct).ConfigureAwait(false);
            if (n == 0)
            {
                if (filled == 0)
                {
                    throw new ClamdException("clamd closed the connection without a reply");
                }

                return buffer[..filled];
            }

            filled += n;
            var end = ClamdProtocol.FindReplyEnd(buffer.AsSpan(0, filled));
            if (end >= 0)
            {
                return buffer[..end];
            }
        }

        throw new ClamdException($"clamd reply longer than {ClamdProtocol.MaxReplyLength} bytes");
    }

    private static EndPoint ParseEndpoint(string endpoint)
    {
        if (!Rempart.Common.Configuration.AntivirusOptions.IsValidClamdEndpoint(endpoint))
        {
            throw new ArgumentException($"'{endpoint}' is not \"unix:/path\" or \"tcp:host:port\".", nameof(endpoint));
        }

        if (endpoint.StartsWith("unix:", StringComparison.Ordinal))
        {
            return new UnixDomainSocketEndPoint(endpoint[5..]);
        }

        var rest = endpoint[4..];
        var colon = rest.LastIndexOf(':');
        var host = rest[..colon].Trim('[', ']');
        var port = int.Parse(rest[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        return IPAddress.TryParse(host, out var ip) ? new IPEndPoint(ip, port) : new DnsEndPoint(host, port);
    }
}

/// <summary>clamd could not be reached, did not answer in time, or answered something this client cannot read.</summary>
public sealed class ClamdException : Exception
{
    public ClamdException()
    {
    }

    public ClamdException(string message)
        : base(message)
    {
    }

    public ClamdException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
