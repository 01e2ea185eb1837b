namespace Rempart.Store;

/// <summary>
/// One mail-flow rule as stored. <see cref="Definition"/> is the rule's JSON (conditions and actions, see
/// docs/protection/rules.md); the store keeps it verbatim and Rempart.Protection.Rules parses and validates it.
/// </summary>
public sealed record TransportRuleRecord(string Name, int Priority, bool Enabled, string Definition, DateTimeOffset Modified, string? Comment = null);

/// <summary>A message to hold. <see cref="Recipients"/> are the envelope recipients it was meant for.</summary>
public sealed record NewQuarantine(
    BlobRef Blob,
    string Sender,
    IReadOnlyList<string> Recipients,
    string Subject,
    string? MessageId,
    string Reason,
    string Category,
    DateTimeOffset Received,
    DateTimeOffset Expires,
    string? TraceId = null);

/// <summary>A held message. <see cref="Category"/> is "spam", "malware", "policy" (attachment policy) or "rule".</summary>
public sealed record QuarantineRecord(
    long Id,
    BlobRef Blob,
    string Sender,
    IReadOnlyList<string> Recipients,
    string Subject,
    string? MessageId,
    string Reason,
    string Category,
    DateTimeOffset Received,
    DateTimeOffset Expires,
    string? TraceId,
    DateTimeOffset? Released,
    string? ReleasedBy);

/// <summary>Filters for <see cref="IProtectionStore.ListQuarantineAsync"/>; null means any.</summary>
public sealed record QuarantineQuery(string? Recipient = null, string? Sender = null, string? Category = null, bool IncludeReleased = false, int Limit = 1000);

/// <summary>What happened to a message at one point of its path.</summary>
public enum TraceEventKind
{
    /// <summary>Accepted over SMTP (or submitted).</summary>
    Received,

    /// <summary>A protection verdict with its reasons.</summary>
    Verdict,

    /// <summary>A mail-flow rule matched.</summary>
    RuleHit,

    /// <summary>Stored in a local mailbox (detail names the folder).</summary>
    Delivered,

    /// <summary>Put in the outbound queue.</summary>
    Queued,

    /// <summary>Relayed to the next hop (detail: host and its reply).</summary>
    Relayed,

    /// <summary>A temporary failure; will be retried.</summary>
    Deferred,

    /// <summary>A permanent failure; a DSN went to the sender (unless null sender).</summary>
    Bounced,

    /// <summary>Refused during the SMTP dialogue.</summary>
    Rejected,

    Quarantined,

    /// <summary>Released from quarantine by an administrator.</summary>
    Released,
}

/// <summary>
/// One trace event. <see cref="TraceId"/> groups the events of one message on this server (the SMTP queue id);
/// <see cref="MessageId"/> is the Message-ID header (without angle brackets) when known.
/// </summary>
public sealed record TraceEvent(
    DateTimeOffset Time,
    string TraceId,
    TraceEventKind Kind,
    string Sender,
    string? Recipient,
    string? MessageId,
    string? RemoteIp,
    string Detail,
    string? Subject = null);

/// <summary>Filters for the trace (substring match on addresses, exact on ids); null means any.</summary>
public sealed record TraceQuery(
    string? Sender = null,
    string? Recipient = null,
    string? MessageId = null,
    string? TraceId = null,
    DateTimeOffset? Since = null,
    DateTimeOffset? Until = null,
    int Limit = 1000);
