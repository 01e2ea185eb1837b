using System.Globalization;
using System.Text.RegularExpressions;
using MimeKit;
using Rempart.Antispam;

/// <summary>
/// Token groups tried by cross-validation (--cv 5 --feat) and not kept in the engine: HTML structure, image alt text,
/// link shape, text shape and transfer encodings, word pairs, header words, 4-character windows of the decoded text.
/// They stay here so the comparison in bench/results/2026-12-03-spam-s8.md can be run again.
/// </summary>
internal static partial class CandidateTokens
{
    /// <summary>HTML tags examined per part.</summary>
    public const int MaxTags = 2000;

    private static readonly HashSet<string> s_tags = new(StringComparer.Ordinal)
    {
        "a", "area", "b", "base", "basefont", "big", "blink", "body", "br", "center", "div", "embed", "font", "form",
        "frame", "frameset", "h1", "h2", "h3", "head", "hr", "html", "i", "iframe", "img", "input", "li", "map",
        "marquee", "meta", "object", "ol", "option", "p", "pre", "script", "select", "small", "span", "strong", "style",
        "table", "tbody", "td", "textarea", "th", "title", "tr", "u", "ul", "xml", "o:p", "blockquote", "tt", "sup",
    };

    private static readonly HashSet<string> s_attributes = new(StringComparer.Ordinal)
    {
        "align", "alt", "background", "bgcolor", "border", "cellpadding", "cellspacing", "class", "color", "face",
        "height", "href", "id", "name", "onclick", "onload", "size", "src", "style", "target", "type", "valign",
        "width", "action", "method", "value", "usemap", "lang", "dir", "link", "vlink", "alink", "text",
    };

    /// <summary>
    /// HTML layout: each tag name seen (<c>h:t:font</c>), each tag.attribute pair (<c>h:a:font.color</c>), the values
    /// of the font and colour attributes that spam favours (<c>h:v:font.size=+2</c>), rough tag counts, the share of
    /// visible text in the source, and markup tricks (comments inside words, white or tiny text).
    /// </summary>
    public static void Html(MessageContent content, Tokenizer.Sink sink)
    {
        for (var p = 0; p < content.Htmls.Count; p++)
        {
            var html = content.Htmls[p];
            var counts = new Dictionary<string, int>(StringComparer.Ordinal);
            var tags = 0;
            try
            {
                foreach (Match m in Tag().Matches(html))
                {
                    if (++tags > MaxTags)
                    {
                        break;
                    }

                    var name = m.Groups["name"].Value.ToLowerInvariant();
                    if (!s_tags.Contains(name))
                    {
                        name = "other";
                    }

                    counts[name] = counts.GetValueOrDefault(name) + 1;
                    if (m.Groups["close"].Length > 0)
                    {
                        continue;
                    }

                    foreach (Match a in Attribute().Matches(m.Groups["attrs"].Value))
                    {
                        var attr = a.Groups["attr"].Value.ToLowerInvariant();
                        if (!s_attributes.Contains(attr))
                        {
                            attr = attr.StartsWith("on", StringComparison.Ordinal) ? "on*" : "other";
                        }

                        sink.Add("h:a:", name + "." + attr);
                        var value = a.Groups["value"].Value.Trim('"', '\'', ' ').ToLowerInvariant();
                        if (attr is "color" or "bgcolor" or "size" or "face" or "align" or "border" or "width" or "height" && value.Length is > 0 and <= 30)
                        {
                            sink.Add("h:v:", name + "." + attr + "=" + value);
                        }
                    }
                }
            }
            catch (RegexMatchTimeoutException)
            {
                // Pathological markup: the tags seen so far count.
            }

            foreach (var (name, n) in counts)
            {
                sink.Add("h:t:", name);
                sink.Add("h:n:", name + ":" + Log2Bucket(n));
            }

            sink.Add("h:tags:" + Log2Bucket(tags));
            var visible = MessageContent.StripHtml(html).Count(c => !char.IsWhiteSpace(c));
            var share = html.Length == 0 ? 0 : visible * 10 / html.Length;
            sink.Add("h:textshare:" + share.ToString(CultureInfo.InvariantCulture));
            if (html.Contains("<!--", StringComparison.Ordinal) && InWordComment().IsMatch(html))
            {
                sink.Add("h:comment-in-word");
            }
        }
    }

    /// <summary>
    /// The words of image alt and title attributes (<c>alt:</c>): an image-only mail often says in them what its text
    /// does not.
    /// </summary>
    public static void AltText(MessageContent content, Tokenizer.Sink sink)
    {
        foreach (var html in content.Htmls)
        {
            try
            {
                var n = 0;
                foreach (Match m in AltAttribute().Matches(html))
                {
                    if (++n > 200)
                    {
                        break;
                    }

                    Tokenizer.Words(System.Net.WebUtility.HtmlDecode(m.Groups["value"].Value), "alt:", sink);
                }
            }
            catch (RegexMatchTimeoutException)
            {
                // Pathological markup: the alt texts seen so far count.
            }
        }
    }

    /// <summary>
    /// Link shape: top-level domains (<c>url:tld:biz</c>), path words (<c>urlp:</c>), the number of distinct sites,
    /// ports, numeric or long host names, query strings, user-info (<c>@</c>) and the words of the link text.
    /// </summary>
    public static void Urls(MessageContent content, Tokenizer.Sink sink)
    {
        var sites = new HashSet<string>(StringComparer.Ordinal);
        foreach (var url in content.Urls.Distinct(StringComparer.OrdinalIgnoreCase))
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Host.Length == 0)
            {
                continue;
            }

            var host = uri.Host.TrimEnd('.').ToLowerInvariant();
            sites.Add(MessageContent.RegistrableDomain(host));
            var dot = host.LastIndexOf('.');
            if (dot >= 0 && dot + 1 < host.Length)
            {
                sink.Add("url:tld:", host.AsSpan(dot + 1));
            }

            sink.Add("url:scheme:" + uri.Scheme);
            sink.Add("url:labels:" + Math.Min(host.Count(c => c == '.') + 1, 6).ToString(CultureInfo.InvariantCulture));
            if (!uri.IsDefaultPort)
            {
                sink.Add("url:port");
            }

            if (uri.UserInfo.Length > 0)
            {
                sink.Add("url:userinfo");
            }

            if (host.Any(char.IsDigit))
            {
                sink.Add("url:host-digits");
            }

            if (host.Contains('-', StringComparison.Ordinal))
            {
                sink.Add("url:host-hyphen");
            }

            var path = uri.AbsolutePath;
            sink.Add("url:depth:" + Math.Min(path.Count(c => c == '/'), 6).ToString(CultureInfo.InvariantCulture));
            if (uri.Query.Length > 1)
            {
                sink.Add("url:query");
            }

            Tokenizer.Words(Truncate(Uri.UnescapeDataString(path), 200).Replace('.', ' ').Replace('_', ' '), "urlp:", sink);
        }

        sink.Add("url:sites:" + Log2Bucket(sites.Count));
        foreach (var link in content.Links.Take(30))
        {
            Tokenizer.Words(Truncate(link.Text, 200), "lt:", sink);
        }
    }

    /// <summary>
    /// Text shape: subject words with their case kept (<c>S:</c>), the share of capital letters and the number of
    /// exclamation marks in the text, and whether text parts came base64- or quoted-printable-encoded
    /// (<c>cte:base64-text</c>: mail tools rarely encode plain text in base64, bulk mailers often do).
    /// </summary>
    public static void Shape(MimeMessage message, MessageContent content, Tokenizer.Sink sink)
    {
        CaseWords(content.Subject, "S:", sink);
        long letters = 0, upper = 0, bangs = 0, dollars = 0;
        foreach (var text in content.Texts)
        {
            foreach (var c in text)
            {
                if (char.IsLetter(c))
                {
                    letters++;
                    if (char.IsUpper(c))
                    {
                        upper++;
                    }
                }
                else if (c == '!')
                {
                    bangs++;
                }
                else if (c == '$')
                {
                    dollars++;
                }
            }
        }

        sink.Add("sh:upper:" + (letters == 0 ? "none" : (upper * 20 / letters).ToString(CultureInfo.InvariantCulture)));
        sink.Add("sh:bang:" + Log2Bucket((int)Math.Min(bangs, int.MaxValue)));
        sink.Add("sh:dollar:" + Log2Bucket((int)Math.Min(dollars, int.MaxValue)));
        sink.Add("sh:letters:" + Log2Bucket((int)Math.Min(letters / 16, int.MaxValue)));
        foreach (var part in message.BodyParts.Take(20))
        {
            if (part is TextPart { IsAttachment: false } text)
            {
                var kind = text.IsHtml ? "html" : "text";
                sink.Add("cte:" + text.ContentTransferEncoding.ToString().ToLowerInvariant() + "-" + kind);
                sink.Add("charset:" + (text.ContentType.Charset ?? "none").ToLowerInvariant() + "-" + kind);
            }
        }
    }

    /// <summary>
    /// Adjacent word pairs of the subject and text (<c>w2:</c>), from the first <see cref="MaxPairWords"/> words: "click
    /// here" and "here click" are different evidence, where single words are not.
    /// </summary>
    public static void WordPairs(MessageContent content, Tokenizer.Sink sink)
    {
        var words = 0;
        string? previous = null;
        foreach (var text in content.Texts.Prepend(content.Subject))
        {
            previous = null;
            foreach (Match m in PairWord().Matches(text))
            {
                if (++words > MaxPairWords || sink.Full)
                {
                    return;
                }

                var word = m.Value.ToLowerInvariant();
                if (previous is not null)
                {
                    sink.Add("w2:", previous + " " + word);
                }

                previous = word;
            }
        }
    }

    /// <summary>Words read for <see cref="WordPairs"/>.</summary>
    public const int MaxPairWords = 1000;

    /// <summary>
    /// Words of the header values, prefixed with the field name (<c>hw:list-id:</c>), except the fields other tokens
    /// already read (Received, Date, Message-ID, From, To, Cc, Subject): mailing-list names, priorities, tools.
    /// </summary>
    public static void HeaderWords(MimeMessage message, Tokenizer.Sink sink)
    {
        var n = 0;
        foreach (var header in message.Headers)
        {
            if (header.Id is HeaderId.Received or HeaderId.Date or HeaderId.MessageId or HeaderId.From or HeaderId.To or HeaderId.Cc or HeaderId.Subject)
            {
                continue;
            }

            if (++n > 40)
            {
                break;
            }

            Tokenizer.Words(Truncate(header.Value, 200), "hw:" + header.Field.ToLowerInvariant() + ":", sink);
        }
    }

    /// <summary>
    /// Overlapping 4-character windows of the decoded text (subject, then each text part as read: transfer encoding
    /// and charset undone, HTML stripped, lower case, white space runs as one space), at most
    /// <see cref="TextGramChars"/> characters. The raw 4-grams of the logistic model mostly see headers (the first 3000
    /// raw bytes of a mailing-list message are often all header) and see base64 or quoted-printable text as encoded.
    /// </summary>
    public static void TextGrams(MessageContent content, HashSet<uint> set)
    {
        Span<char> buffer = stackalloc char[TextGramChars];
        var n = 0;
        var space = true;
        foreach (var text in content.Texts.Prepend(content.Subject))
        {
            foreach (var c in text)
            {
                if (n == buffer.Length)
                {
                    break;
                }

                if (char.IsWhiteSpace(c))
                {
                    if (!space)
                    {
                        buffer[n++] = ' ';
                    }

                    space = true;
                    continue;
                }

                buffer[n++] = char.ToLowerInvariant(c);
                space = false;
            }

            if (n < buffer.Length && !space)
            {
                buffer[n++] = ' ';
                space = true;
            }
        }

        for (var i = 0; i + 4 <= n; i++)
        {
            set.Add(Tokenizer.Hash("tg:", buffer.Slice(i, 4)));
        }
    }

    /// <summary>Characters of decoded text read by <see cref="TextGrams"/>.</summary>
    public const int TextGramChars = 3000;

    /// <summary>Words of at least two letters, case kept (so "FREE", "Free" and "free" differ).</summary>
    private static void CaseWords(string text, string prefix, Tokenizer.Sink sink)
    {
        var start = -1;
        for (var i = 0; i <= text.Length; i++)
        {
            var letter = i < text.Length && char.IsLetter(text[i]);
            if (letter && start < 0)
            {
                start = i;
            }
            else if (!letter && start >= 0)
            {
                if (i - start is >= 2 and <= 24)
                {
                    sink.Add(prefix, text.AsSpan(start, i - start));
                }

                start = -1;
            }
        }
    }

    /// <summary>0, 1, 2-3, 4-7, ... as 0, 1, 2, 3, ..., capped at 10.</summary>
    internal static string Log2Bucket(int n) =>
        (n <= 0 ? 0 : Math.Min(10, 32 - int.LeadingZeroCount(n))).ToString(CultureInfo.InvariantCulture);

    [GeneratedRegex(@"<(?<close>/?)(?<name>[a-zA-Z][a-zA-Z0-9:]{0,20})(?<attrs>[^<>]{0,1000})>", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex Tag();

    [GeneratedRegex(@"(?<attr>[a-zA-Z][a-zA-Z0-9-]{0,30})\s*(?:=\s*(?<value>""[^""]{0,200}""|'[^']{0,200}'|[^\s""'>]{1,200}))?", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex Attribute();

    [GeneratedRegex(@"\b(?:alt|title)\s*=\s*(?:""(?<value>[^""]{0,500})""|'(?<value>[^']{0,500})')", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex AltAttribute();

    [GeneratedRegex(@"[a-zA-Z]<!--[^>]{0,200}-->[a-zA-Z]", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex InWordComment();

    [GeneratedRegex(@"[\p{L}\p{N}$'][\p{L}\p{N}$'.-]{0,23}", RegexOptions.CultureInvariant, matchTimeoutMilliseconds: 1000)]
    private static partial Regex PairWord();

    private static string Truncate(string s, int max) => s.Length <= max ? s : s[..max];
}
