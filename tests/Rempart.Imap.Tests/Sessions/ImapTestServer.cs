using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using MailKit.Net.Imap;
using MailKit.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Common.Configuration;
using Rempart.Net;
using Rempart.Store;
using Rempart.Store.Auth;
using Rempart.Store.Sqlite;

namespace Rempart.Imap.Tests.Sessions;

/// <summary>Self-signed certificate made in the test (no files, no network).</summary>
public sealed class TestCertificateSource : ITlsCertificateSource, IDisposable
{
    private readonly X509Certificate2 _certificate;

    public TestCertificateSource()
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        using var cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        _certificate = X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pfx), null);
    }

    public SslServerAuthenticationOptions GetServerOptions() => new()
    {
        ServerCertificate = _certificate,
        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
    };

    public void Dispose() => _certificate.Dispose();
}

/// <summary>A real store in a temp folder, the IMAP handler on a loopback port, one account.</summary>
public sealed class ImapTestServer : IAsyncDisposable
{
    public const string User = "alice@example.com";
    public const string Password = "correct horse";

    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _sessions = [];
    private readonly TestCertificateSource _certificates = new();
    private readonly string _folder;
    private Task? _accept;

    private ImapTestServer(string folder, SqliteMailStore store, RempartOptions options, bool implicitTls)
    {
        _folder = folder;
        Store = store;
        Options = options;
        ImplicitTls = implicitTls;
        _listener = new TcpListener(IPAddress.Loopback, 0);
    }

    public SqliteMailStore Store { get; }

    public RempartOptions Options { get; }

    public bool ImplicitTls { get; }

    public ILoggerFactory LoggerFactory { get; private init; } = NullLoggerFactory.Instance;

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public AccountRecord Account { get; private set; } = null!;

    public static async Task<ImapTestServer> StartAsync(bool implicitTls = false, Action<RempartOptions>? configure = null, ILoggerFactory? loggerFactory = null)
    {
        var folder = Path.Combine(Path.GetTempPath(), "rempart-imap-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        var store = await SqliteMailStore.OpenAsync(Path.Combine(folder, "store.db"), Path.Combine(folder, "blobs"), new StoreOptions(), NullLogger.Instance);
        var options = new RempartOptions();
        options.Auth.Argon2MemoryKib = 64;
        options.Auth.Argon2Iterations = 1;
        configure?.Invoke(options);
        var server = new ImapTestServer(folder, store, options, implicitTls) { LoggerFactory = loggerFactory ?? NullLoggerFactory.Instance };
        await store.Directory.AddDomainAsync("example.com");
        var hash = new PasswordHasher(64, 1, 1).Hash(Password);
        server.Account = await store.Directory.AddAccountAsync(new NewAccount(User, hash));
        server.Start();
        return server;
    }

    private void Start()
    {
        var auth = new AuthService(Store.Directory, Options.Auth, NullLogger<AuthService>.Instance);
        var handler = new ImapConnectionHandler(Store, auth, Options, LoggerFactory, ImplicitTls);
        _listener.Start();
        _accept = Task.Run(async () =>
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

                lock (_sessions)
                {
                    _sessions.Add(Task.Run(async () =>
                    {
                        await using var connection = new NetConnection(new NetworkStream(socket, ownsSocket: true), socket.RemoteEndPoint, socket.LocalEndPoint, _certificates, ImplicitTls ? "imaps" : "imap");
                        try
                        {
                            if (ImplicitTls)
                            {
                                await connection.UpgradeToTlsAsync(TimeSpan.FromSeconds(10), _stop.Token);
                            }

                            await handler.HandleAsync(connection, _stop.Token);
                        }
                        catch (Exception ex) when (ex is IOException or OperationCanceledException or System.Security.Authentication.AuthenticationException)
                        {
                        }
                    }));
                }
            }
        });
    }

    /// <summary>A MailKit client, connected with STARTTLS (or implicit TLS) and logged in.</summary>
    public async Task<ImapClient> ConnectAsync(bool login = true)
    {
        var client = new ImapClient { ServerCertificateValidationCallback = (_, certificate, _, _) => certificate?.Subject == "CN=localhost", Timeout = 20_000 };
        await client.ConnectAsync("127.0.0.1", Port, ImplicitTls ? SecureSocketOptions.SslOnConnect : SecureSocketOptions.StartTls);
        if (login)
        {
            await client.AuthenticateAsync(User, Password);
        }

        return client;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        if (_accept is not null)
        {
            await _accept;
        }

        Task[] sessions;
        lock (_sessions)
        {
            sessions = [.. _sessions];
        }

        await Task.WhenAny(Task.WhenAll(sessions), Task.Delay(TimeSpan.FromSeconds(10)));
        await Store.DisposeAsync();
        _certificates.Dispose();
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
