using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Rempart.Imap.Tests.Sessions;

/// <summary>A byte-level client for transcript and bad-input tests; every read is bounded in time.</summary>
public sealed class RawImapClient : IAsyncDisposable
{
    private readonly TcpClient _tcp;
    private Stream _stream;
    private readonly MemoryStream _pending = new();

    private RawImapClient(TcpClient tcp, Stream stream)
    {
        _tcp = tcp;
        _stream = stream;
    }

    public static async Task<RawImapClient> ConnectAsync(ImapTestServer server)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", server.Port);
        Stream stream = tcp.GetStream();
        if (server.ImplicitTls)
        {
            var ssl = new SslStream(stream, false, (_, certificate, _, _) => certificate?.Subject == "CN=localhost");
            await ssl.AuthenticateAsClientAsync("localhost");
            stream = ssl;
        }

        return new RawImapClient(tcp, stream);
    }

    /// <summary>Connects, reads the greeting and logs in as the test server's alice (tag "l").</summary>
    public static async Task<RawImapClient> ConnectAndLoginAsync(ImapTestServer server)
    {
        var client = await ConnectAsync(server);
        await client.ReadLineAsync();
        await client.SendAsync("l LOGIN alice@example.com \"correct horse\"\r\n");
        Assert.StartsWith("l OK", (await client.ReadUntilAsync("l "))[^1], StringComparison.Ordinal);
        return client;
    }

    public async Task StartTlsAsync()
    {
        var ssl = new SslStream(_stream, false, (_, certificate, _, _) => certificate?.Subject == "CN=localhost");
        await ssl.AuthenticateAsClientAsync("localhost");
        _stream = ssl;
    }

    public async Task SendAsync(string text, bool byteByByte = false)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        if (!byteByByte)
        {
            await _stream.WriteAsync(bytes);
            await _stream.FlushAsync();
            return;
        }

        foreach (var b in bytes)
        {
            await _stream.WriteAsync(new[] { b });
            await _stream.FlushAsync();
        }
    }

    /// <summary>Next line without CRLF, or null when the server closed the connection.</summary>
    public async Task<string?> ReadLineAsync(int timeoutMs = 10_000)
    {
        using var cts = new CancellationTokenSource(timeoutMs);
        var buffer = new byte[1];
        while (true)
        {
            var data = _pending.ToArray();
            var lf = Array.IndexOf(data, (byte)'\n');
            if (lf >= 0)
            {
                var line = Encoding.UTF8.GetString(data, 0, lf).TrimEnd('\r');
                _pending.SetLength(0);
                _pending.Write(data, lf + 1, data.Length - lf - 1);
                return line;
            }

            int n;
            try
            {
                n = await _stream.ReadAsync(buffer, cts.Token);
            }
            catch (IOException)
            {
                n = 0;
            }

            if (n == 0)
            {
                return data.Length > 0 ? Encoding.UTF8.GetString(data) : null;
            }

            _pending.Write(buffer, 0, n);
        }
    }

    /// <summary>Reads lines until one starts with <paramref name="prefix"/>; returns all of them.</summary>
    public async Task<List<string>> ReadUntilAsync(string prefix, int maxLines = 200)
    {
        var lines = new List<string>();
        for (var i = 0; i < maxLines; i++)
        {
            var line = await ReadLineAsync() ?? throw new IOException("Connection closed; got: " + string.Join(" | ", lines));
            lines.Add(line);
            if (line.StartsWith(prefix, StringComparison.Ordinal))
            {
                return lines;
            }
        }

        throw new InvalidOperationException("No line starting with " + prefix);
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _tcp.Dispose();
        _pending.Dispose();
    }
}
