using Microsoft.AspNetCore.Routing;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Rempart.Antispam;
using Rempart.Common.Dns;
using Rempart.Monitoring.Checks;
using Rempart.Monitoring.Health;
using Rempart.Protection.Trace;
using Rempart.Server.Http;
using Rempart.Smtp.Queue;
using Rempart.Store;
using Rempart.Store.Sqlite;
using Rempart.Telemetry;

namespace Rempart.Server;

internal sealed partial class MonitoringRuntime
{
    private HealthModel? _model;

    /// <summary>
    /// Registers the workers' heartbeats, makes sure the probe account exists, builds every check and starts the
    /// model (docs/monitoring/health.md). Nothing is judged until the server is ready.
    /// </summary>
    private async Task StartHealthAsync(CancellationToken ct)
    {
        var options = context.Options;
        var h = options.Monitoring.Health;
        context.Queue.Liveness = context.Workers.Register("queue-runner", QueueRunner.ExpectedBeatInterval);
        context.Store.Liveness = context.Workers.Register("store-writer", SqliteMailStore.WriterIdleBeat);
        context.Protection.Trace.Liveness = context.Workers.Register("trace-recorder", TraceRecorder.IdleBeat);
        if (context.Protection.Spam is { } spam)
        {
            spam.Liveness = context.Workers.Register("spam-learner", SpamEngine.IdleBeat);
        }

        context.Protection.SweeperService.Liveness = context.Workers.Register("quarantine-sweeper", options.Protection.Quarantine.SweepInterval);
        if (context.Backups is { } backups && backups.ScheduleInterval() is { } every)
        {
            backups.Liveness = context.Workers.Register("backup-scheduler", every);
        }

        if (!h.Enabled)
        {
            _health = null;
            return;
        }

        var logger = context.LoggerFactory.CreateLogger("Rempart.Health");
        ProbeCredentials? credentials = null;
        try
        {
            credentials = await ProbeAccount.EnsureAsync(context.Store, options, context.Data.MonitoringPath, ct);
        }
        catch (Exception ex) when (ex is StoreException or IOException or UnauthorizedAccessException or SqliteException)
        {
            // The probes that log in then fail and say why; the rest of the model still runs.
            LogProbeAccountFailed(logger, ex);
        }

        var time = TimeProvider.System;
        var checks = new List<IHealthCheck>();
        if (h.Service.Enabled)
        {
            checks.Add(new ServiceCheck(options, credentials));
        }

        if (h.Workers.Enabled)
        {
            checks.Add(new WorkersCheck(context.Workers, h, time));
        }

        if (h.MailFlow.Enabled)
        {
            checks.Add(new MailFlowCheck(context.Store, h, time));
            if (h.MailFlow.Probe && credentials is not null)
            {
                checks.Add(new MailFlowProbeCheck(options, credentials));
            }
        }

        if (h.Store.Enabled)
        {
            checks.Add(new StoreIntegrityCheck(context.Store,
                new StoreIntegrityOptions(h.Store.Interval ?? h.Interval, h.Store.SampleSize, h.Store.OrphanMinAge, h.Store.FullIntegrityCheck), time));
        }

        checks.Add(new ReplicationCheck(h.Interval));
        if (h.Protection.Enabled)
        {
            checks.Add(new ProtectionCheck(context.Protection.Services.Antivirus, context.Protection.Spam, DnsClientFactory.Create(options.Dns), h, time));
        }

        if (h.Platform.Enabled)
        {
            checks.Add(new PlatformCheck(() => context.Certificates.Certificate, context.Data.Root, h, time));
        }

        _model = new HealthModel(context.ServerName, h, checks, _sink, () => context.State.IsReady, time, logger);
        _model.Start();
        _health = _model;
    }

    private void MapHealth(IEndpointRouteBuilder app) => HealthEndpoints.Map(app, context.State, () => _health, context.Admin);

    private async ValueTask StopHealthAsync()
    {
        if (_model is { } model)
        {
            _model = null;
            await model.DisposeAsync();
        }
    }

    [LoggerMessage(EventId = (int)EventIds.HealthProbeAccount, Level = LogLevel.Error, Message = "The health probe account could not be set up; probes that log in will fail")]
    private static partial void LogProbeAccountFailed(ILogger logger, Exception ex);
}
