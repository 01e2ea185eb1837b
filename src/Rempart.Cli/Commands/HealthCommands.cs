using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Rempart.Cli.Commands;

/// <summary>
/// <c>rempart health</c>: the running server's health model (GET /api/health) as a table, as JSON, or refreshed
/// live. The exit code says the worst state, for scripts and monitoring agents: see <see cref="Code"/>.
/// </summary>
internal static class HealthCommands
{
    /// <summary>Every monitor Healthy (Unknown ones, e.g. replication before it exists, do not count).</summary>
    public const int Healthy = 0;

    /// <summary>At least one monitor Degraded, none Unhealthy.</summary>
    public const int Degraded = 3;

    /// <summary>At least one monitor Unhealthy.</summary>
    public const int Unhealthy = 4;

    public static Command Build(CliIo io, GlobalOptions globals)
    {
        var json = new Option<bool>("--json") { Description = "Print the whole report as JSON (for scripts)" };
        var watch = new Option<bool>("--watch") { Description = "Refresh the table every few seconds until Ctrl-C" };
        var interval = new Option<double>("--interval") { Description = "Seconds between refreshes with --watch", HelpName = "SECONDS", DefaultValueFactory = _ => 2 };
        var count = new Option<int>("--count") { Description = "With --watch: stop after N refreshes (0: until Ctrl-C)", HelpName = "N", DefaultValueFactory = _ => 0 };
        var command = new Command("health", "Show the state of every health monitor of the running server (exit 0 healthy, 3 degraded, 4 unhealthy)")
        {
            json, watch, interval, count,
        };
        CliAction.Set(command, io, globals, async (ctx, ct) =>
        {
            var seconds = ctx.Parse.GetValue(interval);
            if (seconds is < 0.5 or > 3600 || double.IsNaN(seconds))
            {
                throw CliException.Usage("--interval must be between 0.5 and 3600 seconds.");
            }

            var refreshes = ctx.Parse.GetValue(count);
            if (refreshes < 0)
            {
                throw CliException.Usage("--count must be 0 or more.");
            }

            using var api = AdminApiClient.Connect(ctx);
            if (!ctx.Parse.GetValue(watch))
            {
                var report = await api.GetJsonAsync("/api/health", ct);
                Print(io, report, ctx.Parse.GetValue(json));
                return Code(report);
            }

            var code = Healthy;
            for (var i = 0; refreshes == 0 || i < refreshes; i++)
            {
                var report = await api.GetJsonAsync("/api/health", ct);
                if (io.Host.IsTerminal)
                {
                    // Home + clear: the live view redraws in place.
                    io.Out.Write("\u001b[H\u001b[2J");
                }

                Print(io, report, ctx.Parse.GetValue(json));
                code = Code(report);
                if (refreshes != 0 && i == refreshes - 1)
                {
                    break;
                }

                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(seconds), io.Host.Time, ct);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    // Ctrl-C ends the watch normally; the exit code is the last report's.
                    break;
                }
            }

            return code;
        });
        return command;
    }

    private static void Print(CliIo io, JsonNode report, bool json)
    {
        if (json)
        {
            io.Line(report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
            return;
        }

        var at = (string?)report["at"] ?? "";
        io.Line($"{report["server"]}  overall {report["overall"]}  at {at}");
        var rows = new List<IReadOnlyList<string>>();
        foreach (var m in report["monitors"]?.AsArray() ?? [])
        {
            if (m is null)
            {
                continue;
            }

            var value = m["value"] is JsonValue v && v.TryGetValue<double>(out var d) ? d.ToString("0.###", CultureInfo.InvariantCulture) : "";
            var since = DateTimeOffset.TryParse((string?)m["since"], CultureInfo.InvariantCulture, DateTimeStyles.None, out var s) ? s.ToUniversalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture) : "";
            rows.Add([(string?)m["healthSet"] ?? "", (string?)m["monitor"] ?? "", (string?)m["state"] ?? "", since, value, (string?)m["detail"] ?? ""]);
        }

        io.Table(["SET", "MONITOR", "STATE", "SINCE", "VALUE", "DETAIL"], rows);
    }

    /// <summary>0 healthy (or nothing measured), 3 degraded, 4 unhealthy.</summary>
    public static int Code(JsonNode report) => (string?)report["overall"] switch
    {
        "Unhealthy" => Unhealthy,
        "Degraded" => Degraded,
        _ => Healthy,
    };
}
