using System.Globalization;
using Rempart.SenderAuth.Dkim;

namespace Rempart.SenderAuth.Dmarc;

/// <summary>A DMARC policy record (RFC 7489 6.3). Only the tags that change the verdict are kept.</summary>
internal sealed record DmarcRecord(DmarcPolicy Policy, DmarcPolicy? SubdomainPolicy, bool StrictDkim, bool StrictSpf, int Percent)
{
    /// <summary>RFC 7489 6.6.3: a record begins with "v=DMARC1" (exact, case-sensitive per 6.4).</summary>
    public static bool IsDmarcRecord(string txt) =>
        txt.StartsWith("v=DMARC1", StringComparison.Ordinal) && (txt.Length == 8 || txt[8..].TrimStart().StartsWith(';'));

    /// <summary>Parses a record; null when it cannot be used (RFC 7489 6.6.3: then no DMARC processing applies).</summary>
    public static DmarcRecord? Parse(string txt, out string? error)
    {
        error = null;
        var tags = IsDmarcRecord(txt) ? TagList.Parse(txt) : null;
        if (tags is null)
        {
            error = "not a DMARC record";
            return null;
        }

        var policy = ParsePolicy(tags.GetValueOrDefault("p"));
        DmarcPolicy? sub = tags.TryGetValue("sp", out var sp) ? ParsePolicy(sp) : null;
        if (policy is null || (tags.ContainsKey("sp") && sub is null))
        {
            // RFC 7489 6.6.3: a bad or missing p (or a bad sp) with a valid rua means "p=none"; otherwise the record is ignored.
            if (tags.TryGetValue("rua", out var rua) && rua.Contains(':', StringComparison.Ordinal))
            {
                return new DmarcRecord(DmarcPolicy.None, null, false, false, 100);
            }

            error = "record has no valid p= tag";
            return null;
        }

        // RFC 7489 6.3: an invalid value of an optional tag is ignored, so its default applies.
        var strictDkim = tags.GetValueOrDefault("adkim") == "s";
        var strictSpf = tags.GetValueOrDefault("aspf") == "s";
        var pct = tags.TryGetValue("pct", out var pctText) && int.TryParse(pctText, NumberStyles.None, CultureInfo.InvariantCulture, out var p) && p <= 100
            ? p
            : 100;
        return new DmarcRecord(policy.Value, sub, strictDkim, strictSpf, pct);
    }

    private static DmarcPolicy? ParsePolicy(string? value) => value switch
    {
        "none" => DmarcPolicy.None,
        "quarantine" => DmarcPolicy.Quarantine,
        "reject" => DmarcPolicy.Reject,
        _ => null,
    };
}
