using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Rempart.Common.Configuration;
using Rempart.Monitoring.Reporting;
using Rempart.Store.Auth;
using Rempart.Telemetry;

namespace Rempart.Server.Http;

/// <summary>
/// The report page's routes (docs/monitoring/report.md): /report (live charts), /report/login and /report/logout,
/// /report/trace (message trace search), the page's own script and stylesheet, and /api/report/stats (admin API).
/// </summary>
internal static partial class ReportEndpoints
{
    /// <summary>The session cookie: sent to /report and /api (an admin session also opens the admin API).</summary>
    public const string SessionCookie = "rempart_session";

    /// <summary>The login form's CSRF token (double-submit: this cookie must equal the form's hidden field).</summary>
    public const string LoginCsrfCookie = "rempart_login_csrf";

    /// <summary>No inline script or style anywhere, nothing from another origin, not framed.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static void Map(IEndpointRouteBuilder app, ReportService report, AuthService auth, AdminApi admin, ListenersOptions listeners, ILogger log)
    {
        admin.SessionValidator = ctx => SessionOf(report, ctx)?.Address;

        app.MapGet("/report/report.js", (HttpContext ctx) => Asset(ctx, ReportAssets.Script, "text/javascript; charset=utf-8"));
        app.MapGet("/report/report.css", (HttpContext ctx) => Asset(ctx, ReportAssets.Style, "text/css; charset=utf-8"));

        app.MapGet("/report", (HttpContext ctx) =>
        {
            if (SessionOf(report, ctx) is not { } s)
            {
                return ToLogin(ctx, "/report");
            }

            return Page(ctx, ReportHtml.ReportPage(report.Server, s.Address, s.CsrfToken, report.Health, report.Top));
        });

        app.MapGet("/report/login", (HttpContext ctx, string? returnTo) =>
        {
            if (SessionOf(report, ctx) is not null)
            {
                return Redirect(ctx, SafeReturn(returnTo));
            }

            return LoginForm(ctx, report, listeners, null, StatusCodes.Status200OK, returnTo);
        });

        app.MapPost("/report/login", async (HttpContext ctx) =>
        {
            if (!ctx.Request.HasFormContentType)
            {
                return Page(ctx, "expected a form\n", StatusCodes.Status415UnsupportedMediaType);
            }

            var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted);
            var returnTo = SafeReturn(form["returnTo"]);
            if (!ReportSessions.TokensEqual(ctx.Request.Cookies[LoginCsrfCookie], form["csrf"]))
            {
                return LoginForm(ctx, report, listeners, "The form expired; please sign in again.", StatusCodes.Status403Forbidden, returnTo);
            }

            var remote = Remote(ctx);
            if (PasswordRefusedHere(ctx, report.Options))
            {
                LogRefusedPlainHttp(log, remote);
                return LoginForm(ctx, report, listeners, "Sign-in refused: a password is only accepted over HTTPS from another machine.", StatusCodes.Status403Forbidden, returnTo);
            }

            var user = form["username"].ToString();
            var password = form["password"].ToString();
            if (user.Length is 0 or > 320 || password.Length is 0 or > 1024)
            {
                return LoginForm(ctx, report, listeners, "Enter an administrator's address and password.", StatusCodes.Status400BadRequest, returnTo);
            }

            // The same service (and the same failure counting and bans) as IMAP, POP3 and SMTP AUTH.
            var result = await auth.AuthenticateAsync(user, password, remote, "http", ctx.RequestAborted);
            switch (result.Outcome)
            {
                case AuthOutcome.Success when result.Account is { IsAdmin: true } account:
                    var session = report.Sessions.Create(account.Address);
                    ctx.Response.Cookies.Append(SessionCookie, session.Id, CookieFor(ctx, "/", report.Options.SessionLifetime));
                    ctx.Response.Cookies.Delete(LoginCsrfCookie, CookieFor(ctx, "/report", null));
                    LogLoginSucceeded(log, account.Address, remote);
                    return Redirect(ctx, returnTo);
                case AuthOutcome.Success:
                    LogLoginFailed(log, user, remote, "not an administrator");
                    return LoginForm(ctx, report, listeners, "This account is not an administrator.", StatusCodes.Status403Forbidden, returnTo);
                case AuthOutcome.Throttled:
                    LogLoginFailed(log, user, remote, "throttled");
                    return LoginForm(ctx, report, listeners, "Too many failed sign-ins from this address; try again later.", StatusCodes.Status429TooManyRequests, returnTo);
                default:
                    LogLoginFailed(log, user, remote, "bad credentials");
                    return LoginForm(ctx, report, listeners, "Wrong address or password.", StatusCodes.Status401Unauthorized, returnTo);
            }
        });

        app.MapPost("/report/logout", async (HttpContext ctx) =>
        {
            var s = SessionOf(report, ctx);
            if (s is not null && ctx.Request.HasFormContentType)
            {
                var form = await ctx.Request.ReadFormAsync(ctx.RequestAborted);
                if (!ReportSessions.CheckCsrf(s, form["csrf"]))
                {
                    return Page(ctx, "bad or missing CSRF token\n", StatusCodes.Status403Forbidden);
                }

                report.Sessions.Remove(s.Id);
            }

            ctx.Response.Cookies.Delete(SessionCookie, CookieFor(ctx, "/", null));
            return Redirect(ctx, "/report/login");
        });

        app.MapGet("/report/trace", async (HttpContext ctx, string? q) =>
        {
            if (SessionOf(report, ctx) is not { } s)
            {
                return ToLogin(ctx, "/report/trace");
            }

            if (string.IsNullOrWhiteSpace(q))
            {
                return Page(ctx, ReportHtml.TracePage(s.Address, s.CsrfToken, null, null, false));
            }

            if (q.Length > 998)
            {
                return Page(ctx, ReportHtml.TracePage(s.Address, s.CsrfToken, q[..998], [], false), StatusCodes.Status400BadRequest);
            }

            var (events, truncated) = await report.SearchTraceAsync(q, ctx.RequestAborted);
            return Page(ctx, ReportHtml.TracePage(s.Address, s.CsrfToken, q, events, truncated));
        });

        admin.Require(app.MapGet("/api/report/stats", (HttpContext ctx, string? range, int? points) =>
        {
            Harden(ctx);
            var coarse = string.Equals(range, "coarse", StringComparison.Ordinal);
            return Results.Json(report.Stats(points ?? 450, coarse), Json);
        }));
    }

    private static ReportSession? SessionOf(ReportService report, HttpContext ctx) =>
        report.Sessions.Get(ctx.Request.Cookies[SessionCookie]);

    private static IPAddress Remote(HttpContext ctx) => ctx.Connection.RemoteIpAddress ?? IPAddress.None;

    /// <summary>True when this request may not carry a password: plain HTTP from elsewhere than loopback.</summary>
    internal static bool PasswordRefusedHere(HttpContext ctx, ReportOptions options) =>
        !ReportLoginPolicy.PasswordAllowed(ctx.Request.IsHttps, ctx.Connection.RemoteIpAddress, options);

    private static IResult LoginForm(HttpContext ctx, ReportService report, ListenersOptions listeners, string? notice, int status, string? returnTo)
    {
        var csrf = ReportSessions.NewToken();
        ctx.Response.Cookies.Append(LoginCsrfCookie, csrf, CookieFor(ctx, "/report", TimeSpan.FromHours(1)));
        var refused = PasswordRefusedHere(ctx, report.Options);
        string? httpsUrl = null;
        if (refused && listeners.Https.Enabled)
        {
            var host = ctx.Request.Host.Host;
            httpsUrl = new UriBuilder(Uri.UriSchemeHttps, host, listeners.Https.Port, "/report/login").Uri.ToString();
        }

        return Page(ctx, ReportHtml.LoginPage(csrf, notice, refused, httpsUrl, SafeReturn(returnTo)), status);
    }

    /// <summary>Only this site's report pages: never an absolute or protocol-relative URL (open redirect).</summary>
    internal static string SafeReturn(string? returnTo) =>
        returnTo is { Length: > 0 and < 200 } r && r.StartsWith("/report", StringComparison.Ordinal) &&
        !r.Contains("//", StringComparison.Ordinal) && !r.Contains('\\', StringComparison.Ordinal) &&
        !r.StartsWith("/report/login", StringComparison.Ordinal) && !r.StartsWith("/report/logout", StringComparison.Ordinal)
            ? r
            : "/report";

    private static CookieOptions CookieFor(HttpContext ctx, string path, TimeSpan? maxAge) => new()
    {
        HttpOnly = true,
        Secure = ctx.Request.IsHttps,
        SameSite = SameSiteMode.Strict,
        Path = path,
        MaxAge = maxAge,
        IsEssential = true,
    };

    private static void Harden(HttpContext ctx)
    {
        var h = ctx.Response.Headers;
        h.ContentSecurityPolicy = ContentSecurityPolicy;
        h.XContentTypeOptions = "nosniff";
        h.XFrameOptions = "DENY";
        h["Referrer-Policy"] = "no-referrer";
        h.CacheControl = "no-store";
    }

    private static IResult Page(HttpContext ctx, string html, int status = StatusCodes.Status200OK)
    {
        Harden(ctx);
        return Results.Content(html, html.StartsWith('<') ? "text/html; charset=utf-8" : "text/plain; charset=utf-8", System.Text.Encoding.UTF8, status);
    }

    private static IResult Asset(HttpContext ctx, string body, string type)
    {
        Harden(ctx);
        ctx.Response.Headers.CacheControl = "no-cache";
        return Results.Content(body, type, System.Text.Encoding.UTF8);
    }

    private static IResult Redirect(HttpContext ctx, string to)
    {
        Harden(ctx);
        ctx.Response.Headers.Location = to;
        return Results.StatusCode(StatusCodes.Status303SeeOther);
    }

    private static IResult ToLogin(HttpContext ctx, string returnTo) =>
        Redirect(ctx, "/report/login?returnTo=" + Uri.EscapeDataString(returnTo + ctx.Request.QueryString.Value));

    [LoggerMessage(EventId = (int)EventIds.ReportLoginSucceeded, Level = LogLevel.Information, Message = "Report page: {Address} signed in from {Remote}")]
    private static partial void LogLoginSucceeded(ILogger logger, string address, IPAddress remote);

    [LoggerMessage(EventId = (int)EventIds.ReportLoginFailed, Level = LogLevel.Warning, Message = "Report page: sign-in as {User} from {Remote} refused ({Reason})")]
    private static partial void LogLoginFailed(ILogger logger, string user, IPAddress remote, string reason);

    [LoggerMessage(EventId = (int)EventIds.ReportLoginRefusedPlainHttp, Level = LogLevel.Warning, Message = "Report page: password refused over plain HTTP from {Remote}; sign in over HTTPS (listeners.https)")]
    private static partial void LogRefusedPlainHttp(ILogger logger, IPAddress remote);
}
