using System.Buffers;
using System.Globalization;
using System.IO.Pipelines;
using System.Text;

namespace Rempart.Imap.Protocol;

/// <summary>
/// Writes responses (RFC 9051 section 7) into the connection's output pipe. Data is buffered until
/// <see cref="FlushAsync"/>; large literals are written straight from the source bytes.
/// </summary>
public sealed class ImapResponseWriter(PipeWriter output)
{
    private PipeWriter _output = output;

    /// <summary>Set after STARTTLS, when the connection has new pipes.</summary>
    public void Reset(PipeWriter output) => _output = output;

    /// <summary>Octets written since the last flush (so long FETCH responses can flush as they go).</summary>
    public long Pending { get; private set; }

    public void Raw(ReadOnlySpan<byte> bytes)
    {
        _output.Write(bytes);
        Pending += bytes.Length;
    }

    public void Raw(ReadOnlySequence<byte> bytes)
    {
        foreach (var segment in bytes)
        {
            Raw(segment.Span);
        }
    }

    public void Ascii(string text)
    {
        var count = Encoding.UTF8.GetByteCount(text);
        var span = _output.GetSpan(count);
        var written = Encoding.UTF8.GetBytes(text, span);
        _output.Advance(written);
        Pending += written;
    }

    public void Number(long value)
    {
        var span = _output.GetSpan(20);
        value.TryFormat(span, out var written, default, CultureInfo.InvariantCulture);
        _output.Advance(written);
        Pending += written;
    }

    public void Crlf() => Raw("\r\n"u8);

    /// <summary><c>* text CRLF</c>.</summary>
    public void Untagged(string text)
    {
        Raw("* "u8);
        Ascii(text);
        Crlf();
    }

    /// <summary><c>tag OK|NO|BAD text CRLF</c>.</summary>
    public void Tagged(string tag, string status, string text)
    {
        Ascii(tag);
        Raw(" "u8);
        Ascii(status);
        Raw(" "u8);
        Ascii(text);
        Crlf();
    }

    public void Continuation(string text)
    {
        Raw("+ "u8);
        Ascii(text);
        Crlf();
    }

    /// <summary>A literal: <c>{n}CRLF</c> then the octets.</summary>
    public void Literal(ReadOnlySpan<byte> data)
    {
        Raw("{"u8);
        Number(data.Length);
        Raw("}\r\n"u8);
        Raw(data);
    }

    /// <summary>An astring/nstring: quoted when safe, else a literal.</summary>
    public void String(string? value)
    {
        if (value is null)
        {
            Raw("NIL"u8);
            return;
        }

        Ascii(ImapText.Quote(value));
    }

    public async ValueTask FlushAsync(CancellationToken ct)
    {
        Pending = 0;
        var result = await _output.FlushAsync(ct);
        if (result.IsCompleted || result.IsCanceled)
        {
            throw new IOException("The client closed the connection.");
        }
    }
}

/// <summary>Small helpers for IMAP text: quoting, dates, flags.</summary>
public static class ImapText
{
    /// <summary>A quoted string, or a literal when the value has CR, LF, NUL or is long (RFC 9051 section 4.3).</summary>
    public static string Quote(string value)
    {
        var quotable = value.Length < 1024;
        var needsEscape = false;
        if (quotable)
        {
            foreach (var c in value)
            {
                if (c is '\r' or '\n' or '\0')
                {
                    quotable = false;
                    break;
                }

                needsEscape |= c is '"' or '\\';
            }
        }

        if (!quotable)
        {
            return "{" + Encoding.UTF8.GetByteCount(value).ToString(CultureInfo.InvariantCulture) + "}\r\n" + value;
        }

        if (!needsEscape)
        {
            return "\"" + value + "\"";
        }

        var sb = new StringBuilder(value.Length + 8).Append('"');
        foreach (var c in value)
        {
            if (c is '"' or '\\')
            {
                sb.Append('\\');
            }

            sb.Append(c);
        }

        return sb.Append('"').ToString();
    }

    /// <summary>A mailbox name as an astring: an atom when it can be one, else quoted.</summary>
    public static string Astring(string value)
    {
        if (value.Length == 0)
        {
            return "\"\"";
        }

        foreach (var c in value)
        {
            if (c <= ' ' || c >= 0x7f || c is '(' or ')' or '{' or '"' or '\\' or '%' or '*' or ']')
            {
                return Quote(value);
            }
        }

        return value;
    }

    private static readonly string[] s_months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

    /// <summary>RFC 9051 date-time: <c>"dd-Mon-yyyy hh:mm:ss +zzzz"</c>.</summary>
    public static string DateTime(DateTimeOffset value)
    {
        var offset = value.Offset;
        var sign = offset < TimeSpan.Zero ? '-' : '+';
        offset = offset.Duration();
        return string.Create(CultureInfo.InvariantCulture, $"\"{value.Day,2}-{s_months[value.Month - 1]}-{value.Year:D4} {value.Hour:D2}:{value.Minute:D2}:{value.Second:D2} {sign}{offset.Hours:D2}{offset.Minutes:D2}\"");
    }

    /// <summary>Parses RFC 9051 date (<c>1-Feb-1994</c>) as used by SEARCH.</summary>
    public static bool TryParseDate(string text, out DateOnly date)
    {
        date = default;
        var parts = text.Trim('"').Split('-');
        if (parts.Length != 3 || !int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var day)
            || !int.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var year))
        {
            return false;
        }

        var month = Array.FindIndex(s_months, m => m.Equals(parts[1], StringComparison.OrdinalIgnoreCase)) + 1;
        if (month == 0 || year < 1 || year > 9999 || day < 1 || day > System.DateTime.DaysInMonth(year, month))
        {
            return false;
        }

        date = new DateOnly(year, month, day);
        return true;
    }

    /// <summary>Parses RFC 9051 date-time (<c>"17-Jul-1996 02:44:25 -0700"</c>) as used by APPEND.</summary>
    public static bool TryParseDateTime(string text, out DateTimeOffset value)
    {
        value = default;
        var t = text.Trim();
        var parts = t.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length != 3 || !TryParseDate(parts[0], out var date))
        {
            return false;
        }

        var time = parts[1].Split(':');
        if (time.Length != 3
            || !int.TryParse(time[0], NumberStyles.None, CultureInfo.InvariantCulture, out var h) || h > 23
            || !int.TryParse(time[1], NumberStyles.None, CultureInfo.InvariantCulture, out var m) || m > 59
            || !int.TryParse(time[2], NumberStyles.None, CultureInfo.InvariantCulture, out var sec) || sec > 60)
        {
            return false;
        }

        var zone = parts[2];
        if (zone.Length != 5 || (zone[0] != '+' && zone[0] != '-')
            || !int.TryParse(zone.AsSpan(1, 2), NumberStyles.None, CultureInfo.InvariantCulture, out var zh)
            || !int.TryParse(zone.AsSpan(3, 2), NumberStyles.None, CultureInfo.InvariantCulture, out var zm) || zh > 14 || zm > 59)
        {
            return false;
        }

        var offset = new TimeSpan(zh, zm, 0);
        if (zone[0] == '-')
        {
            offset = -offset;
        }

        value = new DateTimeOffset(date.Year, date.Month, date.Day, h, m, Math.Min(sec, 59), offset);
        return true;
    }

    /// <summary>The flag list as <c>(\Seen $Label)</c>.</summary>
    public static string Flags(IEnumerable<string> flags) => "(" + string.Join(' ', flags) + ")";
}
