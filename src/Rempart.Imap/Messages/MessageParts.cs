using System.Text;
using MimeKit;

namespace Rempart.Imap.Messages;

/// <summary>
/// The byte ranges of a message's MIME parts, for FETCH BODY[section] (RFC 9051 section 6.4.5): parsed once per
/// fetch from the stored raw bytes, sections are slices of those bytes (never re-encoded). Dispose it when the fetch is
/// written: MimeKit's parsed entities have finalizers, and an undisposed parse survives a GC on its way to them.
/// </summary>
public sealed class MessageParts : IDisposable
{
    private readonly Dictionary<MimeEntity, (long Begin, long HeadersEnd, long End)> _entities = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<MimeMessage, (long Begin, long HeadersEnd, long End)> _messages = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<MimeMessage, long> _messageBegins = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<MimeEntity, long> _entityBegins = new(ReferenceEqualityComparer.Instance);

    private MessageParts(ReadOnlyMemory<byte> raw)
    {
        Raw = raw;
        using var stream = new MemoryStream(raw.ToArray(), writable: false);
        var parser = new MimeParser(stream, MimeFormat.Entity);
        parser.MimeMessageBegin += (_, e) => _messageBegins[e.Message] = e.BeginOffset;
        parser.MimeMessageEnd += (_, e) => _messages[e.Message] = (_messageBegins.GetValueOrDefault(e.Message), e.HeadersEndOffset, e.EndOffset);
        parser.MimeEntityBegin += (_, e) => _entityBegins[e.Entity] = e.BeginOffset;
        parser.MimeEntityEnd += (_, e) => _entities[e.Entity] = (_entityBegins.GetValueOrDefault(e.Entity), e.HeadersEndOffset, e.EndOffset);
        Message = parser.ParseMessage();
    }

    public ReadOnlyMemory<byte> Raw { get; }

    public MimeMessage Message { get; }

    public static MessageParts Parse(ReadOnlyMemory<byte> raw) => new(raw);

    public void Dispose() => Message.Dispose();

    /// <summary>Parses a section spec (the text between the brackets). False when it is not valid syntax.</summary>
    public static bool TryParseSection(string spec, out SectionSpec section)
    {
        section = new SectionSpec([], SectionKind.Full, []);
        var numbers = new List<int>();
        var rest = spec;
        while (rest.Length > 0 && char.IsAsciiDigit(rest[0]))
        {
            var dot = rest.IndexOf('.', StringComparison.Ordinal);
            var token = dot < 0 ? rest : rest[..dot];
            if (!int.TryParse(token, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n) || n < 1 || numbers.Count >= 32)
            {
                return false;
            }

            numbers.Add(n);
            rest = dot < 0 ? string.Empty : rest[(dot + 1)..];
            if (dot >= 0 && rest.Length == 0)
            {
                return false;
            }
        }

        var upper = rest.ToUpperInvariant();
        SectionKind kind;
        string[] fields = [];
        if (upper.Length == 0)
        {
            kind = SectionKind.Full;
        }
        else if (upper == "HEADER")
        {
            kind = SectionKind.Header;
        }
        else if (upper == "TEXT")
        {
            kind = SectionKind.Text;
        }
        else if (upper == "MIME" && numbers.Count > 0)
        {
            kind = SectionKind.Mime;
        }
        else if (upper.StartsWith("HEADER.FIELDS", StringComparison.Ordinal))
        {
            var not = upper.StartsWith("HEADER.FIELDS.NOT", StringComparison.Ordinal);
            kind = not ? SectionKind.HeaderFieldsNot : SectionKind.HeaderFields;
            var list = rest[(not ? 17 : 13)..].Trim();
            if (list.Length < 2 || list[0] != '(' || list[^1] != ')')
            {
                return false;
            }

            fields = list[1..^1].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(f => f.Trim('"')).ToArray();
            if (fields.Length == 0)
            {
                return false;
            }
        }
        else
        {
            return false;
        }

        section = new SectionSpec([.. numbers], kind, fields);
        return true;
    }

    /// <summary>The octets of a section, or null when the message has no such part.</summary>
    public ReadOnlyMemory<byte>? Get(SectionSpec section)
    {
        MimeMessage message = Message;
        MimeEntity? entity = null;
        if (section.Parts.Length > 0)
        {
            entity = Navigate(section.Parts);
            if (entity is null)
            {
                return null;
            }

            if (section.Kind is SectionKind.Header or SectionKind.Text or SectionKind.HeaderFields or SectionKind.HeaderFieldsNot)
            {
                // HEADER/TEXT of a part only exist for an encapsulated message (RFC 9051 section 6.4.5).
                if (entity is not MessagePart { Message: { } inner })
                {
                    return null;
                }

                message = inner;
                entity = null;
            }
        }

        if (entity is not null)
        {
            if (!_entities.TryGetValue(entity, out var e))
            {
                return null;
            }

            return section.Kind == SectionKind.Mime ? Slice(e.Begin, e.HeadersEnd) : Slice(e.HeadersEnd, e.End);
        }

        if (!_messages.TryGetValue(message, out var m))
        {
            return null;
        }

        return section.Kind switch
        {
            SectionKind.Full => Slice(m.Begin, m.End),
            SectionKind.Header => Slice(m.Begin, m.HeadersEnd),
            SectionKind.Text => Slice(m.HeadersEnd, m.End),
            SectionKind.HeaderFields => FilterHeader(Slice(m.Begin, m.HeadersEnd), section.Fields, keep: true),
            SectionKind.HeaderFieldsNot => FilterHeader(Slice(m.Begin, m.HeadersEnd), section.Fields, keep: false),
            _ => null,
        };
    }

    /// <summary>The MIME entity a part number designates (RFC 9051 section 6.4.5 part numbering).</summary>
    public MimeEntity? Navigate(int[] parts)
    {
        MimeEntity? entity = Message.Body;
        var atMessageBody = true;
        for (var i = 0; i < parts.Length; i++)
        {
            var k = parts[i];
            if (entity is Multipart multipart)
            {
                if (k > multipart.Count)
                {
                    return null;
                }

                entity = multipart[k - 1];
            }
            else if (!(atMessageBody && k == 1))
            {
                return null;
            }

            atMessageBody = false;
            if (i + 1 < parts.Length && entity is MessagePart { Message: { } inner })
            {
                entity = inner.Body;
                atMessageBody = true;
            }
        }

        return entity;
    }

    private ReadOnlyMemory<byte> Slice(long from, long to)
    {
        var a = (int)Math.Clamp(from, 0, Raw.Length);
        var b = (int)Math.Clamp(to, a, Raw.Length);
        return Raw[a..b];
    }

    /// <summary>Header lines whose names are (or are not) in the list, unfolded lines kept whole, plus the blank line.</summary>
    public static ReadOnlyMemory<byte> FilterHeader(ReadOnlyMemory<byte> header, string[] fields, bool keep)
    {
        var output = new MemoryStream();
        var span = header.Span;
        var i = 0;
        var include = false;
        while (i < span.Length)
        {
            var lf = span[i..].IndexOf((byte)'\n');
            var end = lf < 0 ? span.Length : i + lf + 1;
            var line = span[i..end];
            var isBlank = line.Length <= 2 && (line.Length == 0 || line[0] is (byte)'\r' or (byte)'\n');
            if (isBlank)
            {
                break;
            }

            if (line[0] is not ((byte)' ' or (byte)'\t'))
            {
                var colon = line.IndexOf((byte)':');
                var name = colon < 0 ? string.Empty : Encoding.ASCII.GetString(line[..colon]).Trim();
                var listed = fields.Any(f => f.Equals(name, StringComparison.OrdinalIgnoreCase));
                include = listed == keep && colon > 0;
            }

            if (include)
            {
                output.Write(line);
            }

            i = end;
        }

        output.Write("\r\n"u8);
        return output.ToArray();
    }
}

public enum SectionKind
{
    Full,
    Header,
    HeaderFields,
    HeaderFieldsNot,
    Text,
    Mime,
}

/// <summary>A parsed FETCH section: part numbers, what of the part, and header field names.</summary>
public sealed record SectionSpec(int[] Parts, SectionKind Kind, string[] Fields);
