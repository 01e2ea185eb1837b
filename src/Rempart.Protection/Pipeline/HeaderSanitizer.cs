using System.Text;

namespace Rempart.Protection.Pipeline;

/// <summary>
/// Removes header fields a sender must not be able to forge before we add our own (RFC 8601 section 5: an
/// Authentication-Results field claiming our authserv-id that arrives from outside is deleted; our spam and antivirus
/// headers likewise). Works on the raw bytes and keeps every other byte as it was, so DKIM signatures still verify.
/// </summary>
public static class HeaderSanitizer
{
    /// <summary>Fields removed whatever their value.</summary>
    public static readonly IReadOnlyList<string> OwnFields = ["X-Rempart-Spam", "X-Rempart-Antivirus", "X-Rempart-Rules"];

    /// <summary>Returns the message without the forged fields, or the same memory when there is none.</summary>
    public static ReadOnlyMemory<byte> RemoveForged(ReadOnlyMemory<byte> message, string authServId)
    {
        ArgumentNullException.ThrowIfNull(authServId);
        var span = message.Span;
        List<(int Start, int End)>? drop = null;
        var pos = 0;
        while (pos < span.Length)
        {
            var lineEnd = LineEnd(span, pos);
            if (lineEnd == pos || (lineEnd - pos <= 2 && IsBlank(span[pos..lineEnd])))
            {
                break; // empty line: end of the header block
            }

            // A field is its first line plus continuation lines (starting with space or tab).
            var fieldEnd = lineEnd;
            while (fieldEnd < span.Length && span[fieldEnd] is (byte)' ' or (byte)'\t')
            {
                fieldEnd = LineEnd(span, fieldEnd);
            }

            if (ShouldDrop(span[pos..fieldEnd], authServId))
            {
                (drop ??= []).Add((pos, fieldEnd));
            }

            pos = fieldEnd;
        }

        if (drop is null)
        {
            return message;
        }

        var kept = new byte[message.Length - drop.Sum(d => d.End - d.Start)];
        var from = 0;
        var to = 0;
        foreach (var (start, end) in drop)
        {
            span[from..start].CopyTo(kept.AsSpan(to));
            to += start - from;
            from = end;
        }

        span[from..].CopyTo(kept.AsSpan(to));
        return kept;
    }

    private static bool ShouldDrop(ReadOnlySpan<byte> field, string authServId)
    {
        var colon = field.IndexOf((byte)':');
        if (colon <= 0)
        {
            return false;
        }

        var name = Encoding.ASCII.GetString(field[..colon]).Trim();
        if (OwnFields.Any(f => string.Equals(f, name, StringComparison.OrdinalIgnoreCase)))
        {
            return true;
        }

        if (!string.Equals(name, "Authentication-Results", StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        // The authserv-id is the first token of the value, before ';' (RFC 8601 section 2.2), possibly after a comment.
        var value = Encoding.UTF8.GetString(field[(colon + 1)..]);
        var semicolon = value.IndexOf(';', StringComparison.Ordinal);
        var id = (semicolon < 0 ? value : value[..semicolon]).Trim();
        var space = id.IndexOfAny([' ', '\t', '\r', '\n']);
        if (space > 0)
        {
            id = id[..space];
        }

        return string.Equals(id, authServId, StringComparison.OrdinalIgnoreCase);
    }

    private static int LineEnd(ReadOnlySpan<byte> span, int start)
    {
        var lf = span[start..].IndexOf((byte)'\n');
        return lf < 0 ? span.Length : start + lf + 1;
    }

    private static bool IsBlank(ReadOnlySpan<byte> line) => line.Trim("\r\n"u8).IsEmpty;
}
