using System.Runtime.InteropServices;
using System.Text;
using MimeKit;
using MimeKit.Text;

namespace Rempart.Store.Mime;

/// <summary>What the store keeps about a message body, computed once when it is first delivered or appended.</summary>
public sealed record MessageAnalysis(
    string Envelope,
    string Body,
    string BodyStructure,
    string? Subject,
    string? From,
    string? To,
    string? Cc,
    DateTimeOffset? Date,
    string? MessageId,
    string? InReplyTo,
    string? References,
    string HeaderText,
    string BodyText);

/// <summary>
/// Parses a message once with MimeKit and extracts the IMAP ENVELOPE / BODYSTRUCTURE strings, the header fields SORT
/// and THREAD need, and the text for the full-text index (decoded text parts, HTML reduced to text).
/// MIME bombs are bounded: nesting depth is capped by the parser and extracted text by <see cref="MaxTextChars"/>.
/// </summary>
public static class MessageAnalyzer
{
    /// <summary>Deepest MIME nesting parsed; deeper parts are kept as opaque bodies.</summary>
    public const int MaxMimeDepth = 32;

    /// <summary>Most characters of body text (and, separately, header text) indexed per message (1 MiB).</summary>
    public const int MaxTextChars = 1024 * 1024;

    private static readonly ParserOptions Options = CreateOptions();

    public static MessageAnalysis Analyze(ReadOnlyMemory<byte> raw)
    {
        var bytes = MemoryMarshal.TryGetArray(raw, out var segment) ? segment : new ArraySegment<byte>(raw.ToArray());
        using var stream = new MemoryStream(bytes.Array!, bytes.Offset, bytes.Count, writable: false);

        // Disposed, not left to the GC: MimeKit's messages, parts and contents have finalizers, so an undisposed parse
        // survives one collection whole (headers, address lists, content blocks) on its way to the finalizer thread.
        using var message = new MimeParser(Options, stream, persistent: false).ParseMessage();
        var envelope = ImapStructure.Envelope(message);
        var (body, bodyStructure) = ImapStructure.Structure(message, raw);

        return new MessageAnalysis(
            envelope,
            body,
            bodyStructure,
            message.Subject,
            HeaderOrNull(message, HeaderId.From),
            HeaderOrNull(message, HeaderId.To),
            HeaderOrNull(message, HeaderId.Cc),
            message.Headers.Contains(HeaderId.Date) ? message.Date : null,
            message.MessageId,
            message.InReplyTo,
            message.References.Count > 0 ? string.Join(' ', message.References.Select(r => "<" + r + ">")) : null,
            HeaderText(message),
            BodyText(message));
    }

    /// <summary>
    /// <see cref="Analyze"/>, or for a message that cannot be analyzed, a minimal description (empty envelope, the whole
    /// message as one text/plain body, raw text indexed): a message is never refused because it is malformed.
    /// </summary>
    public static MessageAnalysis AnalyzeOrFallback(ReadOnlyMemory<byte> raw)
    {
        try
        {
            return Analyze(raw);
        }
        catch (Exception ex) when (ex is FormatException or ParseException or ArgumentException or InvalidOperationException or IndexOutOfRangeException or NullReferenceException)
        {
            return Fallback(raw);
        }
    }

    internal static MessageAnalysis Fallback(ReadOnlyMemory<byte> raw)
    {
        var span = raw.Span;
        var lines = span.Count((byte)'\n') + (span.Length > 0 && span[^1] != (byte)'\n' ? 1 : 0);
        var size = span.Length.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var lineCount = lines.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var body = $"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" {size} {lineCount})";
        var bodyStructure = $"(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" {size} {lineCount} NIL NIL NIL NIL)";
        var text = Encoding.Latin1.GetString(span[..Math.Min(span.Length, MaxTextChars)]);
        return new MessageAnalysis("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)", body, bodyStructure, null, null, null, null, null, null, null, null, string.Empty, text);
    }

    private static ParserOptions CreateOptions()
    {
        var options = ParserOptions.Default.Clone();
        options.MaxMimeDepth = MaxMimeDepth;
        return options;
    }

    private static string? HeaderOrNull(MimeMessage message, HeaderId id)
    {
        var value = message.Headers[id];
        return string.IsNullOrEmpty(value) ? null : value.Trim();
    }

    private static string HeaderText(MimeMessage message)
    {
        var text = new StringBuilder();
        foreach (var header in message.Headers)
        {
            if (text.Length >= MaxTextChars)
            {
                break;
            }

            text.Append(header.Field).Append(": ").Append(header.Value).Append('\n');
        }

        return Cap(text);
    }

    private static string BodyText(MimeMessage message)
    {
        // Most messages have one text part: its text is the result, without a StringBuilder copying it twice.
        string? single = null;
        StringBuilder? text = null;
        foreach (var part in message.BodyParts)
        {
            if ((text?.Length ?? single?.Length ?? 0) >= MaxTextChars)
            {
                break;
            }

            if (part is not TextPart textPart)
            {
                continue;
            }

            string content;
            try
            {
                content = DecodedText(textPart);
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException or NotSupportedException)
            {
                // An undecodable part is still delivered; it is just not searchable.
                continue;
            }

            if (textPart.IsHtml)
            {
                content = HtmlToText(content);
            }

            if (single is null && text is null)
            {
                single = content;
            }
            else
            {
                text ??= new StringBuilder().Append(single).Append('\n');
                text.Append(content).Append('\n');
            }
        }

        if (text is not null)
        {
            return Cap(text);
        }

        return single is null ? string.Empty : single.Length >= MaxTextChars ? single[..MaxTextChars] : single + "\n";
    }

    /// <summary>
    /// A text part's decoded text. MimeKit's <see cref="TextPart.Text"/> costs about 50 KB of buffers for a 4 KiB body
    /// (a growing MemoryStream, a copy, a char buffer), a sixth of what an SMTP delivery allocated; a part in US-ASCII
    /// or UTF-8 whose decoded bytes are all ASCII (nearly all mail) is read into a pooled buffer instead. Every
    /// ASCII-compatible decoder gives the same string for ASCII bytes; anything else goes to MimeKit.
    /// </summary>
    private static string DecodedText(TextPart part)
    {
        var charset = part.ContentType.Charset;
        if (part.Content is not { } content ||
            (charset is not null && !charset.Equals("us-ascii", StringComparison.OrdinalIgnoreCase) && !charset.Equals("utf-8", StringComparison.OrdinalIgnoreCase)) ||
            content.Stream is not { CanSeek: true } source || source.Length > MaxTextChars)
        {
            return part.Text ?? string.Empty;
        }

        // Decoding (7bit, 8bit, quoted-printable, base64) never makes the content longer.
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent((int)source.Length + 1);
        try
        {
            var length = 0;
            using (var stream = content.Open())
            {
                int n;
                while (length < buffer.Length && (n = stream.Read(buffer, length, buffer.Length - length)) > 0)
                {
                    length += n;
                }
            }

            var bytes = buffer.AsSpan(0, length);
            return length < buffer.Length && Ascii.IsValid(bytes) ? AsciiWithUnixLineEnds(buffer, length) : part.Text ?? string.Empty;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>ASCII bytes as a string with each CRLF made LF, as MimeKit's decoding of a text part gives it.</summary>
    private static string AsciiWithUnixLineEnds(byte[] buffer, int length)
    {
        var crlf = 0;
        for (var i = 0; i + 1 < length; i++)
        {
            if (buffer[i] == (byte)'\r' && buffer[i + 1] == (byte)'\n')
            {
                crlf++;
            }
        }

        return string.Create(length - crlf, (buffer, length), static (chars, state) =>
        {
            var (bytes, n) = state;
            var o = 0;
            for (var i = 0; i < n; i++)
            {
                if (bytes[i] != (byte)'\r' || i + 1 == n || bytes[i + 1] != (byte)'\n')
                {
                    chars[o++] = (char)bytes[i];
                }
            }
        });
    }

    private static string Cap(StringBuilder text) =>
        text.Length > MaxTextChars ? text.ToString(0, MaxTextChars) : text.ToString();

    /// <summary>Text content of an HTML document (script and style dropped, entities decoded).</summary>
    internal static string HtmlToText(string html)
    {
        var text = new StringBuilder(html.Length / 2);
        using var reader = new StringReader(html);
        var tokenizer = new HtmlTokenizer(reader) { DecodeCharacterReferences = true };
        var skipDepth = 0;
        while (tokenizer.ReadNextToken(out var token) && text.Length < MaxTextChars)
        {
            switch (token)
            {
                case HtmlTagToken tag when tag.Id is HtmlTagId.Script or HtmlTagId.Style:
                    if (tag.IsEndTag)
                    {
                        skipDepth = Math.Max(0, skipDepth - 1);
                    }
                    else if (!tag.IsEmptyElement)
                    {
                        skipDepth++;
                    }

                    break;
                case HtmlTagToken tag when tag.Id is HtmlTagId.Br or HtmlTagId.P or HtmlTagId.Div or HtmlTagId.TR or HtmlTagId.LI:
                    text.Append('\n');
                    break;
                case HtmlScriptDataToken:
                    break;
                case HtmlDataToken data when skipDepth == 0:
                    text.Append(data.Data);
                    break;
            }
        }

        return text.ToString();
    }
}
