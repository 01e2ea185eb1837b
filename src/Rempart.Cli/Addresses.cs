namespace Rempart.Cli;

/// <summary>
/// Checks the names an administrator types. Addresses are stored lower-case; internationalised names must be given in
/// their ASCII (xn--) form.
/// </summary>
internal static class Addresses
{
    // RFC 5322 section 3.2.3 atext, the characters of a dot-atom local part besides letters and digits.
    private const string AtextSpecials = "!#$%&'*+-/=?^_`{|}~";

    /// <summary>Returns the lower-case domain or throws a usage error saying what is wrong.</summary>
    public static string Domain(string value)
    {
        var d = value.Trim().TrimEnd('.').ToLowerInvariant();
        var problem = DomainProblem(d);
        return problem is null ? d : throw CliException.Usage($"'{value}' is not a valid domain name: {problem}.");
    }

    /// <summary>Returns the lower-case address (local@domain) or throws a usage error saying what is wrong.</summary>
    public static string Address(string value)
    {
        var a = value.Trim().ToLowerInvariant();
        var at = a.LastIndexOf('@');
        if (at <= 0 || at == a.Length - 1)
        {
            throw CliException.Usage($"'{value}' is not an address; write it as local@domain, for example alice@example.com.");
        }

        var local = a[..at];
        var problem = LocalPartProblem(local) ?? DomainProblem(a[(at + 1)..]);
        return problem is null ? a : throw CliException.Usage($"'{value}' is not a valid address: {problem}.");
    }

    public static string DomainOf(string address) => address[(address.LastIndexOf('@') + 1)..];

    private static string? LocalPartProblem(string local)
    {
        // RFC 5321 section 4.5.3.1.1: at most 64 octets.
        if (local.Length > 64)
        {
            return "the part before @ is longer than 64 characters";
        }

        if (local.StartsWith('.') || local.EndsWith('.') || local.Contains("..", StringComparison.Ordinal))
        {
            return "the part before @ cannot start or end with a dot or hold two dots in a row";
        }

        foreach (var c in local)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '.' && !AtextSpecials.Contains(c, StringComparison.Ordinal))
            {
                return $"the character '{c}' is not allowed before @";
            }
        }

        return null;
    }

    private static string? DomainProblem(string d)
    {
        if (d.Length == 0)
        {
            return "it is empty";
        }

        // RFC 1035 section 2.3.4: 253 characters in text form, labels of 1 to 63.
        if (d.Length > 253)
        {
            return "it is longer than 253 characters";
        }

        foreach (var label in d.Split('.'))
        {
            if (label.Length == 0)
            {
                return "it has an empty label (two dots in a row)";
            }

            if (label.Length > 63)
            {
                return $"the label '{label}' is longer than 63 characters";
            }

            if (label[0] == '-' || label[^1] == '-')
            {
                return $"the label '{label}' starts or ends with a hyphen";
            }

            foreach (var c in label)
            {
                if (!char.IsAsciiLetterOrDigit(c) && c != '-')
                {
                    return c > 127
                        ? "non-ASCII names must be given in their xn-- (punycode) form"
                        : $"the character '{c}' is not allowed in a domain name";
                }
            }
        }

        return null;
    }
}
