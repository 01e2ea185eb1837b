using System.Security.Cryptography;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Rempart.Backup;
using Rempart.Common.Configuration;
using Rempart.Imap;
using Rempart.Net;
using Rempart.Pop3;
using Rempart.Server.Http;
using Rempart.Smtp.Inbound;
using Rempart.Smtp.Outbound;
using Rempart.Smtp.Queue;
using Rempart.Store;
using Rempart.Store.Auth;
using Rempart.Store.Sqlite;
using Rempart.Telemetry;

namespace Rempart.Server;

/// <summary>
/// Composes and runs the whole server: store, certificate, authentication, every listener, the queue runner and
/// the HTTP endpoints. Shutdown (cancellation of the stop token, e.g. on SIGTERM) stops accepting, gives sessions
/// <see cref="ShutdownDeadline"/> to finish, stops the queue runner and closes the store last, so nothing is
/// half-written.
/// </summary>
public static partial class ServerRunner
{
    /// <summary>How long in-flight sessions get to finish after a stop is requested.</summary>
    public static readonly TimeSpan ShutdownDeadline = TimeSpan.FromSeconds(10);

    /// <summary>Runs until <paramref name="stop"/> is cancelled; returns the process exit code.</summary>
    /// <param name="configPath">The configuration file in use (scheduled backups include it), or null for defaults.</param>
    public static async Task<int> RunAsync(RempartOptions options, DataFolder data, ILoggerFactory loggerFactory, CancellationToken stop, string? configPath = null)
    {
        var log = loggerFactory.CreateLogger("Rempart.Server");
        LogStarting(log, data.Root, options.HostName);
        var state = new ServerState();
        var workers = new WorkerRegistry();
        var admin = AdminApi.Create(data);

        await using var store = await SqliteMailStore.OpenAsync(data.DatabasePath, data.BlobsPath, options.Store, loggerFactory.CreateLogger("Rempart.Store"), stop);
        await EnsureFirstAdminAsync(store, options, log, stop);

        using var certificates = CertificateManager.Create(options.Tls, options.HostName, data.TlsPath, loggerFactory.CreateLogger("Rempart.Tls"));
        using var auth = new AuthService(store.Directory, options.Auth, loggerFactory.CreateLogger<AuthService>());

        await using var protection = ProtectionSetup.Create(options, data, store, loggerFactory);
        auth.FailureObserved = ip => protection.Services.Reputation.Record(ip, Rempart.Protection.Reputation.ReputationSignal.AuthFailure);
        await using var transport = new SmtpOutboundTransport(options, loggerFactory);
        using var queue = new QueueRunner(store, options, transport, TimeProvider.System, loggerFactory, protection.Trace);
        using var queueStop = new CancellationTokenSource();
        var queueTask = queue.RunAsync(queueStop.Token);
        var sweepTask = SweepOrphansAsync(store, log, queueStop.Token);
        var textIndexTask = StartTextIndexerAsync(store, log, queueStop.Token);

        // Scheduled backups (backup.schedule, cron): off unless configured; docs/backup.md.
        using var backups = new BackupScheduler(options.Backup, data.Root, configPath, loggerFactory.CreateLogger<BackupScheduler>(), TimeProvider.System);
        if (options.Backup.Schedule is not null)
        {
            await backups.StartAsync(stop);
        }

        // Health model, alerting and the report page: docs/monitoring.md.
        await using var monitoring = new MonitoringRuntime(new MonitoringContext(
            options, data, store, queue, certificates, auth, protection, workers, state, admin, loggerFactory,
            options.Backup.Schedule is not null ? backups : null));

        var filter = protection.Filter;
        var listeners = new List<TcpListenerService>();
        void Add(string name, ListenerOptions l, IConnectionHandler handler, bool implicitTls, string? busyReply)
        {
            if (!l.Enabled)
            {
                return;
            }

            var service = new TcpListenerService(name, l, handler, certificates, implicitTls, auth.IsBanned, busyReply, loggerFactory.CreateLogger("Rempart.Listener." + name));
            service.Start();
            listeners.Add(service);
        }

        WebApplication? http = null;
        try
        {
            var ls = options.Listeners;
            Add("smtp", ls.Smtp, new SmtpConnectionHandler(SmtpRole.Mx, store, auth, queue, filter, options, loggerFactory, protection.Signer, protection.Trace), false, "421 4.7.0 Too many connections, try again later");
            Add("submission", ls.Submission, new SmtpConnectionHandler(SmtpRole.Submission, store, auth, queue, filter, options, loggerFactory, protection.Signer, protection.Trace), false, "421 4.7.0 Too many connections, try again later");
            Add("submissions", ls.Submissions, new SmtpConnectionHandler(SmtpRole.Submissions, store, auth, queue, filter, options, loggerFactory, protection.Signer, protection.Trace), true, null);
            Add("imap", ls.Imap, new ImapConnectionHandler(store, auth, options, loggerFactory, implicitTls: false, protection.Feedback), false, "* BYE Too many connections, try again later");
            Add("imaps", ls.Imaps, new ImapConnectionHandler(store, auth, options, loggerFactory, implicitTls: true, protection.Feedback), true, null);
            Add("pop3", ls.Pop3, new Pop3ConnectionHandler(store, auth, options, loggerFactory, implicitTls: false), false, "-ERR [SYS/TEMP] Too many connections, try again later");
            Add("pop3s", ls.Pop3s, new Pop3ConnectionHandler(store, auth, options, loggerFactory, implicitTls: true), true, null);

            if (ls.Http.Enabled || ls.Https.Enabled)
            {
                http = BuildHttp(options, loggerFactory, state, monitoring, certificates, log);
                await http.StartAsync(stop);
                foreach (var a in ls.Http.Enabled ? ls.Http.Addresses : [])
                {
                    LogHttp(log, a, ls.Http.Port);
                }
            }

            await monitoring.StartAsync(stop);
            state.SetReady();
            try
            {
                await Task.Delay(Timeout.Infinite, stop);
            }
            catch (OperationCanceledException)
            {
            }

            LogStopping(log);
            state.SetNotReady("stopping");
            return 0;
        }
        finally
        {
            // Monitoring first (so stopping listeners raise no alerts), then listeners (no new work), then the queue
            // runner, then HTTP; the store closes last (await using).
            await monitoring.DisposeAsync();
            await Task.WhenAll(listeners.Select(l => l.StopAsync(ShutdownDeadline)));
            await queueStop.CancelAsync();
            try
            {
                await queueTask.WaitAsync(ShutdownDeadline, CancellationToken.None);
            }
            catch (Exception ex) when (ex is OperationCanceledException or TimeoutException)
            {
            }

            await sweepTask;
            await textIndexTask;
            if (options.Backup.Schedule is not null)
            {
                await backups.StopAsync(CancellationToken.None);
            }

            if (http is not null)
            {
                await http.StopAsync(CancellationToken.None);
                await http.DisposeAsync();
            }
        }
    }

    /// <summary>
    /// Deletes blob files nothing refers to (a delivery refused after its body was stored, a crash between the blob
    /// fsync and the commit) once a day; only files older than a day, so in-flight deliveries are never touched.
    /// </summary>
    private static async Task SweepOrphansAsync(SqliteMailStore store, ILogger log, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromHours(1), stop);
                if (DateTime.UtcNow.Hour == 3)
                {
                    await store.SweepOrphanBlobsAsync(TimeSpan.FromDays(1), stop);
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception ex) when (ex is StoreException or IOException or Microsoft.Data.Sqlite.SqliteException)
            {
                LogSweepFailed(log, ex);
            }
        }
    }

    /// <summary>
    /// Starts the store's background indexer for what waits for the full-text index: the texts the last run had not
    /// indexed yet, or a whole restored database (backups leave the index out).
    /// </summary>
    private static async Task StartTextIndexerAsync(SqliteMailStore store, ILogger log, CancellationToken stop)
    {
        try
        {
            await Task.Yield();
            await store.StartTextIndexerAsync(stop);
        }
        catch (OperationCanceledException)
        {
            // Stopped: the next start continues where this one was.
        }
        catch (Exception ex) when (ex is StoreException or IOException or Microsoft.Data.Sqlite.SqliteException)
        {
            LogTextIndexFailed(log, ex);
        }
    }

    private static WebApplication BuildHttp(RempartOptions options, ILoggerFactory loggerFactory, ServerState state, MonitoringRuntime monitoring, CertificateManager certificates, ILogger log)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        builder.WebHost.ConfigureKestrel(k =>
        {
            var l = options.Listeners.Http;
            foreach (var a in l.Enabled ? l.Addresses : [])
            {
                k.Listen(System.Net.IPAddress.Parse(a), l.Port);
            }

            ListenHttps(k, options.Listeners.Https, certificates, log);

            k.Limits.MaxConcurrentConnections = l.Limits.MaxConnections;
            k.Limits.KeepAliveTimeout = l.Limits.IdleTimeout;
            k.Limits.RequestHeadersTimeout = l.Limits.CommandTimeout;
            k.Limits.MaxRequestBodySize = 1024 * 1024;
            k.Limits.MaxRequestLineSize = l.Limits.MaxLineLength;
            k.AddServerHeader = false;
        });
        var app = builder.Build();
        HttpEndpoints.Map(app, options);
        monitoring.Map(app);
        return app;
    }

    /// <summary>
    /// The HTTPS endpoint (listeners.https): same routes as HTTP, TLS with the certificate in use now (the selector
    /// asks <see cref="CertificateManager"/> on every handshake, so a renewed certificate is served without a
    /// restart). An address whose port is already taken is skipped with an error in the log rather than stopping
    /// the whole HTTP listener: /healthz and /readyz on plain HTTP keep working and the health model reports it.
    /// </summary>
    private static void ListenHttps(Microsoft.AspNetCore.Server.Kestrel.Core.KestrelServerOptions k, ListenerOptions l, CertificateManager certificates, ILogger log)
    {
        if (!l.Enabled)
        {
            return;
        }

        foreach (var a in l.Addresses)
        {
            var ip = System.Net.IPAddress.Parse(a);
            if (!PortFree(ip, l.Port))
            {
                LogHttpsUnavailable(log, a, l.Port);
                continue;
            }

            k.Listen(ip, l.Port, lo => lo.UseHttps(new Microsoft.AspNetCore.Server.Kestrel.Https.HttpsConnectionAdapterOptions
            {
                ServerCertificateSelector = (_, _) => certificates.Certificate,
                SslProtocols = System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13,
                HandshakeTimeout = l.Limits.HandshakeTimeout,
            }));
            LogHttps(log, a, l.Port);
        }
    }

    private static bool PortFree(System.Net.IPAddress ip, int port)
    {
        try
        {
            var probe = new System.Net.Sockets.TcpListener(ip, port);
            probe.Start();
            probe.Stop();
            return true;
        }
        catch (System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    /// <summary>
    /// On an empty store, creates the host name's domain and an administrator with a generated password, printed
    /// once on standard output (not in the logs).
    /// </summary>
    public static async Task<string?> EnsureFirstAdminAsync(IMailStore store, RempartOptions options, ILogger log, CancellationToken ct)
    {
        if ((await store.Directory.ListAccountsAsync(null, ct)).Count > 0)
        {
            return null;
        }

        var domain = options.HostName.ToLowerInvariant();
        if (!await store.Directory.IsLocalDomainAsync(domain, ct))
        {
            await store.Directory.AddDomainAsync(domain, ct);
        }

        var password = GeneratePassword();
        var hasher = new PasswordHasher(options.Auth.Argon2MemoryKib, options.Auth.Argon2Iterations, options.Auth.Argon2Parallelism);
        var address = "admin@" + domain;
        await store.Directory.AddAccountAsync(new NewAccount(address, hasher.Hash(password), IsAdmin: true, DisplayName: "Administrator"), ct);
        LogFirstAdmin(log, address);
        Console.Out.WriteLine();
        Console.Out.WriteLine($"  First run: created administrator {address}");
        Console.Out.WriteLine($"  Password (shown once): {password}");
        Console.Out.WriteLine($"  Change it with: ./rempart user passwd {address} --password-stdin");
        Console.Out.WriteLine();
        await Console.Out.FlushAsync(ct);
        return password;
    }

    /// <summary>A 20-character password from an unambiguous alphabet (about 115 bits).</summary>
    public static string GeneratePassword()
    {
        const string alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        return RandomNumberGenerator.GetString(alphabet, 20);
    }

    [LoggerMessage(EventId = (int)EventIds.ServerStarting, Level = LogLevel.Information, Message = "Rempart starting: data {Data}, host name {HostName}")]
    private static partial void LogStarting(ILogger logger, string data, string hostName);

    [LoggerMessage(EventId = (int)EventIds.ListenerStarted, Level = LogLevel.Information, Message = "Listener http on {Address}:{Port} (/healthz, /readyz, /metrics, autoconfig)")]
    private static partial void LogHttp(ILogger logger, string address, int port);

    [LoggerMessage(EventId = (int)EventIds.HttpsListenerStarted, Level = LogLevel.Information, Message = "Listener https on {Address}:{Port} (report page, admin API, /healthz, /metrics)")]
    private static partial void LogHttps(ILogger logger, string address, int port);

    [LoggerMessage(EventId = (int)EventIds.HttpsListenerUnavailable, Level = LogLevel.Error, Message = "Listener https on {Address}:{Port} not started: the port is in use (change listeners.https.port or disable it)")]
    private static partial void LogHttpsUnavailable(ILogger logger, string address, int port);

    [LoggerMessage(EventId = (int)EventIds.ServerStopping, Level = LogLevel.Information, Message = "Stopping: no new connections; sessions get 10 s to finish")]
    private static partial void LogStopping(ILogger logger);

    [LoggerMessage(EventId = (int)EventIds.StoreWriteFailed, Level = LogLevel.Error, Message = "Orphan blob sweep failed; it runs again at the next window")]
    private static partial void LogSweepFailed(ILogger logger, Exception ex);

    [LoggerMessage(EventId = (int)EventIds.StoreTextIndexRebuilding, Level = LogLevel.Error, Message = "Starting the full-text indexer failed; searches index each mailbox when they need it, and the next start tries again")]
    private static partial void LogTextIndexFailed(ILogger logger, Exception ex);

    [LoggerMessage(EventId = (int)EventIds.FirstAdminCreated, Level = LogLevel.Warning, Message = "First run: created administrator {Address}; its password is printed once on standard output")]
    private static partial void LogFirstAdmin(ILogger logger, string address);
}
