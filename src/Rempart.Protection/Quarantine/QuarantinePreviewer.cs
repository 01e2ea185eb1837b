using MimeKit;
using Rempart.Store;

namespace Rempart.Protection.Quarantine;

/// <summary>Builds a <see cref="QuarantinePreview"/> from a held message's bytes, never decoding attachments.</summary>
public static class QuarantinePreviewer
{
    /// <summary>Longest body text shown.</summary>
    public const int DefaultMaxBodyChars = 4000;

    /// <summary>Longest header value shown.</summary>
    public const int MaxHeaderChars = 300;

    /// <summary>Attachments listed at most (a message with thousands of parts is itself suspicious).</summary>
    public const int MaxAttachmentsListed = 50;

    /// <summary>MIME nesting followed at most while listing parts.</summary>
    public const int MaxDepth = 16;

    private static readonly HeaderId[] Shown =
    [
        HeaderId.Date, HeaderId.From, HeaderId.Sender, HeaderId.ReplyTo, HeaderId.To, HeaderId.Cc, HeaderId.Subject,
        HeaderId.MessageId, HeaderId.AuthenticationResults,
    ];

    public static async Task<QuarantinePreview> BuildAsync(QuarantineRecord entry, Stream message, int maxBodyChars = DefaultMaxBodyChars, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(message);
        var options = new ParserOptions { MaxMimeDepth = MaxDepth * 2 };
        using var mime = await MimeMessage.LoadAsync(options, message, ct);

        var headers = new List<(string, string)>
        {
            ("Quarantine id", entry.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)),
            ("Category", SafeText.Clean(entry.Category, 40)),
            ("Reason", SafeText.Clean(entry.Reason, MaxHeaderChars)),
            ("Envelope from", SafeText.Clean(entry.Sender.Length == 0 ? "<>" : entry.Sender, MaxHeaderChars)),
            ("Envelope to", SafeText.Clean(string.Join(", ", entry.Recipients), MaxHeaderChars)),
            ("Received", entry.Received.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture)),
            ("Expires", entry.Expires.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture)),
        };
        if (entry.Released is { } released)
        {
            headers.Add(("Released", released.ToUniversalTime().ToString("yyyy-MM-dd HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture) + " by " + SafeText.Clean(entry.ReleasedBy, 100)));
        }

        foreach (var id in Shown)
        {
            foreach (var header in mime.Headers.Where(h => h.Id == id).Take(3))
            {
                headers.Add((header.Field, SafeText.Clean(header.Value, MaxHeaderChars)));
            }
        }

        var plain = mime.TextBody;
        var fromHtml = false;
        if (string.IsNullOrWhiteSpace(plain) && mime.HtmlBody is { } html)
        {
            plain = SafeText.HtmlToText(html);
            fromHtml = true;
        }

        var body = SafeText.Clean(plain, Math.Max(0, maxBodyChars), singleLine: false, out var truncated);

        var attachments = new List<PreviewAttachment>();
        var notListed = 0;
        ListParts(mime.Body, 0, attachments, ref notListed);
        return new QuarantinePreview(entry, headers, body, fromHtml, truncated, attachments, notListed);
    }

    private static void ListParts(MimeEntity? entity, int depth, List<PreviewAttachment> list, ref int notListed)
    {
        if (entity is null)
        {
            return;
        }

        if (depth > MaxDepth)
        {
            notListed++;
            return;
        }

        switch (entity)
        {
            case Multipart multipart:
                foreach (var child in multipart)
                {
                    ListParts(child, depth + 1, list, ref notListed);
                }

                break;
            case MessagePart attached:
                // An attached message is listed, not opened.
                Add(list, ref notListed, new PreviewAttachment(
                    SafeText.Clean(attached.ContentDisposition?.FileName ?? attached.Message?.Subject ?? "(attached message)", 120),
                    attached.ContentType.MimeType, Disposition(attached)));
                break;
            case MimePart part:
                var isBodyText = !part.IsAttachment && part.FileName is null &&
                    (part.ContentType.IsMimeType("text", "plain") || part.ContentType.IsMimeType("text", "html"));
                if (!isBodyText)
                {
                    Add(list, ref notListed, new PreviewAttachment(
                        SafeText.Clean(part.FileName ?? "(no name)", 120), SafeText.Clean(part.ContentType.MimeType, 100), Disposition(part)));
                }

                break;
        }
    }

    private static string Disposition(MimeEntity entity) =>
        entity.ContentDisposition?.Disposition is { Length: > 0 } d ? SafeText.Clean(d.ToLowerInvariant(), 20) : "inline";

    private static void Add(List<PreviewAttachment> list, ref int notListed, PreviewAttachment attachment)
    {
        if (list.Count < MaxAttachmentsListed)
        {
            list.Add(attachment);
        }
        else
        {
            notListed++;
        }
    }
}
