using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Common.Configuration;
using Rempart.Net;
using Rempart.Smtp.Filters;
using Rempart.Smtp.Inbound;
using Rempart.Smtp.Queue;
using Rempart.Store;
using Rempart.Store.Auth;
using Rempart.Store.Sqlite;

namespace Rempart.Smtp.Tests;

/// <summary>Records what inbound SMTP hands to the outbound side.</summary>
public sealed class RecordingQueue : IOutboundQueue
{
    public List<OutboundMessage> Enqueued { get; } = [];

    public List<(string Sender, IReadOnlyList<QueueRecipient> Recipients)> Delivered { get; } = [];

    public bool Fail { get; set; }

    public Task<IReadOnlyList<long>> EnqueueAsync(OutboundMessage message, CancellationToken ct = default)
    {
        if (Fail)
        {
            throw new IOException("queue unavailable");
        }

        lock (Enqueued)
        {
            Enqueued.Add(message);
            return Task.FromResult<IReadOnlyList<long>>([Enqueued.Count]);
        }
    }

    public Task ReportDeliveredAsync(string sender, IReadOnlyList<QueueRecipient> recipients, BlobRef original, string? envelopeId, string? ret, CancellationToken ct = default)
    {
        lock (Delivered)
        {
            Delivered.Add((sender, recipients));
        }

        return Task.CompletedTask;
    }
}

/// <summary>A self-signed certificate for STARTTLS and implicit TLS tests.</summary>
public sealed class TestCertificateSource : ITlsCertificateSource
{
    private static readonly Lazy<X509Certificate2> s_cert = new(Create);

    public static X509Certificate2 Certificate => s_cert.Value;

    public SslServerAuthenticationOptions GetServerOptions() => new() { ServerCertificate = s_cert.Value };

    private static X509Certificate2 Create()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=mx.test", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pfx), null);
    }
}

/// <summary>Captures log lines (the protocol transcript) for assertions.</summary>
public sealed class CapturingLoggerFactory : ILoggerFactory, ILogger
{
    public List<string> Lines { get; } = [];

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public ILogger CreateLogger(string categoryName) => this;

    public void Dispose()
    {
    }

    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Lines)
        {
            Lines.Add(formatter(state, exception));
        }
    }

    public string[] Snapshot()
    {
        lock (Lines)
        {
            return [.. Lines];
        }
    }
}

/// <summary>
/// A real store in a temp folder, a few accounts, and an SMTP handler behind a loopback TcpListener.
/// </summary>
public sealed class InboundTestHost : IAsyncDisposable
{
    public const string Password = "correct horse";

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _sessions = [];
    private readonly Task _acceptLoop;
    private readonly string _folder;
    private readonly AuthService _auth;

    private InboundTestHost(string folder, SqliteMailStore store, SmtpRole role, RempartOptions options, IMessageFilter filter, bool withTls)
    {
        _folder = folder;
        Store = store;
        Options = options;
        Logs = new CapturingLoggerFactory();
        _auth = new AuthService(store.Directory, options.Auth, NullLogger<AuthService>.Instance);
        Handler = new SmtpConnectionHandler(role, store, _auth, Queue, filter, options, Logs);
        Role = role;
        WithTls = withTls;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = AcceptLoopAsync();
    }

    public SqliteMailStore Store { get; }

    public RempartOptions Options { get; }

    public RecordingQueue Queue { get; } = new();

    public CapturingLoggerFactory Logs { get; }

    public SmtpConnectionHandler Handler { get; }

    public SmtpRole Role { get; }

    public bool WithTls { get; }

    public int Port { get; }

    public static RempartOptions DefaultOptions()
    {
        var options = new RempartOptions { HostName = "mx.test" };
        options.Logging.Protocol = true;
        options.Auth.Argon2MemoryKib = 64;
        options.Auth.Argon2Iterations = 1;
        foreach (var (_, l) in options.Listeners.All())
        {
            l.Limits.IdleTimeout = TimeSpan.FromSeconds(30);
            l.Limits.CommandTimeout = TimeSpan.FromSeconds(30);
            l.Limits.MaxLineLength = 1000;
        }

        return options;
    }

    public static async Task<InboundTestHost> StartAsync(SmtpRole role = SmtpRole.Mx, Action<RempartOptions>? configure = null, IMessageFilter? filter = null, bool withTls = true)
    {
        var folder = Path.Combine(Path.GetTempPath(), "rempart-smtp-in-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var options = DefaultOptions();
        configure?.Invoke(options);
        var store = await SqliteMailStore.OpenAsync(Path.Combine(folder, "store.db"), Path.Combine(folder, "blobs"), options.Store, NullLogger.Instance);
        await SeedAsync(store);
        return new InboundTestHost(folder, store, role, options, filter ?? PassThroughFilter.Instance, withTls);
    }

    /// <summary>
    /// example.test: alice, bob, carol (tiny quota), dave (disabled); team@ group (alice, bob, alice again via
    /// list@), info@ alias to alice, fwd@ alias to a remote address. catch.test: catch-all to bob.
    /// </summary>
    private static async Task SeedAsync(SqliteMailStore store)
    {
        var hash = new PasswordHasher(64, 1, 1).Hash(Password);
        var d = store.Directory;
        await d.AddDomainAsync("example.test");
        await d.AddDomainAsync("catch.test");
        await d.AddAccountAsync(new NewAccount("alice@example.test", hash));
        await d.AddAccountAsync(new NewAccount("bob@example.test", hash));
        await d.AddAccountAsync(new NewAccount("carol@example.test", hash, MaxBytes: 10));
        var dave = await d.AddAccountAsync(new NewAccount("dave@example.test", hash));
        await d.SetDisabledAsync(dave.Id, true);
        await d.AddAliasAsync("team@example.test", ["alice@example.test", "bob@example.test", "info@example.test"], AliasKind.Group);
        await d.AddAliasAsync("info@example.test", ["alice@example.test"], AliasKind.Alias);
        await d.AddAliasAsync("fwd@example.test", ["bob@example.test", "someone@remote.test"], AliasKind.Alias);
        await d.SetCatchAllAsync("catch.test", "bob@example.test");
    }

    public async Task<long> AccountIdAsync(string address) => (await Store.Directory.GetAccountAsync(address))!.Id;

    /// <summary>Messages in INBOX (or <paramref name="folder"/>) of an account.</summary>
    public async Task<IReadOnlyList<MessageRecord>> MessagesAsync(string address, string folder = "INBOX")
    {
        var id = await AccountIdAsync(address);
        var mailbox = await Store.Messages.GetMailboxAsync(id, folder);
        return mailbox is null ? [] : await Store.Messages.ListMessagesAsync(mailbox.Id);
    }

    public async Task<string> ReadBlobAsync(string hash) => Encoding.UTF8.GetString(await Store.Blobs.ReadAllAsync(hash));

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            client.NoDelay = true;
            lock (_sessions)
            {
                _sessions.Add(RunSessionAsync(client));
            }
        }
    }

    private async Task RunSessionAsync(TcpClient client)
    {
        using (client)
        {
            var connection = new NetConnection(client.GetStream(), client.Client.RemoteEndPoint, client.Client.LocalEndPoint, WithTls ? new TestCertificateSource() : null, "smtp");
            await using (connection)
            {
                try
                {
                    if (Role == SmtpRole.Submissions)
                    {
                        // The listener does implicit TLS before the handler runs.
                        await connection.UpgradeToTlsAsync(TimeSpan.FromSeconds(10), _stop.Token);
                    }

                    await Handler.HandleAsync(connection, _stop.Token);
                }
                catch (Exception ex) when (ex is IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
                {
                }
            }
        }
    }

    /// <summary>Signals server shutdown to every session (the host's stopping token).</summary>
    public Task ShutdownAsync() => _stop.CancelAsync();

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _acceptLoop;
        Task[] sessions;
        lock (_sessions)
        {
            sessions = [.. _sessions];
        }

        await Task.WhenAny(Task.WhenAll(sessions), Task.Delay(TimeSpan.FromSeconds(10)));
        _auth.Dispose();
        await Store.DisposeAsync();
        _stop.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A raw SMTP client over a loopback socket, every read bounded in time.</summary>
public sealed class RawSmtpClient : IAsyncDisposable
{
    private static readonly TimeSpan s_readGuard = TimeSpan.FromSeconds(15);
    private readonly TcpClient _tcp;
    private Stream _stream;
    private readonly StringBuilder _pending = new();

    private RawSmtpClient(TcpClient tcp)
    {
        _tcp = tcp;
        _stream = tcp.GetStream();
    }

    public static async Task<RawSmtpClient> ConnectAsync(int port, bool implicitTls = false)
    {
        var tcp = new TcpClient { NoDelay = true };
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        var client = new RawSmtpClient(tcp);
        if (implicitTls)
        {
            await client.StartTlsHandshakeAsync();
        }

        return client;
    }

    public async Task StartTlsHandshakeAsync()
    {
        var ssl = new SslStream(_stream, leaveInnerStreamOpen: false, (_, cert, _, _) => cert?.GetCertHashString() == TestCertificateSource.Certificate.GetCertHashString());
        using var cts = new CancellationTokenSource(s_readGuard);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "mx.test" }, cts.Token);
        _stream = ssl;
        _pending.Clear();
    }

    public async Task SendAsync(string text) => await SendAsync(Encoding.UTF8.GetBytes(text));

    public async Task SendAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    /// <summary>Reads one complete reply (all its lines); returns the lines.</summary>
    public async Task<List<string>> ReadReplyAsync()
    {
        var lines = new List<string>();
        while (true)
        {
            var line = await ReadLineAsync();
            if (line is null)
            {
                return lines;
            }

            lines.Add(line);
            if (line.Length < 4 || line[3] != '-')
            {
                return lines;
            }
        }
    }

    /// <summary>Reads one reply and returns its last line.</summary>
    public async Task<string> ReplyAsync() => (await ReadReplyAsync()).LastOrDefault() ?? "<closed>";

    public async Task<string> CommandAsync(string line)
    {
        await SendAsync(line + "\r\n");
        return await ReplyAsync();
    }

    /// <summary>One read call on the socket: whatever arrived in one segment.</summary>
    public async Task<string> ReadOnceAsync()
    {
        var buffer = new byte[65536];
        using var cts = new CancellationTokenSource(s_readGuard);
        var n = await _stream.ReadAsync(buffer, cts.Token);
        return Encoding.UTF8.GetString(buffer, 0, n);
    }

    /// <summary>Everything until the server closes the connection.</summary>
    public async Task<string> ReadToEndAsync()
    {
        var sb = new StringBuilder(_pending.ToString());
        _pending.Clear();
        var buffer = new byte[8192];
        using var cts = new CancellationTokenSource(s_readGuard);
        while (true)
        {
            int n;
            try
            {
                n = await _stream.ReadAsync(buffer, cts.Token);
            }
            catch (IOException)
            {
                break;
            }

            if (n == 0)
            {
                break;
            }

            sb.Append(Encoding.UTF8.GetString(buffer, 0, n));
        }

        return sb.ToString();
    }

    public async Task<string?> ReadLineAsync()
    {
        var buffer = new byte[1];
        using var cts = new CancellationTokenSource(s_readGuard);
        while (true)
        {
            var text = _pending.ToString();
            var end = text.IndexOf("\r\n", StringComparison.Ordinal);
            if (end >= 0)
            {
                _pending.Remove(0, end + 2);
                return text[..end];
            }

            int n;
            try
            {
                n = await _stream.ReadAsync(buffer, cts.Token);
            }
            catch (IOException)
            {
                return null;
            }

            if (n == 0)
            {
                return null;
            }

            _pending.Append((char)buffer[0]);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _tcp.Dispose();
    }
}
