using Rempart.Monitoring.Probes;

namespace Rempart.Monitoring.Tests.Probes;

public sealed class ProbeParsingTests
{
    [Theory]
    [InlineData("smtp://mx.example.com", "smtp", "mx.example.com", 25, ProbeTls.None, null, "/")]
    [InlineData("smtp://mx.example.com:2525", "smtp", "mx.example.com", 2525, ProbeTls.None, null, "/")]
    [InlineData("smtps://mx.example.com", "smtp", "mx.example.com", 465, ProbeTls.Implicit, null, "/")]
    [InlineData("submission://probe@example.com@mail.example.com", "smtp", "mail.example.com", 587, ProbeTls.StartTls, "probe@example.com", "/")]
    [InlineData("smtp+starttls://[::1]:2525", "smtp", "::1", 2525, ProbeTls.StartTls, null, "/")]
    [InlineData("imap://127.0.0.1:1143", "imap", "127.0.0.1", 1143, ProbeTls.None, null, "/")]
    [InlineData("imaps://probe%40example.com@mail.example.com", "imap", "mail.example.com", 993, ProbeTls.Implicit, "probe@example.com", "/")]
    [InlineData("IMAP+STARTTLS://u@h", "imap", "h", 143, ProbeTls.StartTls, "u", "/")]
    [InlineData("pop3://h", "pop3", "h", 110, ProbeTls.None, null, "/")]
    [InlineData("pop3s://u@h:1995", "pop3", "h", 1995, ProbeTls.Implicit, "u", "/")]
    [InlineData("http://h:8080/healthz", "http", "h", 8080, ProbeTls.None, null, "/healthz")]
    [InlineData("https://owa.example.com/owa/?x=1", "http", "owa.example.com", 443, ProbeTls.Implicit, null, "/owa/?x=1")]
    public void Probe_urls_give_protocol_host_port_tls_user_and_path(string url, string protocol, string host, int port, ProbeTls tls, string? user, string path)
    {
        Assert.True(ProbeUri.TryParse(url, startTls: false, out var target, out var error), error);
        Assert.Equal(protocol, target!.Protocol);
        Assert.Equal(host, target.Host);
        Assert.Equal(port, target.Port);
        Assert.Equal(tls, target.Tls);
        Assert.Equal(user, target.User);
        Assert.Equal(path, target.Path);
        Assert.Null(target.Password);
    }

    [Fact]
    public void Starttls_flag_applies_to_plain_mail_protocols_only()
    {
        Assert.True(ProbeUri.TryParse("imap://h", startTls: true, out var imap, out _));
        Assert.Equal(ProbeTls.StartTls, imap!.Tls);
        Assert.True(ProbeUri.TryParse("imaps://h", startTls: true, out var imaps, out _));
        Assert.Equal(ProbeTls.Implicit, imaps!.Tls);
        Assert.True(ProbeUri.TryParse("http://h", startTls: true, out var http, out _));
        Assert.Equal(ProbeTls.None, http!.Tls);
    }

    [Theory]
    [InlineData("mx.example.com", "not a probe URL")]
    [InlineData("ftp://h", "unknown scheme")]
    [InlineData("imap://user:secret@h", "password in the URL")]
    [InlineData("imap://h:0", "port")]
    [InlineData("imap://h:99999", "port")]
    [InlineData("imap://h:abc", "port")]
    [InlineData("imap://", "host")]
    [InlineData("imap://@h", "empty user")]
    [InlineData("imap://[::1", "']'")]
    [InlineData("imap://h/INBOX", "path only applies")]
    [InlineData("https+starttls://h", "+starttls only applies")]
    public void Bad_probe_urls_are_refused_with_a_reason(string url, string reason)
    {
        Assert.False(ProbeUri.TryParse(url, startTls: false, out var target, out var error));
        Assert.Null(target);
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_target_never_prints_its_password()
    {
        var target = new ProbeTarget("imap", "h", 993, ProbeTls.Implicit, "u", "hunter2-secret");
        Assert.DoesNotContain("hunter2", target.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", ProtocolProbe.Describe(target), StringComparison.Ordinal);
        Assert.Equal("imaps://u@h:993", ProtocolProbe.Describe(target));
    }

    [Theory]
    [InlineData("250 OK", 250, false, "OK")]
    [InlineData("250-PIPELINING", 250, true, "PIPELINING")]
    [InlineData("220", 220, false, "")]
    [InlineData("554 5.7.1 no", 554, false, "5.7.1 no")]
    public void Smtp_reply_lines_parse(string line, int code, bool more, string text)
    {
        var parsed = SmtpProbeDialog.ParseReplyLine(line);
        Assert.NotNull(parsed);
        Assert.Equal((code, more, text), parsed.Value);
    }

    [Theory]
    [InlineData("")]
    [InlineData("25")]
    [InlineData("2x0 OK")]
    [InlineData("250_OK")]
    [InlineData("* OK IMAP")]
    public void Malformed_smtp_reply_lines_are_refused(string line) => Assert.Null(SmtpProbeDialog.ParseReplyLine(line));

    [Fact]
    public void Imap_search_results_and_internal_dates_parse()
    {
        Assert.Equal([3u, 17u], ImapProbeDialog.ParseSearch(["* SEARCH 3 17", "* 4 EXISTS"]));
        Assert.Empty(ImapProbeDialog.ParseSearch(["* SEARCH"]));
        var dates = MailFlowProbe.ParseInternalDates(
        [
            "* 5 FETCH (UID 17 INTERNALDATE \"28-Nov-2026 04:01:02 +0000\")",
            "* 6 FETCH (INTERNALDATE \" 1-Dec-2026 10:00:00 +0100\" UID 18)",
            "* 7 FETCH (UID 19)",
        ]).ToList();
        Assert.Equal(2, dates.Count);
        Assert.Equal((17u, new DateTimeOffset(2026, 11, 28, 4, 1, 2, TimeSpan.Zero)), dates[0]);
        Assert.Equal((18u, new DateTimeOffset(2026, 12, 1, 10, 0, 0, TimeSpan.FromHours(1))), dates[1]);
    }

    [Fact]
    public void Imap_quoting_escapes_quotes_and_backslashes() =>
        Assert.Equal("\"a\\\"b\\\\c\"", ImapProbeDialog.Quote("a\"b\\c"));

    [Theory]
    [InlineData("HTTP/1.1 200 OK", 200)]
    [InlineData("HTTP/1.0 302 Found", 302)]
    [InlineData("HTTP/2 503", 503)]
    public void Http_status_lines_parse(string line, int status) => Assert.Equal(status, ProtocolProbe.ParseHttpStatus(line));

    [Theory]
    [InlineData("SSH-2.0-OpenSSH")]
    [InlineData("HTTP/1.1 20 OK")]
    [InlineData("HTTP/1.1")]
    public void Non_http_replies_are_not_statuses(string line) => Assert.Null(ProtocolProbe.ParseHttpStatus(line));

    [Fact]
    public void The_probe_message_carries_the_tag_in_a_header_and_the_subject()
    {
        var target = new MailFlowTarget(
            new ProbeTarget("smtp", "h", 587, ProbeTls.StartTls, "a@x.test"),
            new ProbeTarget("imap", "h", 993, ProbeTls.Implicit, "b@x.test"),
            "a@x.test",
            "b@x.test");
        var message = MailFlowProbe.BuildMessage(target, "rempart-probe-1-abc", new DateTimeOffset(2026, 11, 28, 4, 0, 0, TimeSpan.Zero));
        Assert.Contains("\r\nX-Rempart-Probe: rempart-probe-1-abc\r\n", message, StringComparison.Ordinal);
        Assert.Contains("Subject: Rempart mail-flow probe rempart-probe-1-abc\r\n", message, StringComparison.Ordinal);
        Assert.Contains("Date: Sat, 28 Nov 2026 04:00:00 +0000\r\n", message, StringComparison.Ordinal);
        Assert.Contains("\r\n\r\n", message, StringComparison.Ordinal);
    }

    [Fact]
    public void Certificate_expiry_warns_under_30_days_and_fails_under_7()
    {
        var now = new DateTimeOffset(2026, 11, 28, 0, 0, 0, TimeSpan.Zero);
        ProbeOutcome With(double days) => new("t", true, TimeSpan.Zero, "ok",
            new CertificateInfo("CN=h", "CN=ca", now.AddDays(days), true, true, null), []);

        Assert.Equal(ProbeStatus.Ok, ProbeVerdict.Judge(With(90), now).Status);
        var warn = ProbeVerdict.Judge(With(20), now);
        Assert.Equal(ProbeStatus.Warn, warn.Status);
        Assert.Contains("expires in 20 days", warn.Detail, StringComparison.Ordinal);
        Assert.Equal(ProbeStatus.Fail, ProbeVerdict.Judge(With(3), now).Status);
        Assert.Contains("expired", ProbeVerdict.Judge(With(-1), now).Detail, StringComparison.Ordinal);
        Assert.Equal(ProbeStatus.Fail, ProbeVerdict.Judge(new ProbeOutcome("t", false, TimeSpan.Zero, "refused", null, []), now).Status);
    }
}
