using System.Globalization;

namespace Rempart.Monitoring.Probes;

/// <summary>
/// Probe targets written as URLs: <c>smtp://host:25</c>, <c>smtps://host</c> (465), <c>submission://user@host</c>
/// (587, STARTTLS), <c>imap://</c> (143), <c>imaps://</c> (993), <c>pop3://</c> (110), <c>pop3s://</c> (995),
/// <c>http://host/path</c>, <c>https://host/path</c>. A "+starttls" suffix on smtp, imap or pop3 asks for STARTTLS
/// (<c>imap+starttls://host</c>). The user may be a whole address (<c>imaps://probe@example.com@mail.example.com</c>:
/// the last "@" ends it) or percent-encoded. A password is never accepted in the URL.
/// </summary>
public static class ProbeUri
{
    /// <summary>Parses <paramref name="text"/>; on failure returns false with a message saying what is wrong.</summary>
    /// <param name="startTls">Use STARTTLS for plain smtp, imap and pop3 targets (the CLI's --starttls).</param>
    public static bool TryParse(string text, bool startTls, out ProbeTarget? target, out string error)
    {
        target = null;
        error = "";
        var value = text.Trim();
        var schemeEnd = value.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd <= 0)
        {
            error = $"'{text}' is not a probe URL: write it as scheme://host[:port], e.g. smtp://mx.example.com:25 or imaps://user@mail.example.com";
            return false;
        }

        var scheme = value[..schemeEnd].ToLowerInvariant();
        var explicitStartTls = scheme.EndsWith("+starttls", StringComparison.Ordinal);
        if (explicitStartTls)
        {
            scheme = scheme[..^"+starttls".Length];
        }

        (string Protocol, int Port, ProbeTls Tls)? known = scheme switch
        {
            "smtp" => ("smtp", 25, ProbeTls.None),
            "smtps" => ("smtp", 465, ProbeTls.Implicit),
            "submission" => ("smtp", 587, ProbeTls.StartTls),
            "submissions" => ("smtp", 465, ProbeTls.Implicit),
            "imap" => ("imap", 143, ProbeTls.None),
            "imaps" => ("imap", 993, ProbeTls.Implicit),
            "pop3" or "pop" => ("pop3", 110, ProbeTls.None),
            "pop3s" or "pops" => ("pop3", 995, ProbeTls.Implicit),
            "http" => ("http", 80, ProbeTls.None),
            "https" => ("http", 443, ProbeTls.Implicit),
            _ => null,
        };
        if (known is not { } k)
        {
            error = $"'{text}': unknown scheme '{scheme}' (smtp, smtps, submission, imap, imaps, pop3, pop3s, http, https)";
            return false;
        }

        var tls = k.Tls;
        if ((explicitStartTls || startTls) && tls == ProbeTls.None && k.Protocol != "http")
        {
            tls = ProbeTls.StartTls;
        }
        else if (explicitStartTls && tls != ProbeTls.StartTls)
        {
            error = $"'{text}': +starttls only applies to smtp, imap and pop3";
            return false;
        }

        var rest = value[(schemeEnd + 3)..];
        var slash = rest.IndexOfAny(['/', '?', '#']);
        var authority = slash < 0 ? rest : rest[..slash];
        var path = slash < 0 ? "/" : rest[slash..];
        if (path.Length > 0 && path[0] != '/')
        {
            path = "/" + path;
        }

        if (k.Protocol != "http" && path != "/")
        {
            error = $"'{text}': a path only applies to http and https";
            return false;
        }

        string? user = null;
        var at = authority.LastIndexOf('@');
        if (at >= 0)
        {
            var userInfo = authority[..at];
            authority = authority[(at + 1)..];
            if (userInfo.Contains(':', StringComparison.Ordinal))
            {
                error = $"'{text}': a password in the URL would be visible to every user of this machine; pass it with --password-stdin or REMPART_PROBE_PASSWORD";
                return false;
            }

            user = Uri.UnescapeDataString(userInfo);
            if (user.Length == 0)
            {
                error = $"'{text}': empty user name before '@'";
                return false;
            }
        }

        string host;
        var port = k.Port;
        string? portText = null;
        if (authority.StartsWith('['))
        {
            var close = authority.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                error = $"'{text}': missing ']' after the IPv6 address";
                return false;
            }

            host = authority[1..close];
            var after = authority[(close + 1)..];
            if (after.Length > 0)
            {
                if (after[0] != ':')
                {
                    error = $"'{text}': unexpected '{after}' after the IPv6 address";
                    return false;
                }

                portText = after[1..];
            }
        }
        else
        {
            var colon = authority.LastIndexOf(':');
            host = colon < 0 ? authority : authority[..colon];
            portText = colon < 0 ? null : authority[(colon + 1)..];
        }

        if (host.Length == 0 || host.Any(c => char.IsWhiteSpace(c) || c is '/' or '@'))
        {
            error = $"'{text}': missing or invalid host";
            return false;
        }

        if (portText is not null && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
        {
            error = $"'{text}': port '{portText}' is not a number from 1 to 65535";
            return false;
        }

        target = new ProbeTarget(k.Protocol, host, port, tls, User: user, Path: path);
        return true;
    }
}
