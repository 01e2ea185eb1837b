using Microsoft.AspNetCore.Routing;

namespace Rempart.Server;

internal sealed partial class MonitoringRuntime
{
    private Task StartReportAsync(CancellationToken ct)
    {
        _ = ct;
        _ = context;
        return Task.CompletedTask;
    }

    private void MapReport(IEndpointRouteBuilder app)
    {
        _ = app;
        _ = context.Admin;
    }

    private ValueTask StopReportAsync()
    {
        _ = context;
        return ValueTask.CompletedTask;
    }
}
