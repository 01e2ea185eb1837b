using Rempart.Antispam;
using Rempart.Antivirus;
using Rempart.Common.Configuration;
using Rempart.Protection.Rules;
using Rempart.SenderAuth;

namespace Rempart.Protection.Pipeline;

/// <summary>The findings of every end-of-data stage for one message.</summary>
public sealed record MessageFindings(
    bool Outbound,
    SpfResult? Spf,
    MessageAuthentication? Authentication,
    MalwareVerdict Malware,
    SpamAnalysis Spam,
    RuleOutcome Rules);

/// <summary>The single decision for a message, with the reply text for refusals and the category for quarantine.</summary>
public sealed record PipelineDecision(VerdictKind Kind, string Reason, string Category, int Code = 250, string Enhanced = "2.0.0");

/// <summary>
/// Where the verdict is made: the findings of all stages, in a fixed order of precedence, become one decision.
/// Order: a rule's reject, then malware and the attachment policy, a scanner outage, the DMARC policy of the
/// sender's domain, a rule's quarantine, and last the spam confidence level against the configured thresholds.
/// Everything earlier wins over everything later, so an allow-style rule can lower the SCL but never let malware in.
/// </summary>
public static class VerdictPolicy
{
    public static PipelineDecision Decide(MessageFindings f, ProtectionOptions options, int scl)
    {
        ArgumentNullException.ThrowIfNull(f);
        ArgumentNullException.ThrowIfNull(options);
        if (f.Rules.Reject is { } reject)
        {
            // A rule may also answer with a temporary code (4xx): the sender then retries.
            return new(reject.Code < 500 ? VerdictKind.TempFail : VerdictKind.Reject, reject.Text, "rule", reject.Code, reject.Enhanced);
        }

        switch (f.Malware.Outcome)
        {
            case MalwareOutcome.Infected:
                // Inbound malware is held for the administrator (as EOP does); a user's own outgoing malware is refused
                // at once so their client tells them.
                return f.Outbound
                    ? new(VerdictKind.Reject, $"Message refused: it contains malware ({f.Malware.Name})", "malware", 554, "5.7.1")
                    : new(VerdictKind.Quarantine, "malware: " + f.Malware.Name, "malware");
            case MalwareOutcome.Blocked:
                return new(VerdictKind.Reject, "Message refused by the attachment policy: " + f.Malware.Reason, "policy", 554, "5.7.1");
            case MalwareOutcome.PolicyQuarantine:
                return new(VerdictKind.Quarantine, "attachment policy: " + f.Malware.Reason, "policy");
            case MalwareOutcome.ScannerDownTempFail:
                return new(VerdictKind.TempFail, "Virus scanner temporarily unavailable; try again later", "malware", 451, "4.7.1");
        }

        if (!f.Outbound && f.Authentication?.Dmarc is { Status: DmarcStatus.Fail, ApplyPolicy: true } dmarc)
        {
            if (dmarc.Policy == DmarcPolicy.Reject)
            {
                return new(VerdictKind.Reject, $"Message refused: DMARC policy of {dmarc.FromDomain} says reject (the From domain failed authentication)", "dmarc", 550, "5.7.1");
            }

            if (dmarc.Policy == DmarcPolicy.Quarantine)
            {
                // Exchange Online delivers DMARC quarantine to Junk; an SCL at the quarantine threshold still holds it.
                scl = Math.Max(scl, options.Spam.JunkAtScl);
                if (scl < options.Spam.QuarantineAtScl)
                {
                    return new(VerdictKind.Junk, $"DMARC policy of {dmarc.FromDomain} says quarantine", "dmarc");
                }
            }
        }

        if (f.Rules.Quarantine)
        {
            return new(VerdictKind.Quarantine, "rule: " + (f.Rules.QuarantineReason ?? string.Join(", ", f.Rules.Hits)), "rule");
        }

        return ForScl(scl, options, f.Outbound);
    }

    /// <summary>The spam confidence level against the thresholds (docs/protection/antispam.md).</summary>
    public static PipelineDecision ForScl(int scl, ProtectionOptions options, bool outbound)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (scl < 0)
        {
            return new(VerdictKind.Inbox, "bypass", "none");
        }

        if (outbound)
        {
            // Outbound spam is refused only when certain (SCL 9, GTUBE among it): a compromised account must not
            // spray, but a user's ordinary mail must never be held.
            return scl >= 9
                ? new(VerdictKind.Reject, "Message refused: it looks like spam (SCL 9)", "spam", 550, "5.7.1")
                : new(VerdictKind.Inbox, "outbound", "none");
        }

        var spam = options.Spam;
        if (spam.RejectAtScl is { } rejectAt && scl >= rejectAt)
        {
            return new(VerdictKind.Reject, $"Message refused as spam (SCL {scl})", "spam", 550, "5.7.1");
        }

        if (scl >= spam.QuarantineAtScl)
        {
            return new(VerdictKind.Quarantine, $"spam (SCL {scl})", "spam");
        }

        return scl >= spam.JunkAtScl ? new(VerdictKind.Junk, $"spam (SCL {scl})", "spam") : new(VerdictKind.Inbox, $"SCL {scl}", "none");
    }
}
