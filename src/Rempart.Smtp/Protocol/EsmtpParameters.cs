using System.Globalization;
using System.Text;

namespace Rempart.Smtp.Protocol;

/// <summary>RFC 1652 / RFC 3030 BODY values.</summary>
public enum BodyType
{
    SevenBit,
    EightBitMime,
    BinaryMime,
}

/// <summary>Parameters of MAIL FROM (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8, RFC 3461 RET/ENVID, RFC 4954 AUTH, RFC 8689 REQUIRETLS).</summary>
public sealed record MailParameters
{
    public long? Size { get; init; }

    public BodyType Body { get; init; }

    public bool SmtpUtf8 { get; init; }

    /// <summary>"FULL" or "HDRS".</summary>
    public string? Ret { get; init; }

    /// <summary>ENVID, xtext-decoded.</summary>
    public string? EnvelopeId { get; init; }

    /// <summary>The AUTH= mailbox (xtext-decoded), "&lt;&gt;" when the submitter is unknown.</summary>
    public string? AuthMailbox { get; init; }

    public bool RequireTls { get; init; }
}

/// <summary>Parameters of RCPT TO (RFC 3461 NOTIFY and ORCPT).</summary>
public sealed record RcptParameters
{
    /// <summary>"NEVER" or a comma list of SUCCESS, FAILURE, DELAY, upper-case; null when absent.</summary>
    public string? Notify { get; init; }

    /// <summary>ORCPT as "addr-type;address" with the address xtext-decoded.</summary>
    public string? OriginalRecipient { get; init; }
}

/// <summary>Parses the esmtp-param list after a path (RFC 5321 section 4.1.2: esmtp-keyword ["=" esmtp-value]).</summary>
public static class EsmtpParameterParser
{
    /// <summary>Returns null on success, else the reply to send.</summary>
    public static SmtpReply? ParseMail(string text, out MailParameters parameters)
    {
        parameters = new MailParameters();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in Split(text))
        {
            if (key.Length == 0 || !IsKeyword(key) || !seen.Add(key))
            {
                return SmtpReply.ParameterSyntax;
            }

            switch (key.ToUpperInvariant())
            {
                case "SIZE":
                    if (value is null || value.Length > 20 || !long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var size))
                    {
                        return SmtpReply.ParameterSyntax;
                    }

                    parameters = parameters with { Size = size };
                    break;
                case "BODY":
                    var body = value?.ToUpperInvariant() switch
                    {
                        "7BIT" => BodyType.SevenBit,
                        "8BITMIME" => BodyType.EightBitMime,
                        "BINARYMIME" => BodyType.BinaryMime,
                        _ => (BodyType?)null,
                    };
                    if (body is null)
                    {
                        return new SmtpReply(501, "5.5.4", "BODY must be 7BIT, 8BITMIME or BINARYMIME");
                    }

                    parameters = parameters with { Body = body.Value };
                    break;
                case "SMTPUTF8":
                    if (value is not null)
                    {
                        return SmtpReply.ParameterSyntax;
                    }

                    parameters = parameters with { SmtpUtf8 = true };
                    break;
                case "REQUIRETLS":
                    if (value is not null)
                    {
                        return SmtpReply.ParameterSyntax;
                    }

                    parameters = parameters with { RequireTls = true };
                    break;
                case "RET":
                    var ret = value?.ToUpperInvariant();
                    if (ret is not ("FULL" or "HDRS"))
                    {
                        return SmtpReply.ParameterSyntax;
                    }

                    parameters = parameters with { Ret = ret };
                    break;
                case "ENVID":
                    // RFC 3461 section 4.4: at most 100 characters, xtext.
                    if (value is null || value.Length > 100 || XtextDecode(value) is not { } envid)
                    {
                        return SmtpReply.ParameterSyntax;
                    }

                    parameters = parameters with { EnvelopeId = envid };
                    break;
                case "AUTH":
                    if (value is null || XtextDecode(value) is not { } authMailbox)
                    {
                        return SmtpReply.ParameterSyntax;
                    }

                    parameters = parameters with { AuthMailbox = authMailbox };
                    break;
                default:
                    return SmtpReply.UnknownParameter;
            }
        }

        return null;
    }

    /// <summary>Returns null on success, else the reply to send.</summary>
    public static SmtpReply? ParseRcpt(string text, out RcptParameters parameters)
    {
        parameters = new RcptParameters();
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in Split(text))
        {
            if (key.Length == 0 || !IsKeyword(key) || !seen.Add(key))
            {
                return SmtpReply.ParameterSyntax;
            }

            switch (key.ToUpperInvariant())
            {
                case "NOTIFY":
                    if (value is null || NormalizeNotify(value) is not { } notify)
                    {
                        return SmtpReply.ParameterSyntax;
                    }

                    parameters = parameters with { Notify = notify };
                    break;
                case "ORCPT":
                    // RFC 3461 section 4.2: addr-type ";" xtext
                    var semicolon = value?.IndexOf(';', StringComparison.Ordinal) ?? -1;
                    if (value is null || semicolon <= 0 || value.Length > 500 || XtextDecode(value[(semicolon + 1)..]) is not { } orcpt)
                    {
                        return SmtpReply.ParameterSyntax;
                    }

                    parameters = parameters with { OriginalRecipient = value[..semicolon] + ";" + orcpt };
                    break;
                default:
                    return SmtpReply.UnknownParameter;
            }
        }

        return null;
    }

    /// <summary>Decodes RFC 3461 xtext ("+XX" hex escapes); null when malformed.</summary>
    public static string? XtextDecode(string value)
    {
        var sb = new StringBuilder(value.Length);
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c == '+')
            {
                // hexchar = "+" 2(DIGIT / "A"-"F")
                if (i + 2 >= value.Length || !IsUpperHex(value[i + 1]) || !IsUpperHex(value[i + 2])
                    || !byte.TryParse(value.AsSpan(i + 1, 2), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var b))
                {
                    return null;
                }

                sb.Append((char)b);
                i += 2;
            }
            else if (c is < '!' or > '~' or '=')
            {
                // RFC 6533 allows UTF-8 in ORCPT/ENVID under SMTPUTF8; keep non-ASCII as is.
                if (c <= '~')
                {
                    return null;
                }

                sb.Append(c);
            }
            else
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }

    private static bool IsUpperHex(char c) => char.IsAsciiDigit(c) || c is >= 'A' and <= 'F';

    private static string? NormalizeNotify(string value)
    {
        var parts = value.ToUpperInvariant().Split(',');
        var set = new List<string>();
        foreach (var p in parts)
        {
            if (p is not ("NEVER" or "SUCCESS" or "FAILURE" or "DELAY") || set.Contains(p))
            {
                return null;
            }

            set.Add(p);
        }

        // RFC 3461 section 4.1: NEVER must appear alone.
        if (set.Contains("NEVER") && set.Count > 1)
        {
            return null;
        }

        return string.Join(',', set);
    }

    private static bool IsKeyword(string key)
    {
        if (!char.IsAsciiLetterOrDigit(key[0]))
        {
            return false;
        }

        foreach (var c in key)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '-')
            {
                return false;
            }
        }

        return true;
    }

    private static IEnumerable<(string Key, string? Value)> Split(string text)
    {
        foreach (var token in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = token.IndexOf('=', StringComparison.Ordinal);
            yield return eq < 0 ? (token, null) : (token[..eq], token[(eq + 1)..]);
        }
    }
}

/// <summary>The argument of BDAT: chunk size and the LAST flag (RFC 3030 section 2).</summary>
public static class BdatArgumentParser
{
    public static bool TryParse(string argument, out long size, out bool last)
    {
        size = 0;
        last = false;
        var parts = argument.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is < 1 or > 2 || parts[0].Length > 18
            || !long.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out size))
        {
            return false;
        }

        if (parts.Length == 2)
        {
            if (!parts[1].Equals("LAST", StringComparison.OrdinalIgnoreCase))
            {
                return false;
            }

            last = true;
        }

        return true;
    }
}
