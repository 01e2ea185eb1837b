using System.Globalization;
using System.Text;
using MimeKit;
using MimeKit.Utils;

namespace Rempart.Store.Mime;

/// <summary>
/// Builds the IMAP ENVELOPE and BODYSTRUCTURE of a message (RFC 9051 section 7.5.2) once, at delivery, so FETCH
/// never parses MIME for them. Owned by the IMAP work; the store calls it from its message analyzer.
/// </summary>
public static class ImapStructure
{
    /// <summary>The ENVELOPE list, as sent on the wire, parentheses included.</summary>
    public static string Envelope(MimeMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        var sb = new StringBuilder(256);
        AppendEnvelope(sb, message);
        return sb.ToString();
    }

    /// <summary>BODY and BODYSTRUCTURE lists, as sent on the wire; <paramref name="raw"/> is the message's bytes
    /// (sizes and line counts are of the raw octets).</summary>
    public static (string Body, string BodyStructure) Structure(MimeMessage message, ReadOnlyMemory<byte> raw)
    {
        ArgumentNullException.ThrowIfNull(message);

        // Offsets come from a parse of the raw bytes: the caller's MimeMessage may have been built from a stream
        // we cannot see, and sizes must be of the octets a client would fetch with BODY[section].
        var offsets = new Dictionary<MimeEntity, (long HeadersEnd, long End)>(ReferenceEqualityComparer.Instance);
        // Our own parse is ours to dispose (MimeKit's entities have finalizers); the caller's message is not.
        using var own = raw.IsEmpty ? null : ParseWithOffsets(raw, offsets);
        var parsed = own ?? message;
        var ctx = new Context(raw, offsets);
        var body = new StringBuilder(256);
        var full = new StringBuilder(512);
        AppendBody(body, parsed.Body, ctx, extended: false, depth: 0);
        AppendBody(full, parsed.Body, ctx, extended: true, depth: 0);
        return (body.ToString(), full.ToString());
    }

    private static MimeMessage ParseWithOffsets(ReadOnlyMemory<byte> raw, Dictionary<MimeEntity, (long HeadersEnd, long End)> offsets)
    {
        using var stream = new ReadOnlyMemoryStream(raw);
        var parser = new MimeParser(stream, MimeFormat.Entity);
        parser.MimeEntityEnd += (_, e) => offsets[e.Entity] = (e.HeadersEndOffset, e.EndOffset);
        return parser.ParseMessage();
    }

    private const int MaxDepth = 64;

    private sealed record Context(ReadOnlyMemory<byte> Raw, Dictionary<MimeEntity, (long HeadersEnd, long End)> Offsets)
    {
        public (long Size, long Lines) Measure(MimeEntity entity)
        {
            if (!Offsets.TryGetValue(entity, out var o) || Raw.IsEmpty)
            {
                return (0, 0);
            }

            var start = (int)Math.Clamp(o.HeadersEnd, 0, Raw.Length);
            var end = (int)Math.Clamp(o.End, start, Raw.Length);
            var span = Raw.Span[start..end];
            long lines = span.Count((byte)'\n');
            if (span.Length > 0 && span[^1] != (byte)'\n')
            {
                lines++;
            }

            return (span.Length, lines);
        }
    }

    private static void AppendBody(StringBuilder sb, MimeEntity? entity, Context ctx, bool extended, int depth)
    {
        if (entity is null || depth > MaxDepth)
        {
            sb.Append("(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)");
            return;
        }

        var type = entity.ContentType;
        if (entity is Multipart multipart)
        {
            sb.Append('(');
            if (multipart.Count == 0)
            {
                sb.Append("(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0)");
            }

            foreach (var child in multipart)
            {
                AppendBody(sb, child, ctx, extended, depth + 1);
            }

            sb.Append(' ');
            AppendString(sb, type.MediaSubtype);
            if (extended)
            {
                sb.Append(' ');
                AppendParams(sb, type);
                sb.Append(' ');
                AppendExtension(sb, entity);
            }

            sb.Append(')');
            return;
        }

        var (size, lines) = ctx.Measure(entity);
        sb.Append('(');
        AppendString(sb, type.MediaType);
        sb.Append(' ');
        AppendString(sb, type.MediaSubtype);
        sb.Append(' ');
        AppendParams(sb, type);
        sb.Append(' ');
        AppendNString(sb, RawHeader(entity.Headers, HeaderId.ContentId));
        sb.Append(' ');
        AppendNString(sb, RawHeader(entity.Headers, HeaderId.ContentDescription));
        sb.Append(' ');
        AppendString(sb, RawHeader(entity.Headers, HeaderId.ContentTransferEncoding) ?? "7bit");
        sb.Append(' ').Append(size.ToString(CultureInfo.InvariantCulture));

        var isMessage = type.IsMimeType("message", "rfc822") || type.IsMimeType("message", "global");
        if (isMessage && entity is MessagePart { Message: { } inner })
        {
            // RFC 9051 body-type-msg: envelope, body and line count of the encapsulated message.
            sb.Append(' ');
            AppendEnvelope(sb, inner);
            sb.Append(' ');
            AppendBody(sb, inner.Body, ctx, extended, depth + 1);
            sb.Append(' ').Append(lines.ToString(CultureInfo.InvariantCulture));
        }
        else if (type.MediaType.Equals("text", StringComparison.OrdinalIgnoreCase))
        {
            sb.Append(' ').Append(lines.ToString(CultureInfo.InvariantCulture));
        }

        if (extended)
        {
            sb.Append(' ');
            AppendNString(sb, RawHeader(entity.Headers, HeaderId.ContentMd5));
            sb.Append(' ');
            AppendExtension(sb, entity);
        }

        sb.Append(')');
    }

    /// <summary>body-fld-dsp SP body-fld-lang SP body-fld-loc.</summary>
    private static void AppendExtension(StringBuilder sb, MimeEntity entity)
    {
        var disposition = entity.ContentDisposition;
        if (disposition is null)
        {
            sb.Append("NIL");
        }
        else
        {
            sb.Append('(');
            AppendString(sb, disposition.Disposition);
            sb.Append(' ');
            AppendParameterList(sb, disposition.Parameters);
            sb.Append(')');
        }

        sb.Append(' ');
        var language = RawHeader(entity.Headers, HeaderId.ContentLanguage);
        if (language is null)
        {
            sb.Append("NIL");
        }
        else
        {
            var tags = language.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (tags.Length == 0)
            {
                sb.Append("NIL");
            }
            else
            {
                sb.Append('(');
                for (var i = 0; i < tags.Length; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(' ');
                    }

                    AppendString(sb, tags[i]);
                }

                sb.Append(')');
            }
        }

        sb.Append(' ');
        AppendNString(sb, RawHeader(entity.Headers, HeaderId.ContentLocation));
    }

    private static void AppendParams(StringBuilder sb, ContentType type)
    {
        var parameters = type.Parameters;
        var addCharset = type.MediaType.Equals("text", StringComparison.OrdinalIgnoreCase) && !parameters.Contains("charset");
        if (parameters.Count == 0 && !addCharset)
        {
            sb.Append("NIL");
            return;
        }

        sb.Append('(');
        var first = true;
        if (addCharset)
        {
            // RFC 2045 section 5.2: a text part without charset is US-ASCII; clients expect it spelled out.
            sb.Append("\"charset\" \"us-ascii\"");
            first = false;
        }

        foreach (var p in parameters)
        {
            if (!first)
            {
                sb.Append(' ');
            }

            first = false;
            AppendString(sb, p.Name);
            sb.Append(' ');
            AppendString(sb, p.Value ?? string.Empty);
        }

        sb.Append(')');
    }

    private static void AppendParameterList(StringBuilder sb, ParameterList parameters)
    {
        if (parameters.Count == 0)
        {
            sb.Append("NIL");
            return;
        }

        sb.Append('(');
        var first = true;
        foreach (var p in parameters)
        {
            if (!first)
            {
                sb.Append(' ');
            }

            first = false;
            AppendString(sb, p.Name);
            sb.Append(' ');
            AppendString(sb, p.Value ?? string.Empty);
        }

        sb.Append(')');
    }

    private static void AppendEnvelope(StringBuilder sb, MimeMessage message)
    {
        var headers = message.Headers;
        sb.Append('(');
        AppendNString(sb, RawHeader(headers, HeaderId.Date));
        sb.Append(' ');
        AppendNString(sb, RawHeader(headers, HeaderId.Subject));
        sb.Append(' ');
        var from = AddressHeader(headers, HeaderId.From);
        AppendAddresses(sb, from);
        sb.Append(' ');

        // RFC 3501 section 7.4.2: absent or empty Sender and Reply-To take the value of From.
        var sender = AddressHeader(headers, HeaderId.Sender);
        AppendAddresses(sb, sender is null || sender.Count == 0 ? from : sender);
        sb.Append(' ');
        var replyTo = AddressHeader(headers, HeaderId.ReplyTo);
        AppendAddresses(sb, replyTo is null || replyTo.Count == 0 ? from : replyTo);
        sb.Append(' ');
        AppendAddresses(sb, AddressHeader(headers, HeaderId.To));
        sb.Append(' ');
        AppendAddresses(sb, AddressHeader(headers, HeaderId.Cc));
        sb.Append(' ');
        AppendAddresses(sb, AddressHeader(headers, HeaderId.Bcc));
        sb.Append(' ');
        AppendNString(sb, RawHeader(headers, HeaderId.InReplyTo));
        sb.Append(' ');
        AppendNString(sb, RawHeader(headers, HeaderId.MessageId));
        sb.Append(')');
    }

    private static InternetAddressList? AddressHeader(HeaderList headers, HeaderId id)
    {
        var index = headers.IndexOf(id);
        if (index < 0)
        {
            return null;
        }

        var raw = headers[index].RawValue;
        return InternetAddressList.TryParse(ParserOptions.Default, raw, out var list) ? list : [];
    }

    private static void AppendAddresses(StringBuilder sb, InternetAddressList? list)
    {
        if (list is null || list.Count == 0)
        {
            sb.Append("NIL");
            return;
        }

        var start = sb.Length;
        sb.Append('(');
        var any = false;
        foreach (var address in list)
        {
            any |= AppendAddress(sb, address, 0);
        }

        if (!any)
        {
            sb.Length = start;
            sb.Append("NIL");
            return;
        }

        sb.Append(')');
    }

    private static bool AppendAddress(StringBuilder sb, InternetAddress address, int depth)
    {
        switch (address)
        {
            case MailboxAddress mailbox:
                sb.Append('(');
                AppendNString(sb, EncodeName(mailbox.Name));
                sb.Append(' ');
                AppendNString(sb, mailbox.Route.Count > 0 ? "@" + string.Join(",@", mailbox.Route) : null);
                sb.Append(' ');
                AppendNString(sb, mailbox.LocalPart.Length > 0 ? mailbox.LocalPart : null);
                sb.Append(' ');
                AppendNString(sb, mailbox.Domain.Length > 0 ? mailbox.Domain : null);
                sb.Append(')');
                return true;
            case GroupAddress group when depth < 4:
                // RFC 9051 section 7.5.2: a group is a start marker (NIL NIL name NIL), its members, then (NIL NIL NIL NIL).
                sb.Append("(NIL NIL ");
                AppendString(sb, EncodeName(group.Name) ?? string.Empty);
                sb.Append(" NIL)");
                foreach (var member in group.Members)
                {
                    AppendAddress(sb, member, depth + 1);
                }

                sb.Append("(NIL NIL NIL NIL)");
                return true;
            default:
                return false;
        }
    }

    /// <summary>Display names go out in RFC 2047 form when they are not plain ASCII, as the header carried them.</summary>
    private static string? EncodeName(string? name)
    {
        if (string.IsNullOrEmpty(name))
        {
            return null;
        }

        if (IsAscii(name))
        {
            return name;
        }

        return Encoding.ASCII.GetString(Rfc2047.EncodePhrase(Encoding.UTF8, name));
    }

    private static bool IsAscii(string s)
    {
        foreach (var c in s)
        {
            if (c > 0x7e)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The header's value as it appeared (encoded-words kept), unfolded and trimmed; null when absent.</summary>
    private static string? RawHeader(HeaderList headers, HeaderId id)
    {
        var index = headers.IndexOf(id);
        if (index < 0)
        {
            return null;
        }

        var raw = headers[index].RawValue;
        var text = Encoding.UTF8.GetString(raw);
        if (text.Contains('\r', StringComparison.Ordinal) || text.Contains('\n', StringComparison.Ordinal))
        {
            text = text.Replace("\r", string.Empty, StringComparison.Ordinal).Replace("\n", string.Empty, StringComparison.Ordinal);
        }

        return text.Trim();
    }

    private static void AppendNString(StringBuilder sb, string? value)
    {
        if (value is null)
        {
            sb.Append("NIL");
            return;
        }

        AppendString(sb, value);
    }

    /// <summary>A quoted string when possible, else a literal (8-bit text, CR or LF, very long values).</summary>
    internal static void AppendString(StringBuilder sb, string value)
    {
        var quotable = value.Length < 1024;
        if (quotable)
        {
            foreach (var c in value)
            {
                if (c is '\r' or '\n' or '\0' || c > 0x7e)
                {
                    quotable = false;
                    break;
                }
            }
        }

        if (quotable)
        {
            sb.Append('"');
            foreach (var c in value)
            {
                if (c is '"' or '\\')
                {
                    sb.Append('\\');
                }

                sb.Append(c);
            }

            sb.Append('"');
            return;
        }

        sb.Append('{').Append(Encoding.UTF8.GetByteCount(value).ToString(CultureInfo.InvariantCulture)).Append("}\r\n").Append(value);
    }

    private sealed class ReadOnlyMemoryStream(ReadOnlyMemory<byte> data) : Stream
    {
        private int _position;

        public override bool CanRead => true;

        public override bool CanSeek => true;

        public override bool CanWrite => false;

        public override long Length => data.Length;

        public override long Position
        {
            get => _position;
            set => _position = (int)Math.Clamp(value, 0, data.Length);
        }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> buffer)
        {
            var n = Math.Min(buffer.Length, data.Length - _position);
            data.Span.Slice(_position, n).CopyTo(buffer);
            _position += n;
            return n;
        }

        public override long Seek(long offset, SeekOrigin origin)
        {
            Position = origin switch
            {
                SeekOrigin.Begin => offset,
                SeekOrigin.Current => _position + offset,
                _ => data.Length + offset,
            };
            return _position;
        }

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
