using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using MimeKit;

namespace Rempart.Antispam;

/// <summary>A link of an HTML part: where it goes and what it shows.</summary>
internal readonly record struct HtmlLink(string Href, string Text);

/// <summary>
/// The text of a message as the rules and the tokenizer see it: the subject, the first bytes of at most a few text
/// parts (HTML stripped), the links and a few facts about the parts. Every read is bounded by the options, so a huge
/// message costs no more than a small one with the same number of parts.
/// </summary>
internal sealed partial class MessageContent
{
    private MessageContent()
    {
    }

    public string Subject { get; private init; } = "";

    /// <summary>Readable text of each text part (HTML stripped), each at most MaxBytesPerPart bytes of source.</summary>
    public List<string> Texts { get; } = [];

    /// <summary>HTML source of each text/html part (bounded).</summary>
    public List<string> Htmls { get; } = [];

    public List<HtmlLink> Links { get; } = [];

    /// <summary>Every http(s) URL seen in text or href (bounded count).</summary>
    public List<string> Urls { get; } = [];

    public bool HasPlainText { get; private set; }

    public bool HasHtml { get; private set; }

    public int ImageCount { get; private set; }

    /// <summary>Text parts declared US-ASCII (or without charset) whose bytes are mostly not ASCII.</summary>
    public bool AsciiCharsetWithManyNonAscii { get; private set; }

    /// <summary>Bytes of part content read: at most MaxParts × MaxBytesPerPart (tests check the bound).</summary>
    public long BytesExamined { get; private set; }

    public const int MaxUrls = 100;
    public const int MaxLinks = 100;

    public static MessageContent Extract(MimeMessage message, int maxParts, int maxBytesPerPart)
    {
        var content = new MessageContent { Subject = Truncate(message.Subject ?? "", 1000) };
        // Pooled: a new 64 KiB buffer a message was about a fifth of what the smtp benchmark allocated per message.
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(maxBytesPerPart);
        try
        {
            content.ExtractParts(message, maxParts, maxBytesPerPart, buffer);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }

        return content;
    }

    private void ExtractParts(MimeMessage message, int maxParts, int maxBytesPerPart, byte[] buffer)
    {
        var parts = 0;
        foreach (var entity in message.BodyParts)
        {
            if (entity is not TextPart part || part.IsAttachment)
            {
                if (entity is MimePart { ContentType.MediaType: var media } && media.Equals("image", StringComparison.OrdinalIgnoreCase))
                {
                    ImageCount++;
                }

                continue;
            }

            if (++parts > maxParts)
            {
                break;
            }

            var length = ReadHead(part, buffer, maxBytesPerPart);
            BytesExamined += length;
            var bytes = buffer.AsSpan(0, length);
            var text = Decode(part, bytes, out var declaredAscii);
            if (declaredAscii && length >= 64)
            {
                var high = 0;
                foreach (var b in bytes)
                {
                    if (b >= 0x80)
                    {
                        high++;
                    }
                }

                if (high * 5 > length)
                {
                    AsciiCharsetWithManyNonAscii = true;
                }
            }

            if (part.IsHtml)
            {
                HasHtml = true;
                Htmls.Add(text);
                ExtractLinks(text);
                ImageCount += CountImages(text);
                text = StripHtml(text);
            }
            else
            {
                HasPlainText = true;
            }

            Texts.Add(text);
            ExtractUrls(text);
        }
    }

    private static int ReadHead(TextPart part, byte[] buffer, int limit)
    {
        if (part.Content is null)
        {
            return 0;
        }

        try
        {
            using var stream = part.Content.Open();
            var total = 0;
            while (total < limit)
            {
                var n = stream.Read(buffer, total, limit - total);
                if (n <= 0)
                {
                    break;
                }

                total += n;
            }

            return total;
        }
        catch (Exception ex) when (ex is IOException or FormatException or InvalidOperationException)
        {
            // A damaged transfer encoding: whatever could not be decoded simply contributes no text.
            return 0;
        }
    }

    private static readonly Encoding s_strictUtf8 = new UTF8Encoding(false, throwOnInvalidBytes: true);

    private static string Decode(TextPart part, ReadOnlySpan<byte> bytes, out bool declaredAscii)
    {
        var charset = part.ContentType.Charset;
        declaredAscii = charset is null || charset.Equals("us-ascii", StringComparison.OrdinalIgnoreCase) || charset.Equals("ascii", StringComparison.OrdinalIgnoreCase);
        Encoding? encoding = null;
        if (charset is not null && !declaredAscii)
        {
            try
            {
                encoding = part.ContentType.CharsetEncoding;
            }
            catch (Exception ex) when (ex is ArgumentException or NotSupportedException)
            {
                encoding = null;
            }
        }

        if (encoding is not null)
        {
            return encoding.GetString(bytes);
        }

        try
        {
            return s_strictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return Encoding.Latin1.GetString(bytes);
        }
    }

    private static int CountImages(string html)
    {
        try
        {
            return ImgTag().Count(html);
        }
        catch (RegexMatchTimeoutException)
        {
            return 0;
        }
    }

    private void ExtractLinks(string html)
    {
        try
        {
            ExtractLinksCore(html);
        }
        catch (RegexMatchTimeoutException)
        {
            // Pathological markup: the links found so far are kept.
        }
    }

    private void ExtractLinksCore(string html)
    {
        foreach (Match m in AnchorTag().Matches(html))
        {
            if (Links.Count >= MaxLinks)
            {
                break;
            }

            var href = WebUtility.HtmlDecode(m.Groups["href"].Value).Trim();
            var text = StripHtml(m.Groups["text"].Value).Trim();
            Links.Add(new HtmlLink(href, text));
            if (href.StartsWith("http", StringComparison.OrdinalIgnoreCase) && Urls.Count < MaxUrls)
            {
                Urls.Add(href);
            }
        }
    }

    private void ExtractUrls(string text)
    {
        try
        {
            foreach (Match m in UrlPattern().Matches(text))
            {
                if (Urls.Count >= MaxUrls)
                {
                    break;
                }

                Urls.Add(m.Value.TrimEnd('.', ',', ';', ':', '!', '?'));
            }
        }
        catch (RegexMatchTimeoutException)
        {
            // Pathological text: the URLs found so far are kept.
        }
    }

    /// <summary>The host of an http(s) URL, lower case, or null.</summary>
    public static string? HostOf(string url)
    {
        if (!url.Contains("://", StringComparison.Ordinal))
        {
            url = "http://" + url;
        }

        return Uri.TryCreate(url, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps) && uri.Host.Length > 0
            ? uri.Host.TrimEnd('.').ToLowerInvariant()
            : null;
    }

    /// <summary>
    /// The registrable part of a host name, approximated without the public suffix list: the last two labels, or three
    /// when the second-to-last is a short generic second level (co.uk, com.au). Good enough to compare two links.
    /// </summary>
    public static string RegistrableDomain(string host)
    {
        var labels = host.Split('.', StringSplitOptions.RemoveEmptyEntries);
        if (labels.Length <= 2)
        {
            return host;
        }

        var second = labels[^2];
        var take = second is "co" or "com" or "net" or "org" or "gov" or "ac" or "edu" && labels[^1].Length == 2 ? 3 : 2;
        return string.Join('.', labels[^take..]);
    }

    /// <summary>Visible text of HTML: tags, comments, scripts and styles removed, entities decoded.</summary>
    public static string StripHtml(string html)
    {
        var sb = new StringBuilder(html.Length / 2);
        var i = 0;
        while (i < html.Length)
        {
            var c = html[i];
            if (c != '<')
            {
                sb.Append(c);
                i++;
                continue;
            }

            if (string.CompareOrdinal(html, i, "<!--", 0, 4) == 0)
            {
                var end = html.IndexOf("-->", i + 4, StringComparison.Ordinal);
                i = end < 0 ? html.Length : end + 3;
                continue;
            }

            var skipTo = SkipBlock(html, i, "script") ?? SkipBlock(html, i, "style");
            if (skipTo is { } s)
            {
                i = s;
                continue;
            }

            var close = html.IndexOf('>', i + 1);
            if (close < 0)
            {
                break;
            }

            // Block-level tags separate words; inline ones do not.
            sb.Append(' ');
            i = close + 1;
        }

        return WebUtility.HtmlDecode(sb.ToString());
    }

    private static int? SkipBlock(string html, int i, string tag)
    {
        if (i + 1 + tag.Length > html.Length || string.Compare(html, i + 1, tag, 0, tag.Length, StringComparison.OrdinalIgnoreCase) != 0)
        {
            return null;
        }

        var end = html.IndexOf("</" + tag, i, StringComparison.OrdinalIgnoreCase);
        if (end < 0)
        {
            return html.Length;
        }

        var close = html.IndexOf('>', end);
        return close < 0 ? html.Length : close + 1;
    }

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max];

    [GeneratedRegex(@"<a\s[^>]{0,500}?href\s*=\s*[""']?(?<href>[^""'\s>]{1,2000})[^>]{0,500}>(?<text>.{0,500}?)</a\s*>", RegexOptions.IgnoreCase | RegexOptions.Singleline | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex AnchorTag();

    [GeneratedRegex(@"<img\b", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex ImgTag();

    [GeneratedRegex(@"https?://[^\s""'<>()\[\]]{1,2000}", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex UrlPattern();
}
