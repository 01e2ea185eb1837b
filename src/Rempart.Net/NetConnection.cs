using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Security.Authentication;

namespace Rempart.Net;

/// <summary>
/// One client connection as a pair of pipes over a stream (a socket's NetworkStream, an SslStream, or an in-memory
/// stream in tests). <see cref="UpgradeToTlsAsync"/> swaps the pipes for ones over TLS in place (STARTTLS):
/// sessions must read <see cref="Input"/> and <see cref="Output"/> again after it.
/// </summary>
public sealed class NetConnection : IAsyncDisposable
{
    private static long s_nextId;
    private readonly Stream _transport;
    private readonly ITlsCertificateSource? _certificates;
    private Stream _stream;
    private SslStream? _ssl;

    public NetConnection(Stream transport, EndPoint? remote, EndPoint? local, ITlsCertificateSource? certificates, string listenerName = "test")
    {
        _transport = transport;
        _stream = transport;
        _certificates = certificates;
        RemoteEndPoint = remote as IPEndPoint ?? new IPEndPoint(IPAddress.Loopback, 0);
        LocalEndPoint = local as IPEndPoint ?? new IPEndPoint(IPAddress.Loopback, 0);
        ListenerName = listenerName;
        Id = Interlocked.Increment(ref s_nextId).ToString("x8", System.Globalization.CultureInfo.InvariantCulture);
        Input = CreateReader(_stream);
        Output = PipeWriter.Create(_stream, new StreamPipeWriterOptions(leaveOpen: true));
    }

    /// <summary>Short id used in logs and Received headers.</summary>
    public string Id { get; }

    /// <summary>Name of the listener that accepted this connection ("smtp", "imaps", ...).</summary>
    public string ListenerName { get; }

    public IPEndPoint RemoteEndPoint { get; }

    public IPEndPoint LocalEndPoint { get; }

    public PipeReader Input { get; private set; }

    public PipeWriter Output { get; private set; }

    /// <summary>True once TLS is established (implicit TLS or after STARTTLS).</summary>
    public bool IsSecure => _ssl is not null;

    public SslProtocols TlsProtocol => _ssl?.SslProtocol ?? SslProtocols.None;

    public string? TlsCipher => _ssl?.NegotiatedCipherSuite.ToString();

    /// <summary>True when a certificate is available, so STARTTLS may be offered.</summary>
    public bool CanStartTls => _certificates is not null && _ssl is null;

    /// <summary>
    /// Negotiates TLS as the server over the current transport and replaces <see cref="Input"/> and
    /// <see cref="Output"/>. Bytes the client sent before the handshake (pipelined after STARTTLS) are discarded, as
    /// RFC 3207 section 4.2 and RFC 2595 require, so no plaintext command can be injected into the TLS session.
    /// </summary>
    public async ValueTask UpgradeToTlsAsync(TimeSpan handshakeTimeout, CancellationToken ct)
    {
        if (_certificates is null)
        {
            throw new InvalidOperationException("No certificate is configured.");
        }

        if (_ssl is not null)
        {
            throw new InvalidOperationException("TLS is already active.");
        }

        await Output.FlushAsync(ct);

        // Anything already buffered arrived before the handshake: drop it (command injection guard).
        await Input.CompleteAsync();
        await Output.CompleteAsync();

        var ssl = new SslStream(_stream, leaveInnerStreamOpen: false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(handshakeTimeout);
        await ssl.AuthenticateAsServerAsync(_certificates.GetServerOptions(), timeout.Token);
        OpenSslIdleBuffers.TryEnable(ssl);
        _ssl = ssl;
        _stream = ssl;
        Input = CreateReader(_stream);
        Output = PipeWriter.Create(_stream, new StreamPipeWriterOptions(leaveOpen: true));
    }

    /// <summary>
    /// Zero-byte reads: the reader waits for the socket to become readable before it rents a buffer, and SslStream
    /// passes the zero-byte read down the same way, so a connection waiting for its next command (an IMAP session in
    /// IDLE, most of the time) holds no read buffer at all, the way Kestrel does it.
    /// </summary>
    private static PipeReader CreateReader(Stream stream) =>
        PipeReader.Create(stream, new StreamPipeReaderOptions(leaveOpen: true, useZeroByteReads: true));

    public async ValueTask DisposeAsync()
    {
        try
        {
            await Output.CompleteAsync();
            await Input.CompleteAsync();
        }
        catch (IOException)
        {
            // The peer is gone; nothing to flush to.
        }
        catch (ObjectDisposedException)
        {
        }

        if (_ssl is not null)
        {
            await _ssl.DisposeAsync();
        }

        await _transport.DisposeAsync();
    }
}

/// <summary>Supplies the current server certificate (reloaded when the files change).</summary>
public interface ITlsCertificateSource
{
    /// <summary>Options for one handshake: current certificate, TLS 1.2 minimum.</summary>
    SslServerAuthenticationOptions GetServerOptions();
}

/// <summary>Handles one accepted connection of a listener until the session ends.</summary>
public interface IConnectionHandler
{
    Task HandleAsync(NetConnection connection, CancellationToken shutdown);
}
