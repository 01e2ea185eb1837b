using Microsoft.AspNetCore.Routing;
using Rempart.Monitoring.Health;

namespace Rempart.Server;

internal sealed partial class MonitoringRuntime
{
    private Task StartAlertingAsync(CancellationToken ct)
    {
        _ = ct;
        _sink = NoTransitionSink.Instance;
        return Task.CompletedTask;
    }

    private void MapAlerting(IEndpointRouteBuilder app)
    {
        _ = app;
        _ = context.Admin;
    }

    private ValueTask StopAlertingAsync()
    {
        _ = context;
        return ValueTask.CompletedTask;
    }
}
