namespace Rempart.SenderAuth;

/// <summary>SPF results of RFC 7208 section 2.6.</summary>
public enum SpfStatus
{
    None,
    Neutral,
    Pass,
    Fail,
    SoftFail,
    TempError,
    PermError,
}

/// <summary>The SPF verdict for one identity.</summary>
/// <param name="Domain">The domain checked: the MAIL FROM domain, or the HELO name for a null sender (RFC 7208 2.3).</param>
/// <param name="Explanation">Why: the domain's "exp=" text on a fail, or what went wrong on an error.</param>
public sealed record SpfResult(SpfStatus Status, string Domain, string? Explanation)
{
    /// <summary>The MAIL FROM identity as given ("" for the null sender); shown as smtp.mailfrom.</summary>
    public string MailFrom { get; init; } = "";

    /// <summary>The HELO/EHLO name; shown as smtp.helo when the null sender made SPF check it.</summary>
    public string Helo { get; init; } = "";

    /// <summary>True when the HELO identity was checked because MAIL FROM was null.</summary>
    public bool CheckedHelo { get; init; }
}

/// <summary>DKIM results as named in RFC 8601 2.7.1.</summary>
public enum DkimStatus
{
    None,
    Pass,
    Fail,
    TempError,
    PermError,
}

/// <summary>The verdict for one DKIM-Signature header.</summary>
public sealed record DkimResult(DkimStatus Status, string Domain, string Selector, string? Reason);

/// <summary>ARC chain validation results (RFC 8617 4.4).</summary>
public enum ArcStatus
{
    None,
    Pass,
    Fail,
}

public sealed record ArcResult(ArcStatus Status, string? Reason);

/// <summary>DMARC results (RFC 7489 11.2).</summary>
public enum DmarcStatus
{
    None,
    Pass,
    Fail,
    TempError,
    PermError,
}

/// <summary>The action a domain asks receivers to take on a DMARC failure (the "p" / "sp" tags).</summary>
public enum DmarcPolicy
{
    None,
    Quarantine,
    Reject,
}

/// <param name="Policy">The policy that applies to the From domain ("sp" for a subdomain when the record has one).</param>
/// <param name="ApplyPolicy">True when the message failed and the "pct" sampling selected it for the policy.</param>
public sealed record DmarcResult(
    DmarcStatus Status,
    DmarcPolicy Policy,
    string FromDomain,
    bool SpfAligned,
    bool DkimAligned,
    bool ApplyPolicy,
    string? Reason);

/// <summary>Everything checked on the message itself: DKIM (one result per signature), ARC, DMARC.</summary>
public sealed record MessageAuthentication(IReadOnlyList<DkimResult> Dkim, ArcResult Arc, DmarcResult Dmarc);
