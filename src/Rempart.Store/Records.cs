namespace Rempart.Store;

public sealed record DomainRecord(long Id, string Name, string? CatchAll, DateTimeOffset Created);

public sealed record NewAccount(string Address, string PasswordHash, bool IsAdmin = false, long? MaxBytes = null, long? MaxMessages = null, string? DisplayName = null);

public sealed record AccountRecord(
    long Id,
    string Address,
    string PasswordHash,
    bool IsAdmin,
    bool Disabled,
    long? MaxBytes,
    long? MaxMessages,
    string? DisplayName,
    DateTimeOffset Created);

public enum AliasKind
{
    /// <summary>One address forwarding to one or more targets.</summary>
    Alias = 0,

    /// <summary>A distribution group: mail to it goes to every member.</summary>
    Group = 1,
}

public sealed record AliasRecord(long Id, string Address, AliasKind Kind, IReadOnlyList<string> Targets);

public enum RecipientStatus
{
    /// <summary>Local domain, address known (account, alias, group or catch-all).</summary>
    Local,

    /// <summary>Local domain, no such address: 550 5.1.1.</summary>
    UnknownLocal,

    /// <summary>Not one of our domains.</summary>
    Remote,

    /// <summary>Local address whose account is disabled.</summary>
    Disabled,
}

/// <param name="AccountIds">Local accounts the mail goes to (deduplicated).</param>
/// <param name="ForwardTo">Remote addresses an alias or group forwards to.</param>
public sealed record RecipientResolution(RecipientStatus Status, IReadOnlyList<long> AccountIds, IReadOnlyList<string> ForwardTo)
{
    public static readonly RecipientResolution Remote = new(RecipientStatus.Remote, [], []);
    public static readonly RecipientResolution Unknown = new(RecipientStatus.UnknownLocal, [], []);
}

public sealed record MailboxRecord(
    long Id,
    long AccountId,
    string Name,
    string? SpecialUse,
    long UidValidity,
    long UidNext,
    long HighestModSeq,
    bool Subscribed,
    int MessageCount,
    int UnseenCount,
    long Size);

/// <summary>A stored body: its SHA-256 (lower-case hex) and uncompressed size.</summary>
public sealed record BlobRef(string Hash, long Size);

/// <summary>Where one local delivery goes. Mailbox null means INBOX.</summary>
public sealed record DeliveryTarget(long AccountId, string? Mailbox = null, IReadOnlyCollection<string>? Flags = null);

public enum DeliveryOutcome
{
    Stored,
    OverQuota,
    NoSuchAccount,
}

public sealed record DeliveryResult(long AccountId, DeliveryOutcome Outcome, long MailboxId, long Uid);

public sealed record AppendResult(long MailboxId, long UidValidity, long Uid, long ModSeq);

/// <summary>A body in the blob file format (one zstd frame) whose content is known to be <paramref name="Blob"/>.</summary>
public sealed record BlobFrame(BlobRef Blob, ReadOnlyMemory<byte> Frame);

/// <summary>One message of <see cref="IMessageStore.AppendManyAsync"/>.</summary>
/// <param name="Analysis">The body's metadata when the caller already has it (a restore parses each body it reads
/// from the backup once, in memory), so the store does not parse the body again.</param>
public sealed record AppendItem(BlobRef Blob, IReadOnlyCollection<string> Flags, DateTimeOffset InternalDate, Mime.MessageAnalysis? Analysis = null);

public sealed record MessageRecord(
    long Id,
    long MailboxId,
    long Uid,
    string BlobHash,
    long Size,
    DateTimeOffset InternalDate,
    IReadOnlyList<string> Flags,
    long ModSeq);

/// <summary>
/// Metadata computed once at delivery: the IMAP ENVELOPE and BODYSTRUCTURE as ready-to-send IMAP strings
/// (so FETCH costs no MIME parse), plus the header fields SORT and THREAD need.
/// </summary>
public sealed record MessageMetadata(
    long MessageId,
    string Envelope,
    string BodyStructure,
    string Body,
    string? Subject,
    string? From,
    string? To,
    string? Cc,
    DateTimeOffset? Date,
    string? MessageIdHeader,
    string? InReplyTo,
    string? References);

/// <summary>
/// A mailbox's state and what changed in it after a known mod-sequence, read in one snapshot (see
/// <see cref="IMessageStore.GetChangesSinceAsync"/>).
/// </summary>
/// <param name="MessageCount">Messages in the mailbox now.</param>
/// <param name="Changed">Messages with a mod-sequence above the known one (new or flags changed), in UID order; empty
/// when <paramref name="HighestModSeq"/> is not above it.</param>
/// <param name="Expunged">UIDs expunged with a mod-sequence above the known one, ascending.</param>
public sealed record MailboxChanges(
    long UidNext,
    long HighestModSeq,
    int MessageCount,
    IReadOnlyList<MessageRecord> Changed,
    IReadOnlyList<long> Expunged);

public enum FlagOperation
{
    Replace,
    Add,
    Remove,
}

/// <param name="Changed">Messages whose flags changed, with their new flags and mod-sequence.</param>
/// <param name="Failed">UIDs left alone because of UNCHANGEDSINCE (CONDSTORE MODIFIED).</param>
public sealed record StoreFlagsResult(IReadOnlyList<MessageRecord> Changed, IReadOnlyList<long> Failed);

public sealed record CopyResult(long UidValidity, IReadOnlyList<long> SourceUids, IReadOnlyList<long> TargetUids);

public enum TextSearchScope
{
    /// <summary>Body text only (IMAP SEARCH BODY).</summary>
    Body,

    /// <summary>Headers and body (IMAP SEARCH TEXT).</summary>
    Text,
}

public sealed record QuotaUsage(long UsedBytes, long UsedMessages, long? MaxBytes, long? MaxMessages);

/// <summary>A message to send out, before it is split per destination domain.</summary>
/// <param name="Sender">Envelope sender; empty for the null sender (bounces), which is never bounced.</param>
/// <param name="EnvelopeId">RFC 3461 ENVID kept from the SMTP transaction.</param>
/// <param name="Ret">RFC 3461 RET (FULL or HDRS).</param>
/// <param name="Route">Outbound route forced by a transport rule, else null (chosen by recipient domain).</param>
public sealed record OutboundMessage(
    string Sender,
    IReadOnlyList<QueueRecipient> Recipients,
    BlobRef Blob,
    DateTimeOffset Received,
    string? EnvelopeId = null,
    string? Ret = null,
    string? Route = null);

/// <param name="Notify">DSN NOTIFY value as given (for example "FAILURE,DELAY"), or null for the default.</param>
public sealed record QueueRecipient(string Address, string? Notify = null, string? OriginalRecipient = null);

public sealed record QueueEntry(
    long Id,
    string Domain,
    string Sender,
    IReadOnlyList<QueueRecipient> Recipients,
    BlobRef Blob,
    DateTimeOffset Created,
    DateTimeOffset NextAttempt,
    DateTimeOffset Expires,
    int Attempts,
    string? LastError,
    bool DelayNoticeSent,
    string? EnvelopeId,
    string? Ret,
    string? Route);
