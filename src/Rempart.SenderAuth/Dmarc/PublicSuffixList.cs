namespace Rempart.SenderAuth.Dmarc;

/// <summary>
/// Organizational domains (RFC 7489 3.2) from the Public Suffix List. Without the list file, the organizational
/// domain is the last two labels, which is wrong for suffixes such as "co.uk" (docs/protection/authentication.md).
/// </summary>
public sealed class PublicSuffixList
{
    private readonly HashSet<string> rules = new(StringComparer.Ordinal);
    private readonly HashSet<string> wildcards = new(StringComparer.Ordinal);
    private readonly HashSet<string> exceptions = new(StringComparer.Ordinal);

    private PublicSuffixList(bool loaded) => Loaded = loaded;

    /// <summary>False when the list file was missing and the "last two labels" rule is used.</summary>
    public bool Loaded { get; }

    /// <summary>The fallback: every name's public suffix is its last label.</summary>
    public static PublicSuffixList Fallback { get; } = new(false);

    /// <summary>Loads the list in its published format, or returns <see cref="Fallback"/> when the file is missing.</summary>
    public static PublicSuffixList Load(string? path)
    {
        if (string.IsNullOrEmpty(path) || !File.Exists(path))
        {
            return Fallback;
        }

        return Parse(File.ReadLines(path));
    }

    public static PublicSuffixList Parse(IEnumerable<string> lines)
    {
        ArgumentNullException.ThrowIfNull(lines);
        var list = new PublicSuffixList(true);
        foreach (var raw in lines)
        {
            // Each rule is the first whitespace-delimited word of a line; "//" starts a comment.
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith("//", StringComparison.Ordinal))
            {
                continue;
            }

            var space = line.IndexOfAny([' ', '\t']);
            var rule = (space < 0 ? line : line[..space]).ToLowerInvariant();
            if (rule.StartsWith('!'))
            {
                list.exceptions.Add(rule[1..]);
            }
            else if (rule.StartsWith("*.", StringComparison.Ordinal))
            {
                list.wildcards.Add(rule[2..]);
            }
            else
            {
                list.rules.Add(rule);
            }
        }

        return list;
    }

    /// <summary>The registrable domain: the public suffix plus one label; the name itself when it is a suffix.</summary>
    public string OrganizationalDomain(string domain)
    {
        ArgumentNullException.ThrowIfNull(domain);
        var name = domain.Trim().TrimEnd('.').ToLowerInvariant();
        var labels = name.Split('.');
        if (labels.Length <= 1)
        {
            return name;
        }

        var suffixLabels = Loaded ? SuffixLength(labels) : 1;
        return suffixLabels >= labels.Length ? name : string.Join('.', labels[^(suffixLabels + 1)..]);
    }

    /// <summary>Labels in the public suffix of <paramref name="labels"/> (publicsuffix.org algorithm).</summary>
    private int SuffixLength(string[] labels)
    {
        // The longest matching rule wins; an exception rule beats everything; no match means the "*" rule (1 label).
        var best = 1;
        for (var n = labels.Length; n >= 1; n--)
        {
            var candidate = string.Join('.', labels[^n..]);
            if (exceptions.Contains(candidate))
            {
                return n - 1;
            }

            if (n > best && rules.Contains(candidate))
            {
                best = n;
            }

            if (n > 1 && n > best && wildcards.Contains(string.Join('.', labels[^(n - 1)..])))
            {
                best = n;
            }
        }

        return best;
    }
}
