using Microsoft.AspNetCore.Routing;

namespace Rempart.Server;

internal sealed partial class MonitoringRuntime
{
    private Task StartHealthAsync(CancellationToken ct)
    {
        _ = ct;
        _health = null;
        return Task.CompletedTask;
    }

    private void MapHealth(IEndpointRouteBuilder app)
    {
        _ = app;
        _ = context.Admin;
    }

    private ValueTask StopHealthAsync()
    {
        _ = context;
        return ValueTask.CompletedTask;
    }
}
