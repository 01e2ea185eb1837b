using System.Globalization;
using System.Text;
using System.Text.Encodings.Web;
using Rempart.Monitoring.Health;
using Rempart.Store;

namespace Rempart.Monitoring.Reporting;

/// <summary>
/// The report's server-rendered HTML. Everything that did not come from this file (addresses, subjects, message ids,
/// monitor details: often straight from mail headers, i.e. from strangers) goes through <see cref="Encode"/>. The
/// pages carry no inline script or style, so a Content-Security-Policy of <c>script-src 'self'</c> holds.
/// </summary>
public static class ReportHtml
{
    /// <summary>HTML-encodes text for an element body or a quoted attribute; control characters become U+FFFD.</summary>
    public static string Encode(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return "";
        }

        var clean = text.AsSpan().ContainsAnyInRange('\0', '\x1f') || text.Contains('\x7f', StringComparison.Ordinal)
            ? string.Create(text.Length, text, static (span, t) =>
            {
                for (var i = 0; i < t.Length; i++)
                {
                    span[i] = char.IsControl(t[i]) && t[i] is not '\t' ? '\uFFFD' : t[i];
                }
            })
            : text;
        return HtmlEncoder.Default.Encode(clean);
    }

    /// <summary>The page around a body: stylesheet and (optionally) the report script, both from this server.</summary>
    public static string Layout(string title, string body, string? user = null, string? csrf = null, bool script = false)
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">")
          .Append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
          .Append("<meta name=\"referrer\" content=\"no-referrer\">")
          .Append("<title>").Append(Encode(title)).Append("</title>")
          .Append("<link rel=\"stylesheet\" href=\"/report/report.css\">");
        if (script)
        {
            sb.Append("<script src=\"/report/report.js\" defer></script>");
        }

        sb.Append("</head><body><header><h1><a href=\"/report\">Rempart report</a></h1>");
        if (user is not null && csrf is not null)
        {
            sb.Append("<nav><a href=\"/report\">Live</a> <a href=\"/report/trace\">Message trace</a> <span class=\"user\">")
              .Append(Encode(user))
              .Append("</span><form method=\"post\" action=\"/report/logout\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"")
              .Append(Encode(csrf))
              .Append("\"><button type=\"submit\">Log out</button></form></nav>");
        }

        sb.Append("</header><main>").Append(body).Append("</main></body></html>\n");
        return sb.ToString();
    }

    /// <summary>The login form. <paramref name="notice"/> explains a refusal; <paramref name="httpsUrl"/> is where to go
    /// when this request came over plain HTTP from elsewhere than loopback.</summary>
    public static string LoginPage(string csrf, string? notice, bool passwordRefusedHere, string? httpsUrl, string? returnTo)
    {
        var sb = new StringBuilder();
        sb.Append("<section class=\"login\"><h2>Administrator sign-in</h2>");
        if (notice is not null)
        {
            sb.Append("<p class=\"error\" id=\"login-error\">").Append(Encode(notice)).Append("</p>");
        }

        if (passwordRefusedHere)
        {
            sb.Append("<p class=\"error\" id=\"plain-http\">This connection is not encrypted, so the server will not accept a password over it. ");
            if (httpsUrl is not null)
            {
                sb.Append("Use <a href=\"").Append(Encode(httpsUrl)).Append("\">").Append(Encode(httpsUrl)).Append("</a>.");
            }
            else
            {
                sb.Append("Enable the HTTPS listener (listeners.https) and sign in there.");
            }

            sb.Append("</p>");
        }

        sb.Append("<form method=\"post\" action=\"/report/login\" id=\"login-form\">")
          .Append("<input type=\"hidden\" name=\"csrf\" value=\"").Append(Encode(csrf)).Append("\">")
          .Append("<input type=\"hidden\" name=\"returnTo\" value=\"").Append(Encode(returnTo ?? "/report")).Append("\">")
          .Append("<label>Address <input type=\"email\" name=\"username\" id=\"username\" autocomplete=\"username\" required maxlength=\"320\"></label>")
          .Append("<label>Password <input type=\"password\" name=\"password\" id=\"password\" autocomplete=\"current-password\" required maxlength=\"1024\"></label>")
          .Append("<button type=\"submit\" id=\"login-submit\">Sign in</button></form>")
          .Append("<p class=\"hint\">Administrator accounts only. Repeated failures ban the address as for IMAP and SMTP.</p></section>");
        return Layout("Sign in - Rempart", sb.ToString());
    }

    /// <summary>The live page: the script fills the charts, numbers and tables from /api/report/stats.</summary>
    public static string ReportPage(string server, string user, string csrf, HealthReport? health, TopTalkersReport top)
    {
        ArgumentNullException.ThrowIfNull(top);
        var sb = new StringBuilder();
        sb.Append("<p class=\"meta\">Server <strong>").Append(Encode(server)).Append("</strong> · updated <span id=\"updated\">never</span> <span id=\"status\"></span>")
          .Append(" · range <select id=\"range\"><option value=\"fine\">last hour (2 s)</option><option value=\"coarse\">last day (1 min)</option></select></p>");

        sb.Append("<section class=\"totals\" id=\"totals\">");
        foreach (var s in ReportSeries.All)
        {
            sb.Append("<div class=\"total\"><span class=\"num\" id=\"total-").Append(s.Name).Append("\">-</span><span class=\"lbl\">")
              .Append(Encode(s.Label)).Append(s.Kind == SeriesKind.Counter ? " (since start)" : " (now)").Append("</span></div>");
        }

        sb.Append("</section><section class=\"charts\">");
        Chart(sb, "chart-mail", "Mail in and out", "mailIn,mailOut,deliveredLocal");
        Chart(sb, "chart-protection", "Spam and malware blocked", "spam,malware,otherDetections,rejected");
        Chart(sb, "chart-auth", "Auth failures and bans", "authFailures,bans");
        Chart(sb, "chart-queue", "Queue depth and connections", "queueDepth,connections");
        sb.Append("</section>");

        sb.Append("<section class=\"tables\"><div><h2>Top senders <small id=\"top-window\">(last ").Append(Encode(Duration(top.Window))).Append(")</small></h2>");
        TopTable(sb, "top-senders", top.Senders);
        sb.Append("</div><div><h2>Top recipients</h2>");
        TopTable(sb, "top-recipients", top.Recipients);
        sb.Append("</div></section>");

        sb.Append("<section><h2>Health sets</h2><div id=\"health\">").Append(HealthHtml(health)).Append("</div></section>");
        sb.Append("<section><h2>Message trace</h2>").Append(TraceForm(null)).Append("</section>");
        return Layout("Rempart report - " + server, sb.ToString(), user, csrf, script: true);
    }

    private static void Chart(StringBuilder sb, string id, string title, string series) =>
        sb.Append("<figure class=\"chart\" id=\"").Append(id).Append("\" data-series=\"").Append(series).Append("\"><figcaption>")
          .Append(Encode(title)).Append("</figcaption><div class=\"plot\"></div><div class=\"legend\"></div></figure>");

    private static void TopTable(StringBuilder sb, string id, IReadOnlyList<TopEntry> rows)
    {
        sb.Append("<table class=\"top\"><thead><tr><th>Address</th><th>Messages</th></tr></thead><tbody id=\"").Append(id).Append("\">");
        if (rows.Count == 0)
        {
            sb.Append("<tr><td colspan=\"2\" class=\"empty\">no mail in the window</td></tr>");
        }

        foreach (var r in rows)
        {
            sb.Append("<tr><td>").Append(Encode(r.Address)).Append("</td><td class=\"n\">").Append(r.Messages.ToString(CultureInfo.InvariantCulture)).Append("</td></tr>");
        }

        sb.Append("</tbody></table>");
    }

    /// <summary>The health sets with each monitor, coloured by state (the script replaces it on every poll).</summary>
    public static string HealthHtml(HealthReport? health)
    {
        if (health is null)
        {
            return "<p class=\"state-Unknown\" id=\"health-missing\">health model not running</p>";
        }

        var sb = new StringBuilder();
        sb.Append("<p>Overall <span class=\"badge state-").Append(health.Overall).Append("\">").Append(health.Overall).Append("</span></p>");
        sb.Append("<table class=\"health\"><thead><tr><th>Set</th><th>Monitor</th><th>State</th><th>Since</th><th>Detail</th></tr></thead><tbody>");
        foreach (var (set, _) in health.Sets)
        {
            foreach (var m in health.Monitors.Where(m => m.HealthSet == set))
            {
                sb.Append("<tr class=\"state-").Append(m.State).Append("\"><td>").Append(Encode(m.HealthSet)).Append("</td><td>").Append(Encode(m.Monitor))
                  .Append("</td><td>").Append(m.State).Append("</td><td>").Append(Encode(m.Since.ToString("u", CultureInfo.InvariantCulture)))
                  .Append("</td><td>").Append(Encode(m.Detail)).Append("</td></tr>");
            }
        }

        sb.Append("</tbody></table>");
        return sb.ToString();
    }

    private static string TraceForm(string? q) =>
        "<form method=\"get\" action=\"/report/trace\" id=\"trace-form\"><label>Sender, recipient, Message-ID or queue id " +
        "<input type=\"search\" name=\"q\" id=\"trace-q\" maxlength=\"998\" value=\"" + Encode(q) + "\"></label>" +
        "<button type=\"submit\" id=\"trace-submit\">Search</button></form>";

    /// <summary>Trace search results, one block per message (trace id), newest message first.</summary>
    public static string TracePage(string user, string csrf, string? q, IReadOnlyList<TraceEvent>? events, bool truncated)
    {
        var sb = new StringBuilder();
        sb.Append("<section><h2>Message trace</h2>").Append(TraceForm(q));
        if (events is null)
        {
            sb.Append("<p class=\"hint\">A whole address matches exactly, part of one (a domain) anywhere; Message-ID with or without angle brackets.</p>");
        }
        else if (events.Count == 0)
        {
            sb.Append("<p class=\"empty\" id=\"trace-none\">No trace events match ").Append(Encode(q)).Append(".</p>");
        }
        else
        {
            var groups = events.GroupBy(e => e.TraceId, StringComparer.Ordinal).OrderByDescending(g => g.Max(e => e.Time)).ToList();
            sb.Append("<p id=\"trace-count\">").Append(groups.Count.ToString(CultureInfo.InvariantCulture)).Append(" message(s), ")
              .Append(events.Count.ToString(CultureInfo.InvariantCulture)).Append(" event(s)").Append(truncated ? " (more exist: narrow the search)" : "").Append(".</p>");
            foreach (var g in groups)
            {
                var head = g.First();
                var subject = g.Select(e => e.Subject).FirstOrDefault(s => !string.IsNullOrEmpty(s));
                var messageId = g.Select(e => e.MessageId).FirstOrDefault(m => !string.IsNullOrEmpty(m));
                sb.Append("<article class=\"trace\"><h3>Trace <code class=\"trace-id\">").Append(Encode(g.Key)).Append("</code> from <code>")
                  .Append(Encode(head.Sender.Length == 0 ? "<>" : head.Sender)).Append("</code></h3><p>");
                if (subject is not null)
                {
                    sb.Append("Subject: <span class=\"subject\">").Append(Encode(subject)).Append("</span> ");
                }

                if (messageId is not null)
                {
                    sb.Append("Message-ID: <code class=\"message-id\">&lt;").Append(Encode(messageId)).Append("&gt;</code>");
                }

                sb.Append("</p><table class=\"events\"><thead><tr><th>Time (UTC)</th><th>Event</th><th>Recipient</th><th>Remote IP</th><th>Detail</th></tr></thead><tbody>");
                foreach (var e in g.OrderBy(e => e.Time))
                {
                    sb.Append("<tr class=\"kind-").Append(e.Kind).Append("\"><td>").Append(Encode(e.Time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture)))
                      .Append("</td><td>").Append(e.Kind).Append("</td><td>").Append(Encode(e.Recipient ?? "-")).Append("</td><td>").Append(Encode(e.RemoteIp ?? "-"))
                      .Append("</td><td>").Append(Encode(e.Detail)).Append("</td></tr>");
                }

                sb.Append("</tbody></table></article>");
            }
        }

        sb.Append("</section>");
        return Layout("Message trace - Rempart", sb.ToString(), user, csrf);
    }

    internal static string Duration(TimeSpan t) =>
        t.TotalDays >= 1 && t.TotalDays == Math.Floor(t.TotalDays) ? t.TotalDays.ToString(CultureInfo.InvariantCulture) + " d"
        : t.TotalHours >= 1 && t.TotalHours == Math.Floor(t.TotalHours) ? t.TotalHours.ToString(CultureInfo.InvariantCulture) + " h"
        : t.TotalMinutes.ToString("0.#", CultureInfo.InvariantCulture) + " min";
}
