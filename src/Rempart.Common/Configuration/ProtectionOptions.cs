namespace Rempart.Common.Configuration;

/// <summary>
/// The protection pipeline (docs/protection.md). Each sub-section belongs to one part of the pipeline and checks its
/// own values in <c>Validate</c>, which the configuration loader calls with the key prefix.
/// </summary>
public sealed class ProtectionOptions
{
    /// <summary>Turns the whole pipeline off (every message accepted unchanged). On by default.</summary>
    public bool Enabled { get; set; } = true;

    public SenderAuthOptions SenderAuth { get; set; } = new();
    public SpamOptions Spam { get; set; } = new();
    public AntivirusOptions Antivirus { get; set; } = new();
    public QuarantineOptions Quarantine { get; set; } = new();
    public ConnectionFilterOptions Connection { get; set; } = new();
    public OutboundProtectionOptions Outbound { get; set; } = new();

    /// <summary>Checks every sub-section; returns "'key': message" strings.</summary>
    public IEnumerable<string> Validate(string prefix) =>
        SenderAuth.Validate(prefix + ".senderAuth")
            .Concat(Spam.Validate(prefix + ".spam"))
            .Concat(Antivirus.Validate(prefix + ".antivirus"))
            .Concat(Quarantine.Validate(prefix + ".quarantine"))
            .Concat(Connection.Validate(prefix + ".connection"))
            .Concat(Outbound.Validate(prefix + ".outbound"));
}

/// <summary>Connection filtering, DNSBLs, IP reputation and rate limits (Rempart.Protection/Reputation).</summary>
public sealed class ConnectionFilterOptions
{
    /// <summary>Addresses or CIDR ranges always accepted (no DNSBL, no reputation penalty).</summary>
    public List<string> Allow { get; set; } = [];

    /// <summary>Addresses or CIDR ranges refused at connect.</summary>
    public List<string> Block { get; set; } = [];

    /// <summary>DNSBL zones queried for each connecting IPv4/IPv6 address (for example zen.spamhaus.org).</summary>
    public List<string> Dnsbl { get; set; } = [];

    /// <summary>What a DNSBL listing does: "reject" (554 at connect) or "score" (adds to the spam score).</summary>
    public string DnsblAction { get; set; } = "reject";

    /// <summary>Messages per minute accepted from one IP address (0 = no limit).</summary>
    public int MaxMessagesPerMinutePerIp { get; set; } = 120;

    /// <summary>
    /// Messages per minute accepted from one envelope sender across all addresses (0 = no limit). High enough for a
    /// mailing list writing to every user of a mid-size organisation; a spammer rotating addresses hits it.
    /// </summary>
    public int MaxMessagesPerMinutePerSender { get; set; } = 600;

    /// <summary>Reputation (0 good .. 1 bad) above which each command is delayed.</summary>
    public double ReputationSlowAt { get; set; } = 0.5;

    /// <summary>Reputation above which connections are refused.</summary>
    public double ReputationRefuseAt { get; set; } = 0.8;

    /// <summary>Messages seen before reputation counts (a new sender starts neutral).</summary>
    public int ReputationMinimumVolume { get; set; } = 10;

    public IEnumerable<string> Validate(string prefix)
    {
        foreach (var n in Allow.Concat(Block))
        {
            if (!System.Net.IPNetwork.TryParse(n, out _) && !System.Net.IPAddress.TryParse(n, out _))
            {
                yield return $"'{prefix}': '{n}' is not an IP address or CIDR range such as 192.0.2.0/24 or 2001:db8::/32.";
            }
        }

        if (DnsblAction is not ("reject" or "score"))
        {
            yield return $"'{prefix}.dnsblAction': must be \"reject\" or \"score\".";
        }

        if (MaxMessagesPerMinutePerIp < 0 || MaxMessagesPerMinutePerSender < 0)
        {
            yield return $"'{prefix}': rate limits must be 0 (none) or positive.";
        }

        if (ReputationSlowAt is <= 0 or > 1 || ReputationRefuseAt is <= 0 or > 1 || ReputationRefuseAt < ReputationSlowAt)
        {
            yield return $"'{prefix}.reputationRefuseAt': reputation thresholds lie in (0, 1] and refuseAt is at least slowAt.";
        }
    }
}

/// <summary>Outbound protection: sending limits, external forwarding, DKIM signing.</summary>
public sealed class OutboundProtectionOptions
{
    /// <summary>Messages one authenticated user may send per hour (0 = no limit).</summary>
    public int MaxMessagesPerHourPerUser { get; set; } = 1000;

    /// <summary>Recipients one authenticated user may address per day (0 = no limit).</summary>
    public int MaxRecipientsPerDayPerUser { get; set; } = 5000;

    /// <summary>
    /// Automatic forwarding of inbound mail to external addresses (aliases or groups that point outside the
    /// organisation). Off by default, as in Exchange Online Protection.
    /// </summary>
    public bool AllowExternalForwarding { get; set; }

    /// <summary>Sign outbound mail with the sending domain's DKIM key when one exists.</summary>
    public bool DkimSign { get; set; } = true;

    /// <summary>Scan outbound messages (antivirus and attachment policy) too.</summary>
    public bool Scan { get; set; } = true;

    public IEnumerable<string> Validate(string prefix)
    {
        if (MaxMessagesPerHourPerUser < 0 || MaxRecipientsPerDayPerUser < 0)
        {
            yield return $"'{prefix}': sending limits must be 0 (none) or positive.";
        }
    }
}
