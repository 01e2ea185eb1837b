using System.Text.RegularExpressions;
using Rempart.Monitoring.Health;
using Rempart.Monitoring.Reporting;
using Rempart.Store;

namespace Rempart.Monitoring.Tests.Reporting;

public sealed partial class ReportHtmlTests
{
    private const string Evil = "\"><script>alert(1)</script><img src=x onerror=alert(2)>'&";

    [Fact]
    public void Encode_neutralises_markup_quotes_and_control_characters()
    {
        var e = ReportHtml.Encode(Evil + "\u0000\u001b[31m\u007f");
        Assert.DoesNotContain("<", e, StringComparison.Ordinal);
        Assert.DoesNotContain(">", e, StringComparison.Ordinal);
        Assert.DoesNotContain("\"", e, StringComparison.Ordinal);
        Assert.DoesNotContain("'", e, StringComparison.Ordinal);
        Assert.DoesNotContain("\u0000", e, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b", e, StringComparison.Ordinal);
        Assert.Contains("&lt;script&gt;", e, StringComparison.Ordinal);
        Assert.Equal("", ReportHtml.Encode(null));
        Assert.Equal("plain text", ReportHtml.Encode("plain text"));
    }

    [Fact]
    public void Trace_results_encode_everything_that_came_from_mail()
    {
        var now = new DateTimeOffset(2026, 11, 28, 4, 0, 0, TimeSpan.Zero);
        var events = new[]
        {
            new TraceEvent(now, "Q" + Evil, TraceEventKind.Delivered, "a" + Evil + "@x.test", "b" + Evil + "@y.test", "id" + Evil, "127.0.0.1", "detail" + Evil, "subject" + Evil),
        };
        var html = ReportHtml.TracePage("admin" + Evil, "csrf", "q" + Evil, events, truncated: false);
        Assert.DoesNotContain("<script>alert", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<img", html, StringComparison.Ordinal);
        Assert.Contains("1 message(s), 1 event(s)", html, StringComparison.Ordinal);
        AssertNoInlineScriptOrStyle(html);
    }

    [Fact]
    public void Pages_carry_no_inline_script_or_style_and_encode_health_details()
    {
        var now = DateTimeOffset.UtcNow;
        var health = new HealthReport("mx1", now,
        [
            new MonitorStatus("store", "blobs", HealthState.Unhealthy, "bad blob " + Evil, now, now),
            new MonitorStatus("service", "smtp", HealthState.Healthy, "ok", now, now),
        ]);
        var top = new TopTalkersReport(now, TimeSpan.FromHours(1), [new TopEntry(Evil + "@x.test", 3)], [], false);
        var page = ReportHtml.ReportPage("mx1" + Evil, "admin@x.test", "tok", health, top);
        AssertNoInlineScriptOrStyle(page);
        Assert.Contains("<script src=\"/report/report.js\" defer></script>", page, StringComparison.Ordinal);
        Assert.Contains("state-Unhealthy", page, StringComparison.Ordinal);
        Assert.Contains("state-Healthy", page, StringComparison.Ordinal);
        Assert.DoesNotContain("<img", page, StringComparison.Ordinal);
        Assert.Contains("id=\"total-mailIn\"", page, StringComparison.Ordinal);

        Assert.Contains("health model not running", ReportHtml.HealthHtml(null), StringComparison.Ordinal);
        var login = ReportHtml.LoginPage("tok", "Wrong " + Evil, passwordRefusedHere: true, "https://mx1:8443/report/login", null);
        AssertNoInlineScriptOrStyle(login);
        Assert.Contains("not encrypted", login, StringComparison.Ordinal);
        Assert.DoesNotContain("<script", login, StringComparison.Ordinal);
    }

    [Fact]
    public void The_script_never_parses_server_data_as_html()
    {
        Assert.DoesNotContain("innerHTML", ReportAssets.Script, StringComparison.Ordinal);
        Assert.DoesNotContain("eval(", ReportAssets.Script, StringComparison.Ordinal);
        Assert.DoesNotContain("http://", ReportAssets.Script.Replace("http://www.w3.org/2000/svg", "", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.DoesNotContain("url(", ReportAssets.Style, StringComparison.Ordinal);
    }

    private static void AssertNoInlineScriptOrStyle(string html)
    {
        Assert.DoesNotMatch(InlineScript(), html);
        Assert.DoesNotMatch(StyleAttribute(), html);
        Assert.DoesNotContain("<style", html, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotMatch(EventHandler(), html);
    }

    [GeneratedRegex("<script(?![^>]*\\bsrc=)", RegexOptions.IgnoreCase)]
    private static partial Regex InlineScript();

    [GeneratedRegex("\\sstyle=", RegexOptions.IgnoreCase)]
    private static partial Regex StyleAttribute();

    // An event-handler attribute of a real tag (quoted attribute values skipped: encoded text inside them is inert).
    [GeneratedRegex("<[a-z]+(?:\\s+[a-z-]+(?:=\"[^\"]*\")?)*\\s+on[a-z]+=", RegexOptions.IgnoreCase)]
    private static partial Regex EventHandler();
}
