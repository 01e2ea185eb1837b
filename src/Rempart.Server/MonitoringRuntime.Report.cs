using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Rempart.Monitoring.Reporting;
using Rempart.Server.Http;
using Rempart.Telemetry;

namespace Rempart.Server;

internal sealed partial class MonitoringRuntime
{
    private ReportService? _report;
    private CancellationTokenSource? _reportStop;
    private Task _reportLoop = Task.CompletedTask;

    /// <summary>The report's state; built at Map time so its routes exist as soon as HTTP listens.</summary>
    private ReportService Report => _report ??= new ReportService(
        context.ServerName, context.Options.Monitoring.Report, context.Store.Protection, () => _health);

    private Task StartReportAsync(CancellationToken ct)
    {
        _ = ct;
        if (!context.Options.Monitoring.Report.Enabled)
        {
            return Task.CompletedTask;
        }

        var log = context.LoggerFactory.CreateLogger("Rempart.Report");
        _reportStop = new CancellationTokenSource();
        var stop = _reportStop.Token;
        _reportLoop = Task.Run(() => Report.RunAsync(ex => LogTopFailed(log, ex), stop), CancellationToken.None);
        return Task.CompletedTask;
    }

    private void MapReport(IEndpointRouteBuilder app)
    {
        if (!context.Options.Monitoring.Report.Enabled)
        {
            return;
        }

        ReportEndpoints.Map(app, Report, context.Auth, context.Admin, context.Options.Listeners, context.LoggerFactory.CreateLogger("Rempart.Report"));
    }

    private async ValueTask StopReportAsync()
    {
        if (_reportStop is null)
        {
            return;
        }

        await _reportStop.CancelAsync();
        try
        {
            await _reportLoop;
        }
        catch (OperationCanceledException)
        {
        }

        _reportStop.Dispose();
        _reportStop = null;
    }

    [LoggerMessage(EventId = (int)EventIds.ReportTopFailed, Level = LogLevel.Warning, Message = "Report page: top senders and recipients could not be read from the message trace")]
    private static partial void LogTopFailed(ILogger logger, Exception ex);
}
