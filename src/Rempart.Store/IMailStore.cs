namespace Rempart.Store;

/// <summary>
/// The one store every protocol talks to. The embedded default is <c>Sqlite.SqliteMailStore</c>
/// (SQLite in WAL mode for metadata, a content-addressed zstd blob store for bodies). A PostgreSQL +
/// object-storage implementation plugs in behind the same interfaces (docs/architecture.md, "Store").
/// <para>
/// Durability contract: every method that writes returns only after the change is on stable storage
/// (blob file and its folder fsynced, transaction committed with synchronous=FULL). Concurrent writers share
/// one commit and one fsync (group commit).
/// </para>
/// </summary>
public interface IMailStore : IAsyncDisposable
{
    IDirectoryStore Directory { get; }

    IMessageStore Messages { get; }

    IQueueStore Queue { get; }

    IBlobStore Blobs { get; }

    /// <summary>Mail-flow rules, quarantine and message trace.</summary>
    IProtectionStore Protection { get; }

    /// <summary>In-process change notifications (IMAP IDLE, POP3 locks).</summary>
    MailboxChangeBus Changes { get; }

    /// <summary>Schema version of the opened store.</summary>
    int SchemaVersion { get; }

    /// <summary>
    /// Stored messages whose text is not in the full-text index yet (indexed in the background; a search indexes its
    /// mailbox's first). Grows during a burst of mail and after a restore, and shrinks when the server is quiet.
    /// </summary>
    Task<long> TextIndexBacklogAsync(CancellationToken ct = default);

    /// <summary>Runs SQLite's integrity and foreign-key checks; returns the problems found (empty when clean).</summary>
    Task<IReadOnlyList<string>> CheckIntegrityAsync(CancellationToken ct = default);
}

/// <summary>Domains, accounts, aliases, groups, send-as grants.</summary>
public interface IDirectoryStore
{
    Task<DomainRecord> AddDomainAsync(string name, CancellationToken ct = default);

    Task<IReadOnlyList<DomainRecord>> ListDomainsAsync(CancellationToken ct = default);

    /// <summary>Removes a domain. Throws <see cref="StoreException"/> when accounts or aliases still use it.</summary>
    Task<bool> RemoveDomainAsync(string name, CancellationToken ct = default);

    /// <summary>Sets (or clears, with null) the address that receives mail for unknown local parts of a domain.</summary>
    Task SetCatchAllAsync(string domain, string? target, CancellationToken ct = default);

    Task<bool> IsLocalDomainAsync(string domain, CancellationToken ct = default);

    /// <summary>Creates an account and its special-use folders (INBOX, Drafts, Sent, Trash, Junk, Archive).</summary>
    Task<AccountRecord> AddAccountAsync(NewAccount account, CancellationToken ct = default);

    Task<AccountRecord?> GetAccountAsync(string address, CancellationToken ct = default);

    Task<AccountRecord?> GetAccountAsync(long id, CancellationToken ct = default);

    Task<IReadOnlyList<AccountRecord>> ListAccountsAsync(string? domain = null, CancellationToken ct = default);

    Task SetPasswordHashAsync(long accountId, string passwordHash, CancellationToken ct = default);

    Task SetDisabledAsync(long accountId, bool disabled, CancellationToken ct = default);

    /// <summary>Sets quotas; null means unlimited.</summary>
    Task SetQuotaAsync(long accountId, long? maxBytes, long? maxMessages, CancellationToken ct = default);

    /// <summary>Removes an account with all its mail (blob references are released).</summary>
    Task<bool> RemoveAccountAsync(string address, CancellationToken ct = default);

    /// <summary>Adds an alias (one target) or a distribution group (several targets). Targets may be local or remote addresses.</summary>
    Task<AliasRecord> AddAliasAsync(string address, IReadOnlyList<string> targets, AliasKind kind, CancellationToken ct = default);

    Task<IReadOnlyList<AliasRecord>> ListAliasesAsync(string? domain = null, CancellationToken ct = default);

    Task<bool> RemoveAliasAsync(string address, CancellationToken ct = default);

    Task GrantSendAsAsync(long accountId, string address, CancellationToken ct = default);

    /// <summary>
    /// Resolves a recipient address: accounts (aliases, groups and catch-all expanded, recursively, loops cut) and
    /// remote addresses that aliases forward to. <see cref="RecipientResolution.Status"/> says whether the domain is local
    /// and the address known.
    /// </summary>
    Task<RecipientResolution> ResolveRecipientAsync(string address, CancellationToken ct = default);

    /// <summary>True when the account may use <paramref name="address"/> as envelope sender or From: its own address,
    /// an alias pointing to it, or a send-as grant.</summary>
    Task<bool> CanSendAsAsync(long accountId, string address, CancellationToken ct = default);
}

/// <summary>Mailboxes (folders) and the messages in them.</summary>
public interface IMessageStore
{
    Task<IReadOnlyList<MailboxRecord>> ListMailboxesAsync(long accountId, CancellationToken ct = default);

    /// <summary>Finds a mailbox by name; "INBOX" is case-insensitive.</summary>
    Task<MailboxRecord?> GetMailboxAsync(long accountId, string name, CancellationToken ct = default);

    Task<MailboxRecord?> GetMailboxAsync(long mailboxId, CancellationToken ct = default);

    /// <summary>
    /// A mailbox's id by name ("INBOX" is case-insensitive), or null. Unlike
    /// <see cref="GetMailboxAsync(long, string, CancellationToken)"/> it does not count the messages (APPEND needs only the id).
    /// </summary>
    Task<long?> FindMailboxIdAsync(long accountId, string name, CancellationToken ct = default);

    /// <summary>Creates a mailbox. Throws <see cref="StoreException"/> if it exists.</summary>
    Task<MailboxRecord> CreateMailboxAsync(long accountId, string name, string? specialUse = null, CancellationToken ct = default);

    /// <summary>Deletes a mailbox and its messages.</summary>
    Task DeleteMailboxAsync(long mailboxId, CancellationToken ct = default);

    /// <summary>Renames a mailbox (and its children, whose names start with the old name and the '/' separator).
    /// Renaming INBOX moves its messages into a new mailbox, as RFC 9051 requires.</summary>
    Task RenameMailboxAsync(long mailboxId, string newName, CancellationToken ct = default);

    Task SetSubscribedAsync(long mailboxId, bool subscribed, CancellationToken ct = default);

    /// <summary>
    /// Delivers one stored blob to several mailboxes in one transaction (one copy on disk). Quotas are checked per
    /// target: a target over quota gets <see cref="DeliveryOutcome.OverQuota"/> and is not stored; the others are.
    /// Envelope, body structure and full-text index are computed once here.
    /// </summary>
    Task<IReadOnlyList<DeliveryResult>> DeliverAsync(BlobRef blob, IReadOnlyList<DeliveryTarget> targets, DateTimeOffset internalDate, CancellationToken ct = default);

    /// <summary>
    /// <see cref="DeliverAsync(BlobRef, IReadOnlyList{DeliveryTarget}, DateTimeOffset, CancellationToken)"/> for a body the
    /// caller still holds in memory (SMTP end of data): <paramref name="content"/> must be exactly the bytes of
    /// <paramref name="blob"/>, and is analyzed as it is instead of being read back and decompressed from the blob store.
    /// </summary>
    Task<IReadOnlyList<DeliveryResult>> DeliverAsync(BlobRef blob, ReadOnlyMemory<byte> content, IReadOnlyList<DeliveryTarget> targets, DateTimeOffset internalDate, CancellationToken ct = default);

    /// <summary>Appends to one mailbox (IMAP APPEND); throws <see cref="QuotaExceededException"/> when over quota.</summary>
    Task<AppendResult> AppendAsync(long mailboxId, BlobRef blob, IReadOnlyCollection<string> flags, DateTimeOffset internalDate, CancellationToken ct = default);

    /// <summary>
    /// Appends several messages to one mailbox in one transaction, UIDs ascending in list order (restores, imports).
    /// All or nothing: throws <see cref="QuotaExceededException"/> when the whole list does not fit in the quota.
    /// </summary>
    Task<IReadOnlyList<AppendResult>> AppendManyAsync(long mailboxId, IReadOnlyList<AppendItem> items, CancellationToken ct = default);

    /// <summary>
    /// <see cref="AppendManyAsync"/> for a granular restore, into several mailboxes in one transaction (in the given
    /// order): an item's <see cref="AppendItem.Analysis"/>, when given, is stored instead of parsing the body again; an
    /// item without one is a body the store holds (<see cref="FindKnownBodiesAsync"/>). The bodies' text goes into
    /// the full-text index later, as after a full restore (the index is marked incomplete; a search indexes its
    /// mailbox first, so it still finds them).
    /// </summary>
    Task<IReadOnlyList<AppendResult>> RestoreManyAsync(IReadOnlyList<(long MailboxId, AppendItem Item)> items, CancellationToken ct = default);

    /// <summary>
    /// Those of <paramref name="hashes"/> that the store holds, referenced and with their metadata: appending one of
    /// them needs only its <see cref="BlobRef"/> (a restore of mail that is still here reads nothing from the backup).
    /// </summary>
    Task<IReadOnlySet<string>> FindKnownBodiesAsync(IReadOnlyCollection<string> hashes, CancellationToken ct = default);

    /// <summary>All messages of a mailbox in UID order (the IMAP session's view is built from this).</summary>
    Task<IReadOnlyList<MessageRecord>> ListMessagesAsync(long mailboxId, CancellationToken ct = default);

    /// <summary>Messages changed (flags or new) with a mod-sequence above <paramref name="sinceModSeq"/>, in UID order.</summary>
    Task<IReadOnlyList<MessageRecord>> ListChangedSinceAsync(long mailboxId, long sinceModSeq, CancellationToken ct = default);

    /// <summary>UIDs expunged with a mod-sequence above <paramref name="sinceModSeq"/> (QRESYNC VANISHED).</summary>
    Task<IReadOnlyList<long>> ListExpungedSinceAsync(long mailboxId, long sinceModSeq, CancellationToken ct = default);

    /// <summary>Envelope and body structure computed at delivery.</summary>
    Task<MessageMetadata?> GetMetadataAsync(long messageId, CancellationToken ct = default);

    /// <summary>
    /// <see cref="GetMetadataAsync(long, CancellationToken)"/> for several messages in one read (FETCH of a range);
    /// ids without metadata (or expunged) are absent from the result.
    /// </summary>
    Task<IReadOnlyDictionary<long, MessageMetadata>> GetMetadataManyAsync(IReadOnlyCollection<long> messageIds, CancellationToken ct = default);

    /// <summary>
    /// A mailbox's UIDNEXT, HIGHESTMODSEQ and message count, with the messages changed and the UIDs expunged after
    /// <paramref name="sinceModSeq"/>, all from one snapshot: an IMAP session refreshes its view from this instead of
    /// re-reading every message. Null when the mailbox no longer exists.
    /// </summary>
    Task<MailboxChanges?> GetChangesSinceAsync(long mailboxId, long sinceModSeq, CancellationToken ct = default);

    /// <summary>
    /// Changes flags. With <paramref name="unchangedSince"/> (CONDSTORE), messages whose mod-sequence is higher are
    /// left alone and reported in <see cref="StoreFlagsResult.Failed"/>.
    /// </summary>
    Task<StoreFlagsResult> StoreFlagsAsync(long mailboxId, IReadOnlyCollection<long> uids, FlagOperation operation, IReadOnlyCollection<string> flags, long? unchangedSince = null, CancellationToken ct = default);

    /// <summary>Removes messages flagged \Deleted (only those in <paramref name="uids"/> when given). Returns the removed UIDs.</summary>
    Task<IReadOnlyList<long>> ExpungeAsync(long mailboxId, IReadOnlyCollection<long>? uids = null, CancellationToken ct = default);

    /// <summary>Copies (or moves) messages; returns source and destination UID pairs (UIDPLUS COPYUID).</summary>
    Task<CopyResult> CopyAsync(long sourceMailboxId, IReadOnlyCollection<long> uids, long targetMailboxId, bool move, CancellationToken ct = default);

    /// <summary>Full-text search (FTS index built at delivery). Returns matching UIDs of the mailbox.</summary>
    Task<IReadOnlyList<long>> SearchTextAsync(long mailboxId, string text, TextSearchScope scope, CancellationToken ct = default);

    Task<QuotaUsage> GetQuotaAsync(long accountId, CancellationToken ct = default);
}

/// <summary>Content-addressed, compressed, durable message bodies.</summary>
public interface IBlobStore
{
    /// <summary>Stores bytes (already fsynced on return). The same content stored twice is kept once.</summary>
    Task<BlobRef> PutAsync(Stream content, CancellationToken ct = default);

    Task<BlobRef> PutAsync(ReadOnlyMemory<byte> content, CancellationToken ct = default);

    /// <summary>
    /// Stores bytes whose durability is left to the store's next write batch (SMTP deliveries): the content is written
    /// without fsync and is readable at once, and the store's writer makes it durable under its name before it commits
    /// its next batch (one file-system sync for every such body, where <see cref="PutAsync(ReadOnlyMemory{byte}, CancellationToken)"/>
    /// costs two fsyncs per body). So the caller must refer to it in a store write (<see cref="IMessageStore.DeliverAsync(BlobRef, ReadOnlyMemory{byte}, IReadOnlyList{DeliveryTarget}, DateTimeOffset, CancellationToken)"/>,
    /// <see cref="IQueueStore.EnqueueAsync"/>) and wait for it before acknowledging anything on the strength of the
    /// body. A body nothing refers to in the end is an orphan file, swept like any other.
    /// </summary>
    Task<BlobRef> PutForCommitAsync(ReadOnlyMemory<byte> content, CancellationToken ct = default);

    /// <summary>
    /// Stores many bodies at once, all durable on return (restores and imports): written in parallel, then one
    /// file-system sync instead of an fsync per body.
    /// </summary>
    Task<IReadOnlyList<BlobRef>> PutManyAsync(IReadOnlyList<ReadOnlyMemory<byte>> contents, CancellationToken ct = default);

    /// <summary>
    /// <see cref="PutManyAsync"/> for bodies that are already in the blob file format (one zstd frame, as a backup of
    /// the blob folder holds them): written as they are, not decompressed and compressed again. The caller must have
    /// checked that each frame decompresses to content whose SHA-256 is its <see cref="BlobFrame.Blob"/> hash (a
    /// restore does, to detect damage); the store trusts it.
    /// </summary>
    Task<IReadOnlyList<BlobRef>> PutFramesManyAsync(IReadOnlyList<BlobFrame> frames, CancellationToken ct = default);

    /// <summary>Opens the decompressed content. Throws <see cref="StoreException"/> when missing.</summary>
    Stream Open(string hash);

    /// <summary>Reads the whole decompressed content.</summary>
    Task<byte[]> ReadAllAsync(string hash, CancellationToken ct = default);

    bool Exists(string hash);

    /// <summary>Recomputes the hash of a stored blob; false when damaged or missing.</summary>
    Task<bool> VerifyAsync(string hash, CancellationToken ct = default);
}

/// <summary>The durable outbound queue: one entry per destination domain of a message.</summary>
public interface IQueueStore
{
    /// <summary>Queues a message; one entry per distinct recipient domain. Returns the entry ids.</summary>
    Task<IReadOnlyList<long>> EnqueueAsync(OutboundMessage message, CancellationToken ct = default);

    /// <summary>Entries due at or before <paramref name="now"/>, oldest first.</summary>
    Task<IReadOnlyList<QueueEntry>> ListDueAsync(DateTimeOffset now, int max, CancellationToken ct = default);

    Task<IReadOnlyList<QueueEntry>> ListAsync(CancellationToken ct = default);

    Task<QueueEntry?> GetAsync(long id, CancellationToken ct = default);

    /// <summary>Records a failed attempt: recipients still pending, next attempt time, last error, whether a delay notice was sent.</summary>
    Task UpdateAsync(QueueEntry entry, CancellationToken ct = default);

    /// <summary>Removes an entry (delivered, bounced or deleted by the admin).</summary>
    Task<bool> DeleteAsync(long id, CancellationToken ct = default);

    /// <summary>Makes an entry (or all, with null) due now.</summary>
    Task<int> RetryNowAsync(long? id, DateTimeOffset now, CancellationToken ct = default);
}
