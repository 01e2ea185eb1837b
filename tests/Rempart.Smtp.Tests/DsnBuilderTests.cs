using System.Text;
using MimeKit;
using Rempart.Smtp.Dsn;

namespace Rempart.Smtp.Tests;

public class DsnBuilderTests
{
    private const string Original = "From: alice@sender.test\r\nTo: bob@dest.test\r\nSubject: quarterly numbers\r\nMessage-Id: <orig-1@sender.test>\r\n\r\nBODY-MARKER line one\r\n";

    private static readonly DateTimeOffset Arrival = new(2026, 11, 27, 10, 0, 0, TimeSpan.Zero);

    private static DsnReport Report(DsnAction action, string? ret = null, string? envid = "ENV-42") => new(
        "alice@sender.test", "mx.rempart.test", Arrival, Arrival.AddHours(1), envid, ret,
        [
            new DsnRecipient("bob@dest.test", "rfc822;Bob@Dest.test", action, action == DsnAction.Failed ? "5.1.1" : "4.4.1",
                "550 5.1.1 no such user", DiagnosticIsSmtp: true, RemoteMta: "mx.dest.test", LastAttempt: Arrival.AddHours(1),
                WillRetryUntil: action == DsnAction.Delayed ? Arrival.AddDays(5) : null),
            new DsnRecipient("carol@dest.test", null, action, action == DsnAction.Failed ? "5.7.1" : "4.4.1", "policy", DiagnosticIsSmtp: false),
        ]);

    private static MimeMessage RoundTrip(DsnReport report)
    {
        var bytes = DsnBuilder.BuildBytes(report, new MemoryStream(Encoding.ASCII.GetBytes(Original)), Original.Length);
        return MimeMessage.Load(new MemoryStream(bytes));
    }

    [Fact]
    public void A_failure_dsn_is_a_multipart_report_with_text_status_and_the_whole_message()
    {
        using var dsn = RoundTrip(Report(DsnAction.Failed));

        Assert.Equal("MAILER-DAEMON@mx.rempart.test", dsn.From.Mailboxes.Single().Address);
        Assert.Equal("alice@sender.test", dsn.To.Mailboxes.Single().Address);
        Assert.Equal("auto-replied", dsn.Headers["Auto-Submitted"]);
        var report = Assert.IsType<MultipartReport>(dsn.Body!);
        Assert.Equal("delivery-status", report.ReportType);
        Assert.Equal(3, report.Count);
        Assert.IsType<TextPart>(report[0]);
        Assert.Contains("bob@dest.test", ((TextPart)report[0]).Text);
        Assert.IsType<MessageDeliveryStatus>(report[1]);
        var returned = Assert.IsType<MessagePart>(report[2]);
        Assert.Equal("quarterly numbers", returned.Message!.Subject);
        Assert.Contains("BODY-MARKER", returned.Message!.TextBody);
    }

    [Fact]
    public void Delivery_status_has_per_message_and_per_recipient_fields()
    {
        using var dsn = RoundTrip(Report(DsnAction.Failed));
        var status = (MessageDeliveryStatus)((MultipartReport)dsn.Body!)[1]!;

        Assert.Equal(3, status.StatusGroups.Count);
        var perMessage = status.StatusGroups[0];
        Assert.Equal("dns; mx.rempart.test", perMessage["Reporting-MTA"]);
        Assert.Equal("ENV-42", perMessage["Original-Envelope-Id"]);
        Assert.NotNull(perMessage["Arrival-Date"]);

        var bob = status.StatusGroups[1];
        Assert.Equal("rfc822;Bob@Dest.test", bob["Original-Recipient"]);
        Assert.Equal("rfc822;bob@dest.test", bob["Final-Recipient"]);
        Assert.Equal("failed", bob["Action"]);
        Assert.Equal("5.1.1", bob["Status"]);
        Assert.Equal("dns; mx.dest.test", bob["Remote-MTA"]);
        Assert.Equal("smtp; 550 5.1.1 no such user", bob["Diagnostic-Code"]);

        var carol = status.StatusGroups[2];
        Assert.Null(carol["Original-Recipient"]);
        Assert.Equal("5.7.1", carol["Status"]);
        Assert.Null(carol["Remote-MTA"]);
        Assert.StartsWith("X-Rempart;", carol["Diagnostic-Code"], StringComparison.Ordinal);
    }

    [Fact]
    public void Ret_hdrs_returns_only_the_headers()
    {
        using var dsn = RoundTrip(Report(DsnAction.Failed, ret: "HDRS"));
        var part = ((MultipartReport)dsn.Body!)[2];

        Assert.Equal("text/rfc822-headers", part.ContentType.MimeType);
        using var content = new MemoryStream();
        part.WriteTo(content);
        var text = Encoding.UTF8.GetString(content.ToArray());
        Assert.Contains("Subject: quarterly numbers", text);
        Assert.DoesNotContain("BODY-MARKER", text);
    }

    [Fact]
    public void Delay_reports_return_headers_by_default_and_carry_will_retry_until()
    {
        using var dsn = RoundTrip(Report(DsnAction.Delayed));
        var report = (MultipartReport)dsn.Body!;
        var status = (MessageDeliveryStatus)report[1]!;

        Assert.Equal("delayed", status.StatusGroups[1]["Action"]);
        Assert.NotNull(status.StatusGroups[1]["Will-Retry-Until"]);
        Assert.Equal("text/rfc822-headers", report[2].ContentType.MimeType);
        Assert.Contains("Delayed", dsn.Subject);
    }

    [Fact]
    public void Ret_full_returns_the_message_even_for_success_reports()
    {
        using var dsn = RoundTrip(Report(DsnAction.Delivered, ret: "FULL", envid: null));
        var report = (MultipartReport)dsn.Body!;

        Assert.IsType<MessagePart>(report[2]);
        Assert.Null(((MessageDeliveryStatus)report[1]!).StatusGroups[0]["Original-Envelope-Id"]);
        Assert.Equal("delivered", ((MessageDeliveryStatus)report[1]!).StatusGroups[1]["Action"]);
    }

    [Fact]
    public void A_report_without_recipients_is_refused()
    {
        var empty = Report(DsnAction.Failed) with { Recipients = [] };

        Assert.Throws<ArgumentException>(() => DsnBuilder.Build(empty, null, 0));
    }
}
