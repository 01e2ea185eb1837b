using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Rempart.SenderAuth.Spf;

/// <summary>The values SPF macros expand to (RFC 7208 7.2).</summary>
/// <param name="Sender">"local-part@domain" of the checked identity (s).</param>
/// <param name="Domain">The domain being evaluated now (d): changes across include and redirect.</param>
internal sealed record SpfMacroContext(string Sender, string Domain, IPAddress Ip, string Helo)
{
    public string LocalPart => Sender[..Sender.LastIndexOf('@')];

    public string SenderDomain => Sender[(Sender.LastIndexOf('@') + 1)..];

    /// <summary>Receiving host for %{r} in explanations.</summary>
    public string Receiver { get; init; } = "unknown";

    public DateTimeOffset Now { get; init; } = DateTimeOffset.UtcNow;
}

/// <summary>Thrown for a malformed macro: the record is a permerror (RFC 7208 7.1).</summary>
internal sealed class SpfMacroException(string message) : Exception(message);

/// <summary>SPF macro expansion (RFC 7208 7).</summary>
internal static class SpfMacro
{
    private const string Delimiters = ".-+,/_=";

    /// <summary>Checks the macro syntax without expanding (used when parsing a record).</summary>
    public static bool IsValidMacroString(string text, bool explanation)
    {
        try
        {
            _ = Expand(text, new SpfMacroContext("postmaster@example.com", "example.com", IPAddress.Loopback, "example.com"), explanation);
            return true;
        }
        catch (SpfMacroException)
        {
            return false;
        }
    }

    /// <summary>Expands a domain-spec and trims it to 253 characters from the left (RFC 7208 7.3).</summary>
    public static string ExpandDomain(string spec, SpfMacroContext context)
    {
        var expanded = Expand(spec, context, explanation: false).TrimEnd('.');
        while (expanded.Length > 253 && expanded.Contains('.', StringComparison.Ordinal))
        {
            expanded = expanded[(expanded.IndexOf('.', StringComparison.Ordinal) + 1)..];
        }

        return expanded;
    }

    public static string Expand(string text, SpfMacroContext context, bool explanation)
    {
        var sb = new StringBuilder(text.Length + 16);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c != '%')
            {
                sb.Append(c);
                continue;
            }

            if (++i >= text.Length)
            {
                throw new SpfMacroException("'%' at the end of a macro string");
            }

            switch (text[i])
            {
                case '%':
                    sb.Append('%');
                    break;
                case '_':
                    sb.Append(' ');
                    break;
                case '-':
                    sb.Append("%20");
                    break;
                case '{':
                    var close = text.IndexOf('}', i);
                    if (close < 0)
                    {
                        throw new SpfMacroException("unclosed '%{'");
                    }

                    sb.Append(ExpandOne(text[(i + 1)..close], context, explanation));
                    i = close;
                    break;
                default:
                    throw new SpfMacroException($"'%{text[i]}' is not a macro");
            }
        }

        return sb.ToString();
    }

    /// <summary>One "{letter digits r delimiters}" macro.</summary>
    private static string ExpandOne(string macro, SpfMacroContext context, bool explanation)
    {
        if (macro.Length == 0)
        {
            throw new SpfMacroException("empty '%{}'");
        }

        var letter = macro[0];
        var value = char.ToLowerInvariant(letter) switch
        {
            's' => context.Sender,
            'l' => context.LocalPart,
            'o' => context.SenderDomain,
            'd' => context.Domain,
            'i' => DottedAddress(context.Ip),

            // %{p} asks for a validated reverse name; RFC 7208 7.3 says it SHOULD NOT be used and "unknown" is allowed.
            'p' => "unknown",
            'v' => context.Ip.AddressFamily == AddressFamily.InterNetworkV6 ? "ip6" : "in-addr",
            'h' => context.Helo,
            'c' when explanation => context.Ip.ToString(),
            'r' when explanation => context.Receiver,
            't' when explanation => context.Now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture),
            _ => throw new SpfMacroException($"unknown macro letter '{letter}'"),
        };

        var pos = 1;
        var digitsStart = pos;
        while (pos < macro.Length && char.IsAsciiDigit(macro[pos]))
        {
            pos++;
        }

        int? keep = null;
        if (pos > digitsStart)
        {
            // RFC 7208 7.1: the digit transformer must be nonzero; a huge one just keeps every part.
            var digits = macro.AsSpan(digitsStart, pos - digitsStart);
            if (!digits.ContainsAnyExcept('0'))
            {
                throw new SpfMacroException("macro digit transformer must be 1 or more");
            }

            keep = int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) ? n : int.MaxValue;
        }

        var reverse = false;
        if (pos < macro.Length && macro[pos] is 'r' or 'R')
        {
            reverse = true;
            pos++;
        }

        var delimiters = macro[pos..];
        if (delimiters.Any(d => !Delimiters.Contains(d, StringComparison.Ordinal)))
        {
            throw new SpfMacroException($"bad macro delimiter in '%{{{macro}}}'");
        }

        if (keep is not null || reverse || delimiters.Length > 0)
        {
            var parts = value.Split(delimiters.Length > 0 ? delimiters.ToCharArray() : ['.']);
            if (reverse)
            {
                Array.Reverse(parts);
            }

            if (keep is { } k && k < parts.Length)
            {
                parts = parts[^k..];
            }

            value = string.Join('.', parts);
        }

        // RFC 7208 7.3: an uppercase macro letter means URL-escaping the value.
        return char.IsAsciiLetterUpper(letter) ? Uri.EscapeDataString(value) : value;
    }

    /// <summary>%{i}: dotted-quad for IPv4, dot-separated nibbles for IPv6 (RFC 7208 7.3).</summary>
    public static string DottedAddress(IPAddress ip)
    {
        if (ip.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return ip.ToString();
        }

        var bytes = ip.GetAddressBytes();
        var sb = new StringBuilder(63);
        foreach (var b in bytes)
        {
            if (sb.Length > 0)
            {
                sb.Append('.');
            }

            sb.Append("0123456789abcdef"[b >> 4]).Append('.').Append("0123456789abcdef"[b & 0xF]);
        }

        return sb.ToString();
    }
}
