using System.Net;
using System.Text;

namespace Rempart.Smtp.Protocol;

/// <summary>
/// A parsed mailbox from a MAIL or RCPT path (RFC 5321 section 4.1.2). The flags record the shapes that relay policy
/// must treat with suspicion: source routes, quoted local parts, address literals and routing characters.
/// </summary>
/// <param name="LocalPart">The local part as it appeared (quotes kept when quoted).</param>
/// <param name="Domain">The domain, or the bracketed address literal.</param>
public sealed record SmtpAddress(string LocalPart, string Domain, bool IsQuoted, bool IsAddressLiteral, bool HasSourceRoute, bool IsUtf8)
{
    /// <summary>local@domain, the form used for lookups and the queue.</summary>
    public string Address => LocalPart + "@" + Domain;

    /// <summary>
    /// True when the local part could make a downstream host relay: '%' (the "percent hack"), '!' (UUCP bang path),
    /// or an '@' inside a quoted local part.
    /// </summary>
    public bool HasRoutingCharacters => LocalPart.AsSpan().IndexOfAny('%', '!', '@') >= 0;

    public override string ToString() => Address;
}

public enum PathError
{
    None,
    Syntax,
    TooLong,
}

/// <summary>Parser for reverse-path and forward-path (RFC 5321 section 4.1.2; RFC 6531 for UTF-8).</summary>
public static class SmtpPathParser
{
    // RFC 5321 section 4.5.3.1.
    private const int MaxLocalPart = 64;
    private const int MaxDomain = 255;
    private const int MaxPath = 256;

    /// <summary>
    /// Parses "&lt;path&gt;" at the start of <paramref name="text"/>. <paramref name="address"/> is null for the
    /// null reverse-path "&lt;&gt;" (only when <paramref name="allowNull"/>). <paramref name="rest"/> receives the text
    /// after the closing bracket (the ESMTP parameters).
    /// </summary>
    public static PathError TryParse(string text, bool allowNull, out SmtpAddress? address, out string rest)
    {
        address = null;
        rest = string.Empty;
        var s = text.AsSpan().TrimStart(' ');
        if (s.Length < 2 || s[0] != '<')
        {
            return PathError.Syntax;
        }

        var close = FindClose(s);
        if (close < 0)
        {
            return PathError.Syntax;
        }

        var inner = s[1..close];
        rest = s[(close + 1)..].Trim(' ').ToString();
        if (close + 1 < s.Length && s[close + 1] != ' ')
        {
            return PathError.Syntax;
        }

        if (inner.Length == 0)
        {
            return allowNull ? PathError.None : PathError.Syntax;
        }

        if (Encoding.UTF8.GetByteCount(inner) + 2 > MaxPath)
        {
            return PathError.TooLong;
        }

        var hasRoute = false;
        if (inner[0] == '@')
        {
            // A-d-l ":" Mailbox. RFC 5321 section 4.1.1.3 says to ignore source routes; policy decides what to do
            // with an address that carries one, so it is recorded.
            var colon = inner.IndexOf(':');
            if (colon < 0 || !IsValidAdl(inner[..colon]))
            {
                return PathError.Syntax;
            }

            hasRoute = true;
            inner = inner[(colon + 1)..];
        }

        var error = ParseMailbox(inner, out var parsed);
        if (error != PathError.None || parsed is null)
        {
            return error == PathError.None ? PathError.Syntax : error;
        }

        address = parsed with { HasSourceRoute = hasRoute };
        return PathError.None;
    }

    /// <summary>Parses a bare mailbox (local@domain) without angle brackets.</summary>
    public static PathError ParseMailbox(ReadOnlySpan<char> mailbox, out SmtpAddress? address)
    {
        address = null;
        int at;
        bool quoted;
        if (mailbox.Length > 0 && mailbox[0] == '"')
        {
            var end = QuotedStringEnd(mailbox);
            if (end < 0 || end + 1 >= mailbox.Length || mailbox[end + 1] != '@')
            {
                return PathError.Syntax;
            }

            at = end + 1;
            quoted = true;
        }
        else
        {
            at = mailbox.LastIndexOf('@');
            if (at <= 0 || !IsDotString(mailbox[..at]))
            {
                return PathError.Syntax;
            }

            quoted = false;
        }

        var local = mailbox[..at];
        var domain = mailbox[(at + 1)..];
        if (Encoding.UTF8.GetByteCount(local) > MaxLocalPart || Encoding.UTF8.GetByteCount(domain) > MaxDomain)
        {
            return PathError.TooLong;
        }

        bool literal;
        if (domain.Length > 0 && domain[0] == '[')
        {
            if (!IsAddressLiteral(domain))
            {
                return PathError.Syntax;
            }

            literal = true;
        }
        else
        {
            if (!IsDomain(domain))
            {
                return PathError.Syntax;
            }

            literal = false;
        }

        var utf8 = !Ascii.IsValid(local) || !Ascii.IsValid(domain);
        address = new SmtpAddress(local.ToString(), domain.ToString(), quoted, literal, HasSourceRoute: false, utf8);
        return PathError.None;
    }

    private static int FindClose(ReadOnlySpan<char> s)
    {
        var inQuotes = false;
        for (var i = 1; i < s.Length; i++)
        {
            var c = s[i];
            if (inQuotes)
            {
                if (c == '\\')
                {
                    i++;
                }
                else if (c == '"')
                {
                    inQuotes = false;
                }
            }
            else if (c == '"')
            {
                inQuotes = true;
            }
            else if (c == '>')
            {
                return i;
            }
        }

        return -1;
    }

    private static int QuotedStringEnd(ReadOnlySpan<char> s)
    {
        for (var i = 1; i < s.Length; i++)
        {
            var c = s[i];
            if (c == '\\')
            {
                // quoted-pairSMTP = %d92 %d32-126
                if (i + 1 >= s.Length || s[i + 1] < 32 || s[i + 1] == 127)
                {
                    return -1;
                }

                i++;
            }
            else if (c == '"')
            {
                return i;
            }
            else if (c < 32 || c == 127)
            {
                return -1;
            }
        }

        return -1;
    }

    private static bool IsValidAdl(ReadOnlySpan<char> adl)
    {
        foreach (var range in adl.Split(','))
        {
            var part = adl[range];
            if (part.Length < 2 || part[0] != '@' || !IsDomain(part[1..]))
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsDotString(ReadOnlySpan<char> s)
    {
        if (s.Length == 0 || s[0] == '.' || s[^1] == '.')
        {
            return false;
        }

        var previousDot = false;
        foreach (var c in s)
        {
            if (c == '.')
            {
                if (previousDot)
                {
                    return false;
                }

                previousDot = true;
                continue;
            }

            previousDot = false;
            if (!IsAtext(c))
            {
                return false;
            }
        }

        return true;
    }

    // RFC 5322 atext, extended by RFC 6531 with UTF-8 non-ASCII characters.
    private static bool IsAtext(char c) => c > 127
        ? !char.IsControl(c)
        : char.IsAsciiLetterOrDigit(c) || "!#$%&'*+-/=?^_`{|}~".Contains(c, StringComparison.Ordinal);

    private static bool IsDomain(ReadOnlySpan<char> s)
    {
        if (s.Length == 0 || s[^1] == '.')
        {
            return false;
        }

        foreach (var range in s.Split('.'))
        {
            var label = s[range];
            if (label.Length == 0 || label.Length > 63 || label[0] == '-' || label[^1] == '-')
            {
                return false;
            }

            foreach (var c in label)
            {
                // Let-dig / Ldh-str, or U-label characters under SMTPUTF8 (RFC 6531 section 3.3).
                if (!(char.IsAsciiLetterOrDigit(c) || c == '-' || (c > 127 && char.IsLetterOrDigit(c)) || (c > 127 && char.GetUnicodeCategory(c) is System.Globalization.UnicodeCategory.NonSpacingMark or System.Globalization.UnicodeCategory.SpacingCombiningMark)))
                {
                    return false;
                }
            }
        }

        return true;
    }

    private static bool IsAddressLiteral(ReadOnlySpan<char> s)
    {
        if (s.Length < 3 || s[^1] != ']')
        {
            return false;
        }

        var inner = s[1..^1];
        if (inner.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase))
        {
            return IPAddress.TryParse(inner[5..], out var v6) && v6.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        }

        var colon = inner.IndexOf(':');
        if (colon > 0)
        {
            // General-address-literal = Standardized-tag ":" 1*dcontent
            foreach (var c in inner[(colon + 1)..])
            {
                if (c is < (char)33 or > (char)126 or '[' or ']' or '\\')
                {
                    return false;
                }
            }

            return true;
        }

        var dots = 0;
        foreach (var c in inner)
        {
            if (c == '.')
            {
                dots++;
            }
            else if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        return dots == 3 && IPAddress.TryParse(inner, out var v4) && v4.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork;
    }
}
