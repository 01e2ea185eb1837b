using System.CommandLine;
using System.Globalization;
using System.Text.Json.Nodes;

namespace Rempart.Cli.Commands;

/// <summary>
/// rempart alert list | ack KEY | silence PATTERN --for 2h --comment TEXT | silences | unsilence ID | test CHANNEL:
/// the running server's alerts through the admin API (docs/monitoring/alerting.md).
/// </summary>
internal static class AlertCommands
{
    public static Command Build(CliIo io, GlobalOptions globals)
    {
        var alert = new Command("alert", "Alerts of the running server: list, acknowledge, silence, test a channel");

        var list = new Command("list", "Firing alerts (and resolutions not yet sent)");
        CliAction.Set(list, io, globals, async (ctx, ct) =>
        {
            using var api = AdminApiClient.Connect(ctx);
            var json = await api.GetJsonAsync("/api/alerts", ct);
            var alerts = json["alerts"]?.AsArray() ?? [];
            if (alerts.Count == 0)
            {
                io.Line("no alerts.");
            }
            else
            {
                io.Table(["KEY", "STATUS", "SINCE", "ACK", "SILENCED", "DETAIL"], alerts.Select(a => (IReadOnlyList<string>)
                [
                    Str(a, "key"), Str(a, "status"), Str(a, "startsAt"),
                    a?["ackedBy"] is null ? "-" : Str(a, "ackedBy"),
                    a?["silenced"]?.GetValue<bool>() == true ? "yes" : "no",
                    Str(a, "detail"),
                ]));
            }

            return ExitCodes.Ok;
        });
        alert.Subcommands.Add(list);

        var key = new Argument<string>("KEY") { Description = "Alert key server/set/monitor, as rempart alert list shows it" };
        var ack = new Command("ack", "Acknowledge a firing alert: stops its escalation and repeats") { key };
        CliAction.Set(ack, io, globals, async (ctx, ct) =>
        {
            using var api = AdminApiClient.Connect(ctx);
            var json = await api.PostJsonAsync("/api/alerts/ack", new JsonObject { ["key"] = ctx.Parse.GetRequiredValue(key) }, ct);
            io.Line($"acknowledged {Str(json["alert"], "key")} (by {Str(json["alert"], "ackedBy")}).");
            return ExitCodes.Ok;
        });
        alert.Subcommands.Add(ack);

        var pattern = new Argument<string>("PATTERN") { Description = "Alert key or glob, e.g. mx1/store/*" };
        var duration = new Option<string>("--for") { Description = "How long: 30m, 2h, 1d or hh:mm:ss", Required = true };
        var comment = new Option<string>("--comment") { Description = "Why (shown by rempart alert silences)" };
        var silence = new Command("silence", "Silence alerts matching PATTERN for a while: they send nothing, not even their resolution") { pattern, duration, comment };
        CliAction.Set(silence, io, globals, async (ctx, ct) =>
        {
            var span = ParseDuration(ctx.Parse.GetRequiredValue(duration));
            using var api = AdminApiClient.Connect(ctx);
            var json = await api.PostJsonAsync("/api/alerts/silences", new JsonObject
            {
                ["matcher"] = ctx.Parse.GetRequiredValue(pattern),
                ["seconds"] = span.TotalSeconds,
                ["comment"] = ctx.Parse.GetValue(comment) ?? "",
            }, ct);
            var s = json["silence"];
            io.Line($"silence {Str(s, "id")} for {Str(s, "matcher")} until {Str(s, "expiresAt")}.");
            return ExitCodes.Ok;
        });
        alert.Subcommands.Add(silence);

        var silences = new Command("silences", "Silences in effect");
        CliAction.Set(silences, io, globals, async (ctx, ct) =>
        {
            using var api = AdminApiClient.Connect(ctx);
            var json = await api.GetJsonAsync("/api/alerts/silences", ct);
            var items = json["silences"]?.AsArray() ?? [];
            if (items.Count == 0)
            {
                io.Line("no silences.");
            }
            else
            {
                io.Table(["ID", "MATCHER", "EXPIRES", "BY", "COMMENT"], items.Select(s => (IReadOnlyList<string>)
                    [Str(s, "id"), Str(s, "matcher"), Str(s, "expiresAt"), Str(s, "createdBy"), Str(s, "comment")]));
            }

            return ExitCodes.Ok;
        });
        alert.Subcommands.Add(silences);

        var id = new Argument<string>("ID") { Description = "Silence id, as rempart alert silences shows it" };
        var unsilence = new Command("unsilence", "Remove a silence") { id };
        CliAction.Set(unsilence, io, globals, async (ctx, ct) =>
        {
            var value = ctx.Parse.GetRequiredValue(id);
            using var api = AdminApiClient.Connect(ctx);
            await api.PostJsonAsync($"/api/alerts/silences/{Uri.EscapeDataString(value)}/remove", null, ct);
            io.Line($"silence {value} removed.");
            return ExitCodes.Ok;
        });
        alert.Subcommands.Add(unsilence);

        var channel = new Argument<string>("CHANNEL") { Description = "Channel name from monitoring.alerting.channels" };
        var test = new Command("test", "Send a test notification to one channel now") { channel };
        CliAction.Set(test, io, globals, async (ctx, ct) =>
        {
            var name = ctx.Parse.GetRequiredValue(channel);
            using var api = AdminApiClient.Connect(ctx);
            await api.PostJsonAsync("/api/alerts/test", new JsonObject { ["channel"] = name }, ct);
            io.Line($"test notification sent to {name}.");
            return ExitCodes.Ok;
        });
        alert.Subcommands.Add(test);
        return alert;
    }

    /// <summary>"90s", "30m", "2h", "1d" or a TimeSpan ("02:00:00").</summary>
    internal static TimeSpan ParseDuration(string text)
    {
        var t = text.Trim();
        if (t.Length >= 2 && double.TryParse(t[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && n > 0)
        {
            switch (t[^1])
            {
                case 's':
                    return TimeSpan.FromSeconds(n);
                case 'm':
                    return TimeSpan.FromMinutes(n);
                case 'h':
                    return TimeSpan.FromHours(n);
                case 'd':
                    return TimeSpan.FromDays(n);
                default:
                    break;
            }
        }

        if (TimeSpan.TryParse(t, CultureInfo.InvariantCulture, out var span) && span > TimeSpan.Zero)
        {
            return span;
        }

        throw CliException.Usage($"--for '{text}' is not a duration; use 30m, 2h, 1d or hh:mm:ss.");
    }

    private static string Str(JsonNode? node, string name) => node?[name]?.ToString() ?? "";
}
