using System.Text;
using MimeKit;
using Rempart.Antivirus;
using Rempart.Common.Configuration;

namespace Rempart.Protection.Rules;

/// <summary>Builds the <see cref="RuleMessage"/> of a parsed message (the pipeline, and <c>rempart rule test</c>).</summary>
public static class RuleMessageBuilder
{
    /// <summary>Characters of body text the body conditions look at; the rest of a long message is not searched.</summary>
    public const int DefaultMaxBodyChars = 256 * 1024;

    /// <summary>Header fields the header conditions look at.</summary>
    public const int MaxHeaders = 500;

    /// <param name="message">The parsed message.</param>
    /// <param name="sender">Envelope sender ("" for the null sender).</param>
    /// <param name="recipients">Envelope recipients.</param>
    /// <param name="size">Size as received, in bytes.</param>
    /// <param name="scl">Spam confidence level so far (-1 when not scanned).</param>
    /// <param name="isInternal">True for addresses in the served domains.</param>
    /// <param name="attachments">Attachments already inspected (antivirus); null to detect them here.</param>
    public static RuleMessage FromMime(
        MimeMessage message,
        string sender,
        IReadOnlyList<string> recipients,
        long size,
        int scl,
        Func<string, bool> isInternal,
        IReadOnlyList<RuleAttachment>? attachments = null,
        int maxBodyChars = DefaultMaxBodyChars)
    {
        var headers = message.Headers.Take(MaxHeaders).Select(h => new KeyValuePair<string, string>(h.Field, h.Value ?? "")).ToList();
        return new RuleMessage
        {
            Sender = sender,
            Recipients = recipients,
            FromHeader = message.From.Mailboxes.FirstOrDefault()?.Address ?? (message.Headers[HeaderId.From] is { Length: > 0 } raw ? raw.Trim() : null),
            Headers = headers,
            Subject = message.Subject ?? "",
            BodyText = BodyText(message, maxBodyChars),
            Attachments = attachments ?? DetectAttachments(message),
            Size = size,
            Scl = scl,
            IsInternal = isInternal,
        };
    }

    private static string BodyText(MimeMessage message, int max)
    {
        string? text;
        try
        {
            text = message.TextBody;
            if (text is null && message.HtmlBody is { } html)
            {
                text = StripTags(html);
            }
        }
        catch (Exception ex) when (ex is FormatException or NotSupportedException or ArgumentException)
        {
            // An unknown charset or broken encoding: the body conditions see nothing rather than failing the message.
            text = null;
        }

        text ??= "";
        return text.Length <= max ? text : text[..max];
    }

    /// <summary>HTML reduced to its text: enough for a pattern search, not a renderer.</summary>
    internal static string StripTags(string html)
    {
        var sb = new StringBuilder(html.Length);
        var inTag = false;
        foreach (var c in html)
        {
            if (c == '<')
            {
                inTag = true;
            }
            else if (c == '>' && inTag)
            {
                inTag = false;
                sb.Append(' ');
            }
            else if (!inTag)
            {
                sb.Append(c);
            }
        }

        return System.Net.WebUtility.HtmlDecode(sb.ToString());
    }

    /// <summary>
    /// The attachments as the antivirus attachment policy sees them (type from content, files inside archives and
    /// TNEF included), without the message's own text body parts.
    /// </summary>
    private static List<RuleAttachment> DetectAttachments(MimeMessage message)
    {
        InspectionResult inspected;
        try
        {
            inspected = new AttachmentInspector(new AntivirusOptions()).Inspect(message);
        }
        catch (Exception ex) when (ex is FormatException or IOException or InvalidOperationException or NotSupportedException)
        {
            return [];
        }

        return
        [
            .. inspected.Attachments
                .Where(a => a.FileName is not null || a.Container is not null || !a.DeclaredType.StartsWith("text/", StringComparison.OrdinalIgnoreCase))
                .Select(a => new RuleAttachment(a.FileName, a.DetectedType, a.Size)),
        ];
    }
}
