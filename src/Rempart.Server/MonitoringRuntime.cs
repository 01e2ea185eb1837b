using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Rempart.Common.Configuration;
using Rempart.Monitoring.Health;
using Rempart.Net;
using Rempart.Server.Http;
using Rempart.Smtp.Queue;
using Rempart.Store.Auth;
using Rempart.Store.Sqlite;
using Rempart.Telemetry;

namespace Rempart.Server;

/// <summary>What the monitoring parts are built from: everything they watch.</summary>
internal sealed record MonitoringContext(
    RempartOptions Options,
    DataFolder Data,
    SqliteMailStore Store,
    QueueRunner Queue,
    CertificateManager Certificates,
    AuthService Auth,
    ProtectionSetup Protection,
    WorkerRegistry Workers,
    ServerState State,
    AdminApi Admin,
    ILoggerFactory LoggerFactory,
    Rempart.Backup.BackupScheduler? Backups = null)
{
    /// <summary>The monitoring section, with the server name defaulted to the host name.</summary>
    public string ServerName => Options.Monitoring.ServerName ?? Options.HostName;
}

/// <summary>
/// The server's monitoring: the health model (MonitoringRuntime.Health.cs), alerting (MonitoringRuntime.Alerting.cs)
/// and the report page (MonitoringRuntime.Report.cs). Started after the listeners, stopped before them.
/// </summary>
internal sealed partial class MonitoringRuntime(MonitoringContext context) : IAsyncDisposable
{
    /// <summary>Where health transitions go: alerting when it is configured (set by the alerting part).</summary>
    private IHealthTransitionSink _sink = NoTransitionSink.Instance;

    /// <summary>The current health report (set by the health part).</summary>
    private IHealthReportSource? _health;

    public MonitoringContext Context => context;

    public IHealthReportSource? Health => _health;

    public async Task StartAsync(CancellationToken ct)
    {
        await StartAlertingAsync(ct);
        await StartHealthAsync(ct);
        await StartReportAsync(ct);
    }

    /// <summary>Adds each part's HTTP routes.</summary>
    public void Map(IEndpointRouteBuilder app)
    {
        MapHealth(app);
        MapAlerting(app);
        MapReport(app);
    }

    private int _disposed;

    /// <summary>Stops every part once; the runner calls it before the listeners stop, and again on exit.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await StopReportAsync();
        await StopHealthAsync();
        await StopAlertingAsync();
    }
}
