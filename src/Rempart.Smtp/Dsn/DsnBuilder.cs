using System.Globalization;
using System.Text;
using MimeKit;
using MimeKit.Utils;

namespace Rempart.Smtp.Dsn;

/// <summary>RFC 3464 2.3.3 Action field values.</summary>
public enum DsnAction
{
    Failed,
    Delayed,
    Delivered,

    /// <summary>Handed to a host without DSN support: no further notification will come (RFC 3461 6.2.2.2).</summary>
    Relayed,
}

/// <summary>One recipient of a delivery status notification.</summary>
/// <param name="OriginalRecipient">The ORCPT value as received ("rfc822;user@example.com"), or null.</param>
/// <param name="Status">RFC 3463 enhanced status code, for example "5.1.1".</param>
/// <param name="Diagnostic">The remote reply ("550 5.1.1 user unknown") or a local explanation.</param>
/// <param name="DiagnosticIsSmtp">True when <paramref name="Diagnostic"/> is an SMTP reply (Diagnostic-Code: smtp).</param>
/// <param name="RemoteMta">The host that gave the reply, or null.</param>
public sealed record DsnRecipient(
    string FinalRecipient,
    string? OriginalRecipient,
    DsnAction Action,
    string Status,
    string? Diagnostic = null,
    bool DiagnosticIsSmtp = false,
    string? RemoteMta = null,
    DateTimeOffset? LastAttempt = null,
    DateTimeOffset? WillRetryUntil = null);

/// <summary>Everything one DSN reports.</summary>
/// <param name="To">The envelope sender of the original message, who receives the report.</param>
/// <param name="ReportingMta">Our host name (Reporting-MTA).</param>
/// <param name="Ret">RFC 3461 RET of the original transaction (FULL, HDRS or null).</param>
public sealed record DsnReport(
    string To,
    string ReportingMta,
    DateTimeOffset ArrivalDate,
    DateTimeOffset Date,
    string? EnvelopeId,
    string? Ret,
    IReadOnlyList<DsnRecipient> Recipients);

/// <summary>Builds RFC 3464 multipart/report; report-type=delivery-status messages.</summary>
public static class DsnBuilder
{
    /// <summary>Largest original returned whole; bigger ones are returned as headers only (RFC 3461 4.3 lets the MTA choose).</summary>
    public const long MaxReturnedMessageSize = 10L * 1024 * 1024;

    /// <summary>Builds the report. <paramref name="original"/> (the queued message, may be null) is read but not disposed.</summary>
    public static MimeMessage Build(DsnReport report, Stream? original, long originalSize)
    {
        ArgumentNullException.ThrowIfNull(report);
        if (report.Recipients.Count == 0)
        {
            throw new ArgumentException("A DSN needs at least one recipient.", nameof(report));
        }

        var action = report.Recipients[0].Action;
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Mail Delivery System", "MAILER-DAEMON@" + report.ReportingMta));
        message.To.Add(new MailboxAddress(string.Empty, report.To));
        message.Subject = action switch
        {
            DsnAction.Failed => "Undelivered Mail Returned to Sender",
            DsnAction.Delayed => "Delayed Mail (still being retried)",
            DsnAction.Relayed => "Successful Mail Delivery Report (relayed)",
            _ => "Successful Mail Delivery Report",
        };
        message.Date = report.Date;
        message.MessageId = MimeUtils.GenerateMessageId(report.ReportingMta);

        // RFC 3834 5: automatic responses must say so, so that autoresponders do not answer them.
        message.Headers.Add("Auto-Submitted", "auto-replied");

        var multipart = new MultipartReport("delivery-status");
        multipart.Add(new TextPart("plain") { Text = HumanText(report), ContentTransferEncoding = ContentEncoding.QuotedPrintable });

        var status = new MessageDeliveryStatus();

        // RFC 3464 2.2: the per-message fields come first, then one group per recipient (2.3).
        var perMessage = new HeaderList
        {
            { "Reporting-MTA", "dns; " + report.ReportingMta },
        };
        if (!string.IsNullOrEmpty(report.EnvelopeId))
        {
            perMessage.Add("Original-Envelope-Id", report.EnvelopeId);
        }

        perMessage.Add("Arrival-Date", DateUtils.FormatDate(report.ArrivalDate));
        status.StatusGroups.Add(perMessage);

        foreach (var recipient in report.Recipients)
        {
            var group = new HeaderList();
            if (!string.IsNullOrEmpty(recipient.OriginalRecipient))
            {
                group.Add("Original-Recipient", recipient.OriginalRecipient.Contains(';', StringComparison.Ordinal)
                    ? recipient.OriginalRecipient
                    : "rfc822;" + recipient.OriginalRecipient);
            }

            group.Add("Final-Recipient", "rfc822;" + recipient.FinalRecipient);
            group.Add("Action", recipient.Action.ToString().ToLowerInvariant());
            group.Add("Status", recipient.Status);
            if (!string.IsNullOrEmpty(recipient.RemoteMta))
            {
                group.Add("Remote-MTA", "dns; " + recipient.RemoteMta);
            }

            if (!string.IsNullOrEmpty(recipient.Diagnostic))
            {
                group.Add("Diagnostic-Code", (recipient.DiagnosticIsSmtp ? "smtp; " : "X-Rempart; ") + OneLine(recipient.Diagnostic));
            }

            if (recipient.LastAttempt is { } last)
            {
                group.Add("Last-Attempt-Date", DateUtils.FormatDate(last));
            }

            if (recipient.WillRetryUntil is { } until)
            {
                group.Add("Will-Retry-Until", DateUtils.FormatDate(until));
            }

            status.StatusGroups.Add(group);
        }

        multipart.Add(status);

        if (original is not null)
        {
            multipart.Add(ReturnedContent(report, action, original, originalSize));
        }

        message.Body = multipart;
        return message;
    }

    /// <summary>The report as bytes ready to store (CRLF line ends).</summary>
    public static byte[] BuildBytes(DsnReport report, Stream? original, long originalSize)
    {
        using var message = Build(report, original, originalSize);
        using var output = new MemoryStream();
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        message.WriteTo(format, output);
        return output.ToArray();
    }

    /// <summary>
    /// RFC 3461 4.3: RET=FULL returns the whole message, RET=HDRS only its headers. Without RET the choice is ours:
    /// the whole message for failures (the sender may need it), headers for delay and success reports.
    /// </summary>
    private static MimeEntity ReturnedContent(DsnReport report, DsnAction action, Stream original, long originalSize)
    {
        var ret = report.Ret?.ToUpperInvariant();
        var full = ret == "FULL" || (ret is null && action == DsnAction.Failed);
        if (originalSize > MaxReturnedMessageSize)
        {
            full = false;
        }

        var parsed = MimeMessage.Load(original);
        if (full)
        {
            return new MessagePart("rfc822") { Message = parsed };
        }

        var headers = new MemoryStream();
        parsed.Headers.WriteTo(headers);
        parsed.Dispose();
        headers.Position = 0;
        return new MimePart("text", "rfc822-headers")
        {
            Content = new MimeContent(headers),
            ContentTransferEncoding = ContentEncoding.EightBit,
        };
    }

    private static string HumanText(DsnReport report)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"This is the mail system at host {report.ReportingMta}.\n\n");
        var action = report.Recipients[0].Action;
        text.Append(action switch
        {
            DsnAction.Failed => "I'm sorry to have to inform you that your message could not be delivered to one or more\nrecipients. It is attached below.\n",
            DsnAction.Delayed => "Your message could not be delivered yet to one or more recipients. Delivery will be\nretried; you do not need to send it again.\n",
            DsnAction.Relayed => "Your message was relayed to a system that does not send delivery notifications.\n",
            _ => "Your message was successfully delivered to the recipients listed below.\n",
        });
        text.Append('\n');
        foreach (var recipient in report.Recipients)
        {
            text.Append(CultureInfo.InvariantCulture, $"<{recipient.FinalRecipient}>: {recipient.Status}");
            if (!string.IsNullOrEmpty(recipient.RemoteMta))
            {
                text.Append(CultureInfo.InvariantCulture, $" (host {recipient.RemoteMta})");
            }

            if (!string.IsNullOrEmpty(recipient.Diagnostic))
            {
                text.Append(CultureInfo.InvariantCulture, $"\n    {OneLine(recipient.Diagnostic)}");
            }

            if (recipient.WillRetryUntil is { } until)
            {
                text.Append(CultureInfo.InvariantCulture, $"\n    will retry until {DateUtils.FormatDate(until)}");
            }

            text.Append('\n');
        }

        return text.ToString();
    }

    private static string OneLine(string value) => value.ReplaceLineEndings(" ").Trim();
}
