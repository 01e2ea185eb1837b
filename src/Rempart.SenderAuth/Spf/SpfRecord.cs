using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Rempart.SenderAuth.Spf;

internal enum SpfMechanismKind
{
    All,
    Include,
    A,
    Mx,
    Ptr,
    Ip4,
    Ip6,
    Exists,
}

/// <summary>One mechanism of an SPF record (RFC 7208 5).</summary>
/// <param name="Result">The qualifier turned into the result a match gives ("+" pass, "-" fail, "~" softfail, "?" neutral).</param>
/// <param name="DomainSpec">The unexpanded domain-spec (macros still in it), or null for "the current domain".</param>
/// <param name="Address">The network of ip4/ip6.</param>
internal sealed record SpfMechanism(SpfStatus Result, SpfMechanismKind Kind, string? DomainSpec, IPAddress? Address, int Cidr4, int Cidr6);

/// <summary>A parsed SPF record: its mechanisms in order and the redirect/exp modifiers (RFC 7208 6).</summary>
internal sealed partial record SpfRecord(IReadOnlyList<SpfMechanism> Mechanisms, string? Redirect, string? Explanation)
{
    /// <summary>RFC 7208 4.5: the record starts with "v=spf1" followed by a space or the end (case-insensitive).</summary>
    public static bool IsSpfRecord(string txt) =>
        txt.StartsWith("v=spf1", StringComparison.OrdinalIgnoreCase) && (txt.Length == 6 || txt[6] == ' ');

    /// <summary>Parses a whole record; any syntax error makes the record unusable (RFC 7208 4.6: permerror).</summary>
    public static bool TryParse(string txt, out SpfRecord record, out string? error)
    {
        record = new SpfRecord([], null, null);
        if (!IsSpfRecord(txt))
        {
            error = "not an SPF record (no v=spf1)";
            return false;
        }

        var mechanisms = new List<SpfMechanism>();
        string? redirect = null;
        string? exp = null;
        foreach (var term in txt[6..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var modifier = ModifierPattern().Match(term);
            if (modifier.Success)
            {
                var name = modifier.Groups["name"].Value.ToLowerInvariant();
                var value = modifier.Groups["value"].Value;
                if (!SpfMacro.IsValidMacroString(value, explanation: false))
                {
                    error = $"bad macro in \"{term}\"";
                    return false;
                }

                switch (name)
                {
                    // RFC 7208 6: redirect and exp may each appear once.
                    case "redirect" when redirect is not null:
                    case "exp" when exp is not null:
                        error = $"\"{name}\" appears twice";
                        return false;
                    case "redirect":
                        redirect = RequireDomainSpec(value, term, out error);
                        if (redirect is null)
                        {
                            return false;
                        }

                        break;
                    case "exp":
                        exp = RequireDomainSpec(value, term, out error);
                        if (exp is null)
                        {
                            return false;
                        }

                        break;
                    default:
                        // RFC 7208 6: unknown modifiers are ignored.
                        break;
                }

                continue;
            }

            var mechanism = ParseMechanism(term, out error);
            if (mechanism is null)
            {
                return false;
            }

            mechanisms.Add(mechanism);
        }

        record = new SpfRecord(mechanisms, redirect, exp);
        error = null;
        return true;
    }

    private static string? RequireDomainSpec(string value, string term, out string? error)
    {
        error = value.Length == 0 ? $"\"{term}\" has no domain" : null;
        return value.Length == 0 ? null : value;
    }

    private static SpfMechanism? ParseMechanism(string term, out string? error)
    {
        error = null;
        var result = term[0] switch
        {
            '+' => SpfStatus.Pass,
            '-' => SpfStatus.Fail,
            '~' => SpfStatus.SoftFail,
            '?' => SpfStatus.Neutral,
            _ => (SpfStatus?)null,
        };
        var body = result is null ? term : term[1..];
        result ??= SpfStatus.Pass;

        var nameEnd = body.IndexOfAny([':', '/']);
        var name = (nameEnd < 0 ? body : body[..nameEnd]).ToLowerInvariant();
        var rest = nameEnd < 0 ? "" : body[nameEnd..];

        switch (name)
        {
            case "all" when rest.Length == 0:
                return new SpfMechanism(result.Value, SpfMechanismKind.All, null, null, 32, 128);
            case "include" or "exists":
                if (!rest.StartsWith(':') || rest.Length == 1 || !SpfMacro.IsValidMacroString(rest[1..], explanation: false))
                {
                    error = $"\"{term}\" needs a domain (\"{name}:example.com\")";
                    return null;
                }

                return new SpfMechanism(result.Value, name == "include" ? SpfMechanismKind.Include : SpfMechanismKind.Exists, rest[1..], null, 32, 128);
            case "a" or "mx":
            {
                var m = DualCidrPattern().Match(rest);
                var spec = m.Groups["spec"].Success ? m.Groups["spec"].Value : null;
                if (!m.Success || (spec is not null && (spec.Length == 0 || !SpfMacro.IsValidMacroString(spec, explanation: false)))
                    || !TryCidr(m.Groups["c4"], 32, out var c4) || !TryCidr(m.Groups["c6"], 128, out var c6))
                {
                    error = $"bad mechanism \"{term}\"";
                    return null;
                }

                return new SpfMechanism(result.Value, name == "a" ? SpfMechanismKind.A : SpfMechanismKind.Mx, spec, null, c4, c6);
            }

            case "ptr":
                if (rest.Length > 0 && (!rest.StartsWith(':') || rest.Length == 1 || !SpfMacro.IsValidMacroString(rest[1..], explanation: false)))
                {
                    error = $"bad mechanism \"{term}\"";
                    return null;
                }

                return new SpfMechanism(result.Value, SpfMechanismKind.Ptr, rest.Length > 0 ? rest[1..] : null, null, 32, 128);
            case "ip4" or "ip6":
            {
                var v6 = name == "ip6";
                if (!rest.StartsWith(':'))
                {
                    error = $"\"{term}\" needs an address";
                    return null;
                }

                var value = rest[1..];
                var slash = value.IndexOf('/', StringComparison.Ordinal);
                var addressText = slash < 0 ? value : value[..slash];
                var max = v6 ? 128 : 32;
                var prefix = max;
                if ((slash >= 0 && (!int.TryParse(value[(slash + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > max))
                    || !IPAddress.TryParse(addressText, out var address)
                    || address.AddressFamily != (v6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork)
                    || (!v6 && addressText.Count(c => c == '.') != 3))
                {
                    error = $"bad address in \"{term}\"";
                    return null;
                }

                return new SpfMechanism(result.Value, v6 ? SpfMechanismKind.Ip6 : SpfMechanismKind.Ip4, null, address, v6 ? 32 : prefix, v6 ? prefix : 128);
            }

            default:
                // RFC 7208 5: an unknown mechanism is a permerror (the record cannot be evaluated safely).
                error = $"unknown mechanism \"{term}\"";
                return null;
        }
    }

    private static bool TryCidr(Group group, int max, out int value)
    {
        value = max;
        return !group.Success
            || (int.TryParse(group.Value, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value <= max);
    }

    /// <summary>RFC 7208 12: name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ), then "=".</summary>
    [GeneratedRegex(@"^(?<name>[A-Za-z][A-Za-z0-9\-_.]*)=(?<value>.*)$", RegexOptions.CultureInvariant)]
    private static partial Regex ModifierPattern();

    /// <summary>":domain-spec" then an optional "/ip4-cidr" and "//ip6-cidr" (RFC 7208 5.3, 5.4).</summary>
    [GeneratedRegex(@"^(?::(?<spec>[^/]*))?(?:/(?<c4>[0-9]{1,2}))?(?://(?<c6>[0-9]{1,3}))?$", RegexOptions.CultureInvariant)]
    private static partial Regex DualCidrPattern();
}
