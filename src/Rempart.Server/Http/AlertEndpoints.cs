using System.Globalization;
using System.Net;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Rempart.Monitoring.Alerting;

namespace Rempart.Server.Http;

/// <summary>
/// Alerting over HTTP: the admin API under /api/alerts (the CLI's `rempart alert ...`, admin only), and the
/// acknowledge link /alerts/ack sent in notifications. The link's GET only shows a confirmation page with a button,
/// so mail scanners and chat link previews that fetch URLs do not acknowledge; the POST does, after checking the
/// link's HMAC token.
/// </summary>
internal static class AlertEndpoints
{
    public static void Map(IEndpointRouteBuilder app, AdminApi admin, Func<AlertManager?> manager)
    {
        admin.Require(app.MapGet("/api/alerts", (HttpContext ctx) =>
            manager() is { } m ? Results.Text(ListJson(m).ToJsonString(), "application/json") : NotConfigured()));

        admin.Require(app.MapGet("/api/alerts/silences", (HttpContext ctx) =>
            manager() is { } m ? Results.Text(new JsonObject { ["silences"] = Silences(m) }.ToJsonString(), "application/json") : NotConfigured()));

        admin.Require(app.MapPost("/api/alerts/ack", async (HttpContext ctx) =>
        {
            if (manager() is not { } m)
            {
                return NotConfigured();
            }

            var body = await ReadJsonAsync(ctx);
            var key = body?["key"]?.GetValue<string>();
            if (string.IsNullOrWhiteSpace(key))
            {
                return Results.Text("the body must be {\"key\": \"server/set/monitor\"}\n", "text/plain", statusCode: 400);
            }

            var view = await m.AcknowledgeAsync(key, admin.Authenticate(ctx) ?? "admin", ctx.RequestAborted);
            return view is null
                ? Results.Text($"no alert '{key}' is firing (rempart alert list shows the keys)\n", "text/plain", statusCode: 404)
                : Results.Text(new JsonObject { ["alert"] = AlertJson(view) }.ToJsonString(), "application/json");
        }));

        admin.Require(app.MapPost("/api/alerts/silences", async (HttpContext ctx) =>
        {
            if (manager() is not { } m)
            {
                return NotConfigured();
            }

            var body = await ReadJsonAsync(ctx);
            var matcher = body?["matcher"]?.GetValue<string>();
            var seconds = body?["seconds"]?.GetValue<double>() ?? 0;
            var comment = body?["comment"]?.GetValue<string>() ?? "";
            try
            {
                var s = await m.AddSilenceAsync(matcher ?? "", TimeSpan.FromSeconds(seconds), comment, admin.Authenticate(ctx) ?? "admin", ctx.RequestAborted);
                return Results.Text(new JsonObject { ["silence"] = SilenceJson(s) }.ToJsonString(), "application/json");
            }
            catch (ArgumentException ex)
            {
                return Results.Text(ex.Message.Split(" (Parameter", 2)[0] + "\n", "text/plain", statusCode: 400);
            }
        }));

        admin.Require(app.MapPost("/api/alerts/silences/{id}/remove", async (string id, HttpContext ctx) =>
        {
            if (manager() is not { } m)
            {
                return NotConfigured();
            }

            return await m.RemoveSilenceAsync(id, ctx.RequestAborted)
                ? Results.Text(new JsonObject { ["removed"] = id }.ToJsonString(), "application/json")
                : Results.Text($"no silence has the id '{id}' (rempart alert silences lists them)\n", "text/plain", statusCode: 404);
        }));

        admin.Require(app.MapPost("/api/alerts/test", async (HttpContext ctx) =>
        {
            if (manager() is not { } m)
            {
                return NotConfigured();
            }

            var body = await ReadJsonAsync(ctx);
            var channel = body?["channel"]?.GetValue<string>() ?? "";
            try
            {
                await m.SendTestAsync(channel, ctx.RequestAborted);
                return Results.Text(new JsonObject { ["sent"] = channel }.ToJsonString(), "application/json");
            }
            catch (KeyNotFoundException ex)
            {
                return Results.Text(ex.Message + "\n", "text/plain", statusCode: 404);
            }
            catch (AlertChannelException ex)
            {
                return Results.Text($"channel {channel} failed: {ex.Message}\n", "text/plain", statusCode: 502);
            }
        }));

        app.MapGet("/alerts/ack", (HttpContext ctx) =>
        {
            var key = ctx.Request.Query["key"].ToString();
            var token = ctx.Request.Query["t"].ToString();
            if (manager() is not { } m || !m.CheckAckToken(key, token))
            {
                return Page(403, "Link not valid", "<p>This acknowledge link is not valid, or the alert is no longer firing.</p>");
            }

            var k = WebUtility.HtmlEncode(key);
            var t = WebUtility.HtmlEncode(token);
            return Page(200, "Acknowledge alert",
                $"<p>Acknowledge the alert <b>{k}</b>? Escalation and repeats stop; the resolution is still sent.</p>" +
                $"<form method=\"post\" action=\"/alerts/ack\"><input type=\"hidden\" name=\"key\" value=\"{k}\">" +
                $"<input type=\"hidden\" name=\"t\" value=\"{t}\"><button type=\"submit\">Acknowledge</button></form>");
        });

        app.MapPost("/alerts/ack", async (HttpContext ctx) =>
        {
            string key = "", token = "";
            if (ctx.Request.HasFormContentType)
            {
                var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted);
                key = form["key"].ToString();
                token = form["t"].ToString();
            }

            if (key.Length == 0)
            {
                key = ctx.Request.Query["key"].ToString();
                token = ctx.Request.Query["t"].ToString();
            }

            if (manager() is not { } m || !m.CheckAckToken(key, token))
            {
                return Page(403, "Link not valid", "<p>This acknowledge link is not valid, or the alert is no longer firing.</p>");
            }

            await m.AcknowledgeAsync(key, "link", ctx.RequestAborted);
            return Page(200, "Alert acknowledged", $"<p>The alert <b>{WebUtility.HtmlEncode(key)}</b> is acknowledged.</p>");
        });
    }

    private static IResult NotConfigured() =>
        Results.Text("alerting is not configured on this server (monitoring.alerting needs enabled and at least one channel)\n", "text/plain", statusCode: 404);

    private static IResult Page(int status, string title, string body) =>
        Results.Text(
            $"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><meta name=\"robots\" content=\"noindex\"><title>{title}</title></head>" +
            $"<body style=\"font-family:sans-serif;max-width:40em;margin:2em auto\"><h1>{title}</h1>{body}</body></html>",
            "text/html; charset=utf-8", statusCode: status);

    private static async Task<JsonNode?> ReadJsonAsync(HttpContext ctx)
    {
        try
        {
            return await JsonNode.ParseAsync(ctx.Request.Body, cancellationToken: ctx.RequestAborted);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    private static JsonObject ListJson(AlertManager m) => new()
    {
        ["channels"] = new JsonArray([.. m.ChannelNames.Select(n => (JsonNode?)JsonValue.Create(n))]),
        ["alerts"] = new JsonArray([.. m.Alerts.Select(a => (JsonNode?)AlertJson(a))]),
        ["silences"] = Silences(m),
    };

    private static JsonArray Silences(AlertManager m) => new([.. m.Silences.Select(s => (JsonNode?)SilenceJson(s))]);

    private static JsonObject AlertJson(AlertView a) => new()
    {
        ["key"] = a.Key,
        ["status"] = a.Status,
        ["state"] = a.State.ToString(),
        ["detail"] = a.Detail,
        ["startsAt"] = AlertFormat.Iso(a.StartsAt),
        ["endsAt"] = a.EndsAt is { } e ? AlertFormat.Iso(e) : null,
        ["ackedBy"] = a.AckedBy,
        ["ackedAt"] = a.AckedAt is { } k ? AlertFormat.Iso(k) : null,
        ["silenced"] = a.Silenced,
        ["tiersNotified"] = new JsonArray([.. a.TiersNotified.Select(t => (JsonNode?)JsonValue.Create(t))]),
    };

    private static JsonObject SilenceJson(AlertSilence s) => new()
    {
        ["id"] = s.Id,
        ["matcher"] = s.Matcher,
        ["createdAt"] = AlertFormat.Iso(s.CreatedAt),
        ["expiresAt"] = AlertFormat.Iso(s.ExpiresAt),
        ["comment"] = s.Comment,
        ["createdBy"] = s.CreatedBy,
        ["expiresIn"] = (s.ExpiresAt - DateTimeOffset.UtcNow).TotalSeconds.ToString("0", CultureInfo.InvariantCulture),
    };
}
