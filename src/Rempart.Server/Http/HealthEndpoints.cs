using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Rempart.Monitoring.Health;

namespace Rempart.Server.Http;

/// <summary>
/// The health surfaces on the HTTP listener (docs/monitoring/health.md):
/// /livez 200 whenever the process serves HTTP (what the service probe of the HTTP listener asks, so it never
/// depends on the model); /healthz "ok" (with ?verbose one line per health set), 503 "unhealthy" and the Unhealthy
/// monitors when the server is Unhealthy overall; /readyz 503
/// while starting or stopping or when the service set is Unhealthy; /api/health (admin) the full report as JSON.
/// They read the model's last report and never run a check.
/// </summary>
public static class HealthEndpoints
{
    public static void Map(IEndpointRouteBuilder app, ServerState state, Func<IHealthReportSource?> health, AdminApi admin)
    {
        ArgumentNullException.ThrowIfNull(app);
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(admin);
        app.MapGet("/livez", () => Results.Text("ok\n", "text/plain"));

        // Kubernetes style: a bare "ok" for probes and scripts, ?verbose for one line per health set.
        app.MapGet("/healthz", (HttpContext ctx) =>
        {
            var verbose = ctx.Request.Query.ContainsKey("verbose");
            if (health() is not { } source)
            {
                return Results.Text(verbose ? "ok (health model off)\n" : "ok\n", "text/plain");
            }

            var report = source.Current;
            var unhealthy = report.Overall == HealthState.Unhealthy;
            var text = new StringBuilder(unhealthy ? "unhealthy\n" : "ok\n");
            if (verbose)
            {
                foreach (var (set, setState) in report.Sets)
                {
                    text.Append(CultureInfo.InvariantCulture, $"{set}: {setState}\n");
                }
            }
            else if (unhealthy)
            {
                foreach (var m in report.Monitors.Where(m => m.State == HealthState.Unhealthy))
                {
                    text.Append(CultureInfo.InvariantCulture, $"{m.HealthSet}/{m.Monitor}: {m.Detail}\n");
                }
            }

            return Results.Text(text.ToString(), "text/plain", Encoding.UTF8,
                unhealthy ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status200OK);
        });

        app.MapGet("/readyz", () =>
        {
            if (!state.IsReady)
            {
                return NotReady("not ready: " + state.NotReadyReason);
            }

            var down = health()?.Current.Monitors.Where(m => m.HealthSet == "service" && m.State == HealthState.Unhealthy).ToList();
            return down is { Count: > 0 }
                ? NotReady("not ready: service unhealthy: " + string.Join(", ", down.Select(m => m.Monitor)))
                : Results.Text("ready\n", "text/plain");
        });

        admin.Require(app.MapGet("/api/health", () =>
            health() is { } source
                ? Results.Text(ToJson(source.Current).ToJsonString(), "application/json", Encoding.UTF8)
                : Results.Text("the health model is off (monitoring.health.enabled)\n", "text/plain", statusCode: StatusCodes.Status404NotFound)));
    }

    private static IResult NotReady(string reason) =>
        Results.Text(reason + "\n", "text/plain", statusCode: StatusCodes.Status503ServiceUnavailable);

    /// <summary>The report as the CLI and scripts read it; states as their names.</summary>
    public static JsonObject ToJson(HealthReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        var sets = new JsonArray();
        foreach (var (set, setState) in report.Sets)
        {
            sets.Add(new JsonObject { ["healthSet"] = set, ["state"] = setState.ToString() });
        }

        var monitors = new JsonArray();
        foreach (var m in report.Monitors)
        {
            monitors.Add(new JsonObject
            {
                ["healthSet"] = m.HealthSet,
                ["monitor"] = m.Monitor,
                ["state"] = m.State.ToString(),
                ["detail"] = m.Detail,
                ["since"] = m.Since.ToString("O", CultureInfo.InvariantCulture),
                ["checkedAt"] = m.CheckedAt.ToString("O", CultureInfo.InvariantCulture),
                ["value"] = m.Value is { } v && double.IsFinite(v) ? v : null,
            });
        }

        return new JsonObject
        {
            ["server"] = report.Server,
            ["at"] = report.At.ToString("O", CultureInfo.InvariantCulture),
            ["overall"] = report.Overall.ToString(),
            ["sets"] = sets,
            ["monitors"] = monitors,
        };
    }
}
