using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Prometheus;
using Rempart.Common.Configuration;

namespace Rempart.Server.Http;

/// <summary>
/// The HTTP listener's routes: Prometheus metrics and client autoconfiguration. /livez, /healthz and /readyz are
/// <see cref="HealthEndpoints"/> (mapped by the monitoring runtime, driven by the health model).
/// </summary>
public static class HttpEndpoints
{
    /// <summary>Largest Autodiscover request body read (Outlook sends well under 1 KiB).</summary>
    public const int MaxAutodiscoverRequest = 16 * 1024;

    public static void Map(IEndpointRouteBuilder app, RempartOptions options)
    {
        app.MapGet("/metrics", async (HttpContext ctx) =>
        {
            ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await Metrics.DefaultRegistry.CollectAndExportAsTextAsync(ctx.Response.Body, ctx.RequestAborted);
        });

        IResult Thunderbird(string? emailaddress) =>
            string.IsNullOrWhiteSpace(emailaddress) || emailaddress.Length > 320 || !emailaddress.Contains('@', StringComparison.Ordinal)
                ? Results.BadRequest("emailaddress=user@domain is required\n")
                : Results.Text(Autoconfig.ThunderbirdXml(options, emailaddress), "application/xml", Encoding.UTF8);

        app.MapGet("/mail/config-v1.1.xml", (string? emailaddress) => Thunderbird(emailaddress));
        app.MapGet("/.well-known/autoconfig/mail/config-v1.1.xml", (string? emailaddress) => Thunderbird(emailaddress));

        async Task<IResult> Autodiscover(HttpContext ctx)
        {
            var buffer = new byte[MaxAutodiscoverRequest + 1];
            var total = 0;
            int n;
            while (total < buffer.Length && (n = await ctx.Request.Body.ReadAsync(buffer.AsMemory(total), ctx.RequestAborted)) > 0)
            {
                total += n;
            }

            var xml = total > MaxAutodiscoverRequest ? "" : Encoding.UTF8.GetString(buffer, 0, total);
            return Results.Text(Autoconfig.AutodiscoverXml(options, xml), "application/xml", Encoding.UTF8);
        }

        // Route matching is case-insensitive, so this also serves Outlook's /Autodiscover/Autodiscover.xml.
        app.MapPost("/autodiscover/autodiscover.xml", (Func<HttpContext, Task<IResult>>)Autodiscover);
    }
}
