using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Rempart.Bench.Load;

/// <summary>
/// One client connection on a raw socket (optionally implicit TLS, any certificate accepted: loopback benchmarks
/// against self-signed servers). Line reads are bounded in length; every read and write takes a token that the
/// caller bounds in time.
/// </summary>
internal sealed class Wire : IAsyncDisposable
{
    private const int MaxLine = 16 * 1024 * 1024;
    private readonly Socket _socket;
    private readonly Stream _stream;
    private byte[] _buf = new byte[64 * 1024];
    private int _start;
    private int _end;

    private Wire(Socket socket, Stream stream)
    {
        _socket = socket;
        _stream = stream;
    }

    public static async Task<Wire> ConnectAsync(IPEndPoint endpoint, bool tls, CancellationToken ct)
    {
        var socket = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endpoint, ct);
            Stream stream = new NetworkStream(socket, ownsSocket: false);
            if (tls)
            {
                var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = "localhost",
                    // Loopback benchmark against self-signed certificates on both servers.
                    RemoteCertificateValidationCallback = static (_, _, _, _) => true,
                }, ct);
                stream = ssl;
            }

            return new Wire(socket, stream);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public ValueTask WriteAsync(ReadOnlyMemory<byte> data, CancellationToken ct) => _stream.WriteAsync(data, ct);

    public ValueTask WriteAsync(string ascii, CancellationToken ct) => _stream.WriteAsync(Encoding.Latin1.GetBytes(ascii), ct);

    public Task FlushAsync(CancellationToken ct) => _stream.FlushAsync(ct);

    /// <summary>Next line without its CRLF.</summary>
    public async ValueTask<string> ReadLineAsync(CancellationToken ct)
    {
        var scanFrom = _start;
        while (true)
        {
            var idx = Array.IndexOf(_buf, (byte)'\n', scanFrom, _end - scanFrom);
            if (idx >= 0)
            {
                var len = idx - _start;
                if (len > 0 && _buf[idx - 1] == '\r')
                {
                    len--;
                }

                var line = Encoding.Latin1.GetString(_buf, _start, len);
                _start = idx + 1;
                return line;
            }

            // FillAsync may move the unread bytes to the front: remember how far we scanned relative to _start.
            var scanned = _end - _start;
            await FillAsync(ct);
            scanFrom = _start + scanned;
        }
    }

    /// <summary>Consumes exactly <paramref name="count"/> bytes (an IMAP literal) and returns them.</summary>
    public async ValueTask<byte[]> ReadExactAsync(int count, CancellationToken ct)
    {
        var result = new byte[count];
        var have = 0;
        while (have < count)
        {
            if (_start == _end)
            {
                await FillAsync(ct);
            }

            var n = Math.Min(count - have, _end - _start);
            Buffer.BlockCopy(_buf, _start, result, have, n);
            _start += n;
            have += n;
        }

        return result;
    }

    private async ValueTask FillAsync(CancellationToken ct)
    {
        if (_start > 0 && _start == _end)
        {
            _start = _end = 0;
        }

        if (_end == _buf.Length)
        {
            if (_start > 0)
            {
                Buffer.BlockCopy(_buf, _start, _buf, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }
            else
            {
                if (_buf.Length >= MaxLine)
                {
                    throw new IOException("line longer than 16 MiB");
                }

                Array.Resize(ref _buf, _buf.Length * 2);
            }
        }

        var n = await _stream.ReadAsync(_buf.AsMemory(_end), ct);
        if (n == 0)
        {
            throw new IOException("connection closed by the server");
        }

        _end += n;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await _stream.DisposeAsync();
        }
        catch (IOException)
        {
            // The server may already have closed; nothing to report in a benchmark.
        }

        _socket.Dispose();
    }
}
