using Rempart.SenderAuth.Dns;

namespace Rempart.SenderAuth.Dmarc;

/// <summary>DMARC policy discovery and identifier alignment (RFC 7489 3.1, 6.6).</summary>
internal sealed class DmarcEvaluator(DnsLookup dns, PublicSuffixList suffixes, Func<int> sample)
{
    /// <summary>RFC 7489 3.1: strict means the same name; relaxed means the same organizational domain.</summary>
    public static bool Aligned(string authenticated, string from, bool strict, PublicSuffixList suffixes)
    {
        var a = authenticated.Trim().TrimEnd('.');
        var f = from.Trim().TrimEnd('.');
        if (a.Length == 0 || f.Length == 0)
        {
            return false;
        }

        return strict
            ? a.Equals(f, StringComparison.OrdinalIgnoreCase)
            : suffixes.OrganizationalDomain(a).Equals(suffixes.OrganizationalDomain(f), StringComparison.Ordinal);
    }

    public async Task<DmarcResult> EvaluateAsync(string fromDomain, SpfResult spf, IReadOnlyList<DkimResult> dkim, CancellationToken ct)
    {
        fromDomain = fromDomain.Trim().TrimEnd('.').ToLowerInvariant();
        var none = new DmarcResult(DmarcStatus.None, DmarcPolicy.None, fromDomain, false, false, false, null);

        // RFC 7489 6.6.3: the From domain's record, else the organizational domain's.
        var (record, error) = await DiscoverAsync(fromDomain, ct);
        var atOrganization = false;
        if (record is null && error is null)
        {
            var org = suffixes.OrganizationalDomain(fromDomain);
            if (!org.Equals(fromDomain, StringComparison.Ordinal))
            {
                (record, error) = await DiscoverAsync(org, ct);
                atOrganization = true;
            }
        }

        if (error is not null)
        {
            return none with { Status = DmarcStatus.TempError, Reason = error };
        }

        if (record is null)
        {
            return none with { Reason = $"no DMARC record for {fromDomain}" };
        }

        var policy = atOrganization && record.SubdomainPolicy is { } sp ? sp : record.Policy;
        var spfAligned = spf.Status == SpfStatus.Pass && Aligned(spf.Domain, fromDomain, record.StrictSpf, suffixes);
        var dkimAligned = dkim.Any(d => d.Status == DkimStatus.Pass && Aligned(d.Domain, fromDomain, record.StrictDkim, suffixes));
        if (spfAligned || dkimAligned)
        {
            return new DmarcResult(DmarcStatus.Pass, policy, fromDomain, spfAligned, dkimAligned, false, null);
        }

        // RFC 7489 6.6.4: "pct" samples the failing messages the policy is applied to.
        var apply = policy != DmarcPolicy.None && sample() < record.Percent;
        var reason = spf.Status == SpfStatus.Pass || dkim.Any(d => d.Status == DkimStatus.Pass)
            ? "authenticated identifiers are not aligned with the From domain"
            : "neither SPF nor DKIM passed";
        if (policy != DmarcPolicy.None && !apply)
        {
            reason += $"; not selected by pct={record.Percent}";
        }

        return new DmarcResult(DmarcStatus.Fail, policy, fromDomain, false, false, apply, reason);
    }

    /// <summary>One TXT lookup at _dmarc.domain: a usable record, none (record null), or a DNS error to report.</summary>
    private async Task<(DmarcRecord? Record, string? Error)> DiscoverAsync(string domain, CancellationToken ct)
    {
        var answer = await dns.TxtAsync("_dmarc." + domain, ct);
        if (answer.Outcome == DnsOutcome.Error)
        {
            return (null, answer.Error);
        }

        var candidates = answer.Records.Where(DmarcRecord.IsDmarcRecord).ToList();

        // RFC 7489 6.6.3: several records mean none.
        return candidates.Count == 1 ? (DmarcRecord.Parse(candidates[0], out _), null) : (null, null);
    }
}
