using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Reflection;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Common.Configuration;
using Rempart.Net;
using Rempart.Store;
using Rempart.Store.Auth;
using Rempart.Store.Sqlite;

namespace Rempart.Pop3.Tests;

/// <summary>A self-signed certificate made once per test run.</summary>
internal sealed class TestCertificates : ITlsCertificateSource
{
    public static readonly TestCertificates Instance = new();

    private readonly X509Certificate2 _certificate;

    private TestCertificates()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        request.CertificateExtensions.Add(san.Build());
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));

        // Round-trip through PKCS#12 so the private key is usable by SslStream on every platform.
        _certificate = X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pfx), null);
    }

    public SslServerAuthenticationOptions GetServerOptions() => new() { ServerCertificate = _certificate };

    /// <summary>Client-side check: the server must present exactly the test certificate (pinning, not "accept all").</summary>
    public static bool Validate(object sender, X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors) =>
        certificate is not null && certificate.GetCertHashString() == Instance._certificate.GetCertHashString();
}

/// <summary>Captures formatted log lines (to prove secrets never reach the logs).</summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            owner.Lines.Enqueue(formatter(state, exception) + (exception is null ? string.Empty : " " + exception.Message));
        }
    }
}

/// <summary>A real SQLite store in a temp folder, the real AuthService, and helpers to fill a maildrop.</summary>
internal sealed class TestEnvironment : IAsyncDisposable
{
    public const string Password = "secret pass";

    private static readonly PasswordHasher s_hasher = new(memoryKib: 64, iterations: 1, parallelism: 1);

    private readonly string _folder;

    private TestEnvironment(string folder, SqliteMailStore store, AuthService auth, RempartOptions options)
    {
        _folder = folder;
        Store = store;
        Auth = auth;
        Options = options;
    }

    public SqliteMailStore Store { get; }

    public AuthService Auth { get; }

    public RempartOptions Options { get; }

    public CapturingLoggerProvider Logs { get; } = new();

    public static async Task<TestEnvironment> CreateAsync()
    {
        var folder = Path.Combine(Path.GetTempPath(), "rempart-pop3-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var store = await SqliteMailStore.OpenAsync(Path.Combine(folder, "mail.db"), Path.Combine(folder, "blobs"), new StoreOptions(), NullLogger.Instance);
        var options = new RempartOptions { HostName = "mail.example.org" };
        options.Auth.Argon2MemoryKib = 64;
        options.Auth.Argon2Iterations = 1;
        options.Logging.Protocol = true;
        var auth = new AuthService(store.Directory, options.Auth, NullLogger<AuthService>.Instance);
        return new TestEnvironment(folder, store, auth, options);
    }

    public async Task<AccountRecord> AddAccountAsync(string address, string password = Password)
    {
        var domain = address[(address.IndexOf('@', StringComparison.Ordinal) + 1)..];
        if (!await Store.Directory.IsLocalDomainAsync(domain))
        {
            await Store.Directory.AddDomainAsync(domain);
        }

        return await Store.Directory.AddAccountAsync(new NewAccount(address, s_hasher.Hash(password)));
    }

    public async Task<string> DeliverAsync(long accountId, string content)
    {
        var blob = await Store.Blobs.PutAsync(Encoding.UTF8.GetBytes(content));
        var results = await Store.Messages.DeliverAsync(blob, [new DeliveryTarget(accountId)], DateTimeOffset.UtcNow);
        Assert.Equal(DeliveryOutcome.Stored, Assert.Single(results).Outcome);
        return blob.Hash;
    }

    public async Task<IReadOnlyList<MessageRecord>> InboxAsync(long accountId)
    {
        var inbox = await Store.Messages.GetMailboxAsync(accountId, "INBOX");
        return await Store.Messages.ListMessagesAsync(inbox!.Id);
    }

    public Pop3TestServer StartServer(bool implicitTls, IMailStore? store = null, IAuthService? auth = null, bool withCertificate = true)
    {
        var factory = LoggerFactory.Create(b => b.AddProvider(Logs).SetMinimumLevel(LogLevel.Trace));
        var handler = new Pop3ConnectionHandler(store ?? Store, auth ?? Auth, Options, factory, implicitTls);
        return Pop3TestServer.Start(handler, implicitTls, withCertificate ? TestCertificates.Instance : null, implicitTls ? Options.Listeners.Pop3s.Limits : Options.Listeners.Pop3.Limits);
    }

    public async ValueTask DisposeAsync()
    {
        Auth.Dispose();
        await Store.DisposeAsync();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>A loopback listener that hands each accepted socket to the POP3 handler, as the real listener does.</summary>
internal sealed class Pop3TestServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentBag<Task> _sessions = [];
    private Task _acceptLoop = Task.CompletedTask;

    private Pop3TestServer(TcpListener listener) => _listener = listener;

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    /// <summary>Sessions that ended (their handler returned), to prove the server closed a connection.</summary>
    public int CompletedSessions => _sessions.Count(s => s.IsCompleted);

    /// <summary>Exceptions that escaped the handler (must stay empty: the handler never throws).</summary>
    public ConcurrentQueue<Exception> Escaped { get; } = new();

    public static Pop3TestServer Start(IConnectionHandler handler, bool implicitTls, ITlsCertificateSource? certificates, ListenerLimits limits)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var server = new Pop3TestServer(listener);
        server._acceptLoop = server.AcceptAsync(handler, implicitTls, certificates, limits);
        return server;
    }

    private async Task AcceptAsync(IConnectionHandler handler, bool implicitTls, ITlsCertificateSource? certificates, ListenerLimits limits)
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _sessions.Add(Task.Run(async () =>
            {
                await using var connection = new NetConnection(new NetworkStream(socket, ownsSocket: true), socket.RemoteEndPoint, socket.LocalEndPoint, certificates, implicitTls ? "pop3s" : "pop3");
                try
                {
                    if (implicitTls)
                    {
                        await connection.UpgradeToTlsAsync(limits.HandshakeTimeout, _stop.Token);
                    }

                    await handler.HandleAsync(connection, _stop.Token);
                }
                catch (Exception ex)
                {
                    Escaped.Enqueue(ex);
                }
            }));
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_sessions).WaitAsync(TimeSpan.FromSeconds(30));
        _listener.Stop();
        await _acceptLoop;
        _stop.Dispose();
    }
}

/// <summary>A line-oriented client over a real socket (optionally TLS), with a timeout on every read.</summary>
internal sealed class RawClient : IAsyncDisposable
{
    private static readonly TimeSpan s_readTimeout = TimeSpan.FromSeconds(15);
    private readonly TcpClient _tcp;
    private readonly byte[] _buffer = new byte[65536];
    private Stream _stream;
    private int _start;
    private int _end;

    private RawClient(TcpClient tcp)
    {
        _tcp = tcp;
        _tcp.NoDelay = true;
        _stream = tcp.GetStream();
    }

    /// <summary>The error that ended the last read, if any (a reset rather than a clean close).</summary>
    public Exception? LastError { get; private set; }

    public static async Task<RawClient> ConnectAsync(int port, bool tls)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        var client = new RawClient(tcp);
        if (tls)
        {
            await client.StartTlsAsync();
        }

        return client;
    }

    public async Task StartTlsAsync()
    {
        var ssl = new SslStream(_stream, leaveInnerStreamOpen: false, TestCertificates.Validate);
        using var cts = new CancellationTokenSource(s_readTimeout);
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" }, cts.Token);
        _stream = ssl;
        _start = _end = 0;
    }

    public async Task SendAsync(string text)
    {
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(text));
        await _stream.FlushAsync();
    }

    public async Task SendBytesAsync(byte[] bytes)
    {
        await _stream.WriteAsync(bytes);
        await _stream.FlushAsync();
    }

    /// <summary>Sends a line one byte per write, so the server sees it split across reads.</summary>
    public async Task SendByteByByteAsync(string text)
    {
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            await _stream.WriteAsync(new[] { b });
            await _stream.FlushAsync();
        }
    }

    public async Task<string> CommandAsync(string line)
    {
        await SendAsync(line + "\r\n");
        return await ReadLineAsync() ?? throw new IOException("Connection closed before a reply to " + line);
    }

    /// <summary>Reads one line without its CRLF; null when the server closed the connection.</summary>
    public async Task<string?> ReadLineAsync()
    {
        var line = new List<byte>();
        using var cts = new CancellationTokenSource(s_readTimeout);
        while (true)
        {
            while (_start < _end)
            {
                var b = _buffer[_start++];
                if (b == (byte)'\n')
                {
                    if (line.Count > 0 && line[^1] == (byte)'\r')
                    {
                        line.RemoveAt(line.Count - 1);
                    }

                    return Encoding.UTF8.GetString(line.ToArray());
                }

                line.Add(b);
            }

            int read;
            try
            {
                read = await _stream.ReadAsync(_buffer, cts.Token);
            }
            catch (IOException ex)
            {
                LastError = ex;
                read = 0;
            }

            if (read == 0)
            {
                return line.Count > 0 ? Encoding.UTF8.GetString(line.ToArray()) : null;
            }

            _start = 0;
            _end = read;
        }
    }

    /// <summary>Reads a multi-line body up to the lone "." (not included), still byte-stuffed.</summary>
    public async Task<List<string>> ReadMultilineAsync()
    {
        var lines = new List<string>();
        for (var i = 0; i < 100_000; i++)
        {
            var line = await ReadLineAsync() ?? throw new IOException("Connection closed inside a multi-line response");
            if (line == ".")
            {
                return lines;
            }

            lines.Add(line);
        }

        throw new InvalidOperationException("Multi-line response too long");
    }

    /// <summary>True when the server has closed the connection (reads end-of-stream within the timeout).</summary>
    public async Task<bool> IsClosedByServerAsync()
    {
        for (var i = 0; i < 1000; i++)
        {
            if (await ReadLineAsync() is null)
            {
                return true;
            }
        }

        return false;
    }

    public async Task<string> LoginAsync(string user, string password = TestEnvironment.Password)
    {
        var greeting = await ReadLineAsync();
        Assert.StartsWith("+OK", greeting, StringComparison.Ordinal);
        Assert.StartsWith("+OK", await CommandAsync("USER " + user), StringComparison.Ordinal);
        return await CommandAsync("PASS " + password);
    }

    public async ValueTask DisposeAsync()
    {
        await _stream.DisposeAsync();
        _tcp.Dispose();
    }
}

/// <summary>Runs a child process (python3) with a hard time limit.</summary>
internal static class ChildProcess
{
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(string file, IEnumerable<string> args, TimeSpan timeout)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in args)
        {
            start.ArgumentList.Add(a);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException(file + " did not finish in time");
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}

/// <summary>Wraps a store interface and throws from chosen methods (internal-error paths).</summary>
internal static class Faults
{
    public static T Inject<T>(T inner, params string[] failingMethods)
        where T : class
    {
        var proxy = DispatchProxy.Create<T, FaultProxy<T>>();
        var fault = (FaultProxy<T>)(object)proxy;
        fault.Inner = inner;
        fault.Failing = [.. failingMethods];
        return proxy;
    }
}

public class FaultProxy<T> : DispatchProxy
    where T : class
{
    internal T Inner { get; set; } = null!;

    internal HashSet<string> Failing { get; set; } = [];

    protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
    {
        if (Failing.Contains(targetMethod!.Name))
        {
            throw new StoreException("Injected failure in " + targetMethod.Name);
        }

        try
        {
            return targetMethod.Invoke(Inner, args);
        }
        catch (TargetInvocationException ex) when (ex.InnerException is not null)
        {
            throw ex.InnerException;
        }
    }
}

/// <summary>An IMailStore that forwards to a real one but with replaced message or blob stores.</summary>
internal sealed class WrappedStore(IMailStore inner, IMessageStore? messages = null, IBlobStore? blobs = null) : IMailStore
{
    public IDirectoryStore Directory => inner.Directory;

    public IMessageStore Messages => messages ?? inner.Messages;

    public IQueueStore Queue => inner.Queue;

    public IBlobStore Blobs => blobs ?? inner.Blobs;

    public IProtectionStore Protection => inner.Protection;

    public MailboxChangeBus Changes => inner.Changes;

    public int SchemaVersion => inner.SchemaVersion;

    public Task<long> TextIndexBacklogAsync(CancellationToken ct = default) => inner.TextIndexBacklogAsync(ct);

    public Task<IReadOnlyList<string>> CheckIntegrityAsync(CancellationToken ct = default) => inner.CheckIntegrityAsync(ct);

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
