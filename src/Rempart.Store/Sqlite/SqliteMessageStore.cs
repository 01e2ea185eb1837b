using Microsoft.Data.Sqlite;
using Rempart.Store.Mime;

namespace Rempart.Store.Sqlite;

/// <summary>
/// Mailboxes and messages in SQLite. IMAP invariants kept here (RFC 9051 section 2.3.1.1, RFC 7162):
/// UIDVALIDITY comes from a store-wide counter so a re-created name never reuses one; uid_next only grows;
/// every append, flag change and expunge takes highest_modseq + 1 of its mailbox, and expunged UIDs are kept with
/// their mod-sequence for QRESYNC VANISHED.
/// </summary>
internal sealed class SqliteMessageStore(SqliteMailStore store) : IMessageStore
{
    private const char Separator = '/';
    private const int MaxMailboxNameLength = 1000;

    private const string MailboxSelect =
        """
        SELECT mb.id, mb.account_id, mb.name, mb.special_use, mb.uid_validity, mb.uid_next, mb.highest_modseq, mb.subscribed,
               count(m.id), coalesce(sum(CASE WHEN m.seen = 0 THEN 1 ELSE 0 END), 0), coalesce(sum(m.size), 0)
        FROM mailboxes mb LEFT JOIN messages m ON m.mailbox_id = mb.id
        """;

    private const string MetadataSelect =
        """
        SELECT m.id, mm.envelope, mm.body_structure, mm.body, mm.subject, mm.from_header, mm.to_header, mm.cc_header,
               mm.date, mm.message_id, mm.in_reply_to, mm.refs
        FROM messages m JOIN message_meta mm ON mm.blob_id = m.blob_id
        """;

    private const string MessageSelect =
        "SELECT m.id, m.mailbox_id, m.uid, b.hash, m.size, m.internal_date, m.flags, m.modseq FROM messages m JOIN blobs b ON b.id = m.blob_id";

    private static readonly string[] SystemFlags = [@"\Seen", @"\Answered", @"\Flagged", @"\Deleted", @"\Draft"];

    public Task<IReadOnlyList<MailboxRecord>> ListMailboxesAsync(long accountId, CancellationToken ct = default) =>
        store.ReadAsync<IReadOnlyList<MailboxRecord>>(
            db => db.Query(MailboxSelect + " WHERE mb.account_id = @a GROUP BY mb.id ORDER BY mb.name", ReadMailbox, ("@a", accountId)), ct);

    public Task<MailboxRecord?> GetMailboxAsync(long accountId, string name, CancellationToken ct = default)
    {
        if (!TryNormalizeName(name, out var normalized, out _))
        {
            return Task.FromResult<MailboxRecord?>(null);
        }

        return store.ReadAsync(
            db => db.Single(MailboxSelect + " WHERE mb.account_id = @a AND mb.name = @n GROUP BY mb.id", ReadMailbox, ("@a", accountId), ("@n", normalized)), ct);
    }

    public Task<MailboxRecord?> GetMailboxAsync(long mailboxId, CancellationToken ct = default) =>
        store.ReadAsync(db => GetMailbox(db, mailboxId), ct);

    public Task<long?> FindMailboxIdAsync(long accountId, string name, CancellationToken ct = default) =>
        TryNormalizeName(name, out var normalized, out _)
            ? store.ReadAsync(db => FindMailbox(db, accountId, normalized), ct)
            : Task.FromResult<long?>(null);

    public Task<MailboxRecord> CreateMailboxAsync(long accountId, string name, string? specialUse = null, CancellationToken ct = default)
    {
        var normalized = NormalizeName(name);
        return store.WriteAsync(op =>
        {
            if (op.Db.Long("SELECT 1 FROM accounts WHERE id = @a", ("@a", accountId)) is null)
            {
                throw new StoreException($"account {accountId} does not exist");
            }

            if (FindMailbox(op.Db, accountId, normalized) is not null)
            {
                throw new StoreException($"mailbox {normalized} already exists");
            }

            // RFC 9051 section 6.3.4: superior names needed by the new one are created too.
            for (var i = normalized.IndexOf(Separator, StringComparison.Ordinal); i > 0; i = normalized.IndexOf(Separator, i + 1))
            {
                var parent = normalized[..i];
                if (FindMailbox(op.Db, accountId, parent) is null)
                {
                    InsertMailbox(op, accountId, parent, null);
                }
            }

            var id = InsertMailbox(op, accountId, normalized, specialUse);
            return GetMailbox(op.Db, id)!;
        }, ct);
    }

    public Task DeleteMailboxAsync(long mailboxId, CancellationToken ct = default) =>
        store.WriteAsync(op =>
        {
            var mailbox = GetMailbox(op.Db, mailboxId) ?? throw new StoreException($"mailbox {mailboxId} does not exist");
            if (IsInbox(mailbox.Name))
            {
                throw new StoreException("INBOX cannot be deleted");
            }

            DeleteMailboxRows(op, mailboxId);
            return true;
        }, ct);

    public Task RenameMailboxAsync(long mailboxId, string newName, CancellationToken ct = default)
    {
        var target = NormalizeName(newName);
        return store.WriteAsync(op =>
        {
            var db = op.Db;
            var mailbox = GetMailbox(db, mailboxId) ?? throw new StoreException($"mailbox {mailboxId} does not exist");
            if (FindMailbox(db, mailbox.AccountId, target) is not null)
            {
                throw new StoreException($"mailbox {target} already exists");
            }

            if (IsInbox(mailbox.Name))
            {
                // RFC 9051 section 6.3.6: renaming INBOX moves its messages to a new mailbox and leaves INBOX empty;
                // INBOX's children are not renamed.
                var newId = InsertMailbox(op, mailbox.AccountId, target, null);
                var messages = db.Query("SELECT id, uid FROM messages WHERE mailbox_id = @m ORDER BY uid", r => (Id: r.GetInt64(0), Uid: r.GetInt64(1)), ("@m", mailboxId));
                if (messages.Count > 0)
                {
                    var targetModSeq = NextModSeq(db, newId);
                    var inboxModSeq = NextModSeq(db, mailboxId);
                    foreach (var (id, uid) in messages)
                    {
                        db.Exec(
                            "UPDATE messages SET mailbox_id = @n, uid = @u, modseq = @s WHERE id = @id",
                            ("@n", newId), ("@u", AllocateUid(db, newId)), ("@s", targetModSeq), ("@id", id));
                        RecordExpunged(db, mailboxId, uid, inboxModSeq);
                    }
                }

                op.ChangedMailboxes.Add(mailboxId);
                op.ChangedMailboxes.Add(newId);
                return true;
            }

            if (target.StartsWith(mailbox.Name + Separator, StringComparison.Ordinal))
            {
                throw new StoreException($"mailbox {mailbox.Name} cannot be renamed into its own child {target}");
            }

            if (IsInbox(target))
            {
                throw new StoreException("INBOX already exists");
            }

            var children = db.Query(
                "SELECT id, name FROM mailboxes WHERE account_id = @a AND (name = @o OR substr(name, 1, length(@o) + 1) = @o || '/')",
                r => (Id: r.GetInt64(0), Name: r.GetString(1)),
                ("@a", mailbox.AccountId), ("@o", mailbox.Name));
            foreach (var (id, name) in children)
            {
                var renamed = target + name[mailbox.Name.Length..];
                if (id != mailboxId && FindMailbox(db, mailbox.AccountId, renamed) is not null)
                {
                    throw new StoreException($"cannot rename {name} to {renamed}: that mailbox exists");
                }

                db.Exec("UPDATE mailboxes SET name = @n WHERE id = @id", ("@n", renamed), ("@id", id));
                op.ChangedMailboxes.Add(id);
            }

            return true;
        }, ct);
    }

    public Task SetSubscribedAsync(long mailboxId, bool subscribed, CancellationToken ct = default) =>
        store.WriteAsync(op =>
        {
            if (op.Db.Exec("UPDATE mailboxes SET subscribed = @s WHERE id = @id", ("@s", subscribed ? 1 : 0), ("@id", mailboxId)) == 0)
            {
                throw new StoreException($"mailbox {mailboxId} does not exist");
            }

            return true;
        }, ct);

    public async Task<IReadOnlyList<DeliveryResult>> DeliverAsync(BlobRef blob, IReadOnlyList<DeliveryTarget> targets, DateTimeOffset internalDate, CancellationToken ct = default) =>
        await DeliverAsync(blob, await AnalyzeIfNeededAsync(blob, ct), targets, internalDate, ct);

    public Task<IReadOnlyList<DeliveryResult>> DeliverAsync(BlobRef blob, ReadOnlyMemory<byte> content, IReadOnlyList<DeliveryTarget> targets, DateTimeOffset internalDate, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(blob);
        if (content.Length != blob.Size)
        {
            throw new ArgumentException($"the content ({content.Length} bytes) is not the blob's ({blob.Size} bytes)", nameof(content));
        }

        // A new body in the common case (a fresh Received field makes each inbound copy unique): analyzing it from
        // memory costs less than asking the database first and reading the blob back. EnsureMetadata keeps the first
        // analysis when the body turns out to be known.
        return DeliverAsync(blob, MessageAnalyzer.AnalyzeOrFallback(content), targets, internalDate, ct);
    }

    private async Task<IReadOnlyList<DeliveryResult>> DeliverAsync(BlobRef blob, MessageAnalysis? analysis, IReadOnlyList<DeliveryTarget> targets, DateTimeOffset internalDate, CancellationToken ct)
    {
        var flagsPerTarget = targets.Select(t => NormalizeFlags(t.Flags ?? [])).ToList();
        return await store.WriteAsync<IReadOnlyList<DeliveryResult>>(op =>
        {
            var db = op.Db;
            var results = new List<DeliveryResult>(targets.Count);
            long? blobId = null;
            for (var i = 0; i < targets.Count; i++)
            {
                var target = targets[i];
                var quota = ReadQuota(db, target.AccountId);
                if (quota is null)
                {
                    results.Add(new DeliveryResult(target.AccountId, DeliveryOutcome.NoSuchAccount, 0, 0));
                    continue;
                }

                if (IsOverQuota(quota, blob.Size, 1))
                {
                    results.Add(new DeliveryResult(target.AccountId, DeliveryOutcome.OverQuota, 0, 0));
                    continue;
                }

                var mailboxId = DeliveryMailbox(op, target);
                var id = blobId ?? op.AddBlobRef(blob);
                if (blobId is null)
                {
                    blobId = id;
                    EnsureMetadata(op, id, blob, analysis, a => store.DeferTextIndex(op, id, blob.Hash, a));
                }
                else
                {
                    op.Db.Exec("UPDATE blobs SET refcount = refcount + 1 WHERE id = @id", ("@id", id));
                }

                var (_, uid, _) = InsertMessage(op, mailboxId, target.AccountId, id, blob.Size, internalDate, flagsPerTarget[i]);
                results.Add(new DeliveryResult(target.AccountId, DeliveryOutcome.Stored, mailboxId, uid));
            }

            return results;
        }, ct);
    }

    public async Task<AppendResult> AppendAsync(long mailboxId, BlobRef blob, IReadOnlyCollection<string> flags, DateTimeOffset internalDate, CancellationToken ct = default)
    {
        var normalizedFlags = NormalizeFlags(flags);
        var analysis = await AnalyzeIfNeededAsync(blob, ct);
        return await store.WriteAsync(op =>
        {
            var mailbox = MailboxRow(op.Db, mailboxId);
            var quota = ReadQuota(op.Db, mailbox.AccountId)!;
            if (IsOverQuota(quota, blob.Size, 1))
            {
                throw new QuotaExceededException($"appending {blob.Size} bytes would exceed the quota of the account");
            }

            var blobId = op.AddBlobRef(blob);
            EnsureMetadata(op, blobId, blob, analysis);
            var (_, uid, modSeq) = InsertMessage(op, mailboxId, mailbox.AccountId, blobId, blob.Size, internalDate, normalizedFlags);
            return new AppendResult(mailboxId, mailbox.UidValidity, uid, modSeq);
        }, ct);
    }

    public Task<IReadOnlyList<AppendResult>> AppendManyAsync(long mailboxId, IReadOnlyList<AppendItem> items, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(items);
        return AppendManyAsync([.. items.Select(i => (mailboxId, i))], indexTextLater: false, ct);
    }

    public Task<IReadOnlyList<AppendResult>> RestoreManyAsync(IReadOnlyList<(long MailboxId, AppendItem Item)> items, CancellationToken ct = default) =>
        AppendManyAsync(items, indexTextLater: true, ct);

    /// <summary>Appends in one transaction, in the given order, to one or several mailboxes.</summary>
    private async Task<IReadOnlyList<AppendResult>> AppendManyAsync(IReadOnlyList<(long MailboxId, AppendItem Item)> items, bool indexTextLater, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(items);
        var analyses = new MessageAnalysis?[items.Count];

        // Metadata and the index are per body: bodies the store already knows (a copy, a restore of mail still there)
        // are not parsed again. One query for the batch rather than one per message.
        // A restore has asked already (FindKnownBodiesAsync) and gives an analysis for every other body; should a body
        // it found lose its metadata meanwhile, EnsureMetadata parses it inside the write.
        var unanalyzed = items.Where(i => i.Item.Analysis is null).Select(i => i.Item.Blob.Hash).ToHashSet(StringComparer.Ordinal);
        IReadOnlySet<string> known = indexTextLater || unanalyzed.Count == 0 ? unanalyzed : await FindKnownBodiesAsync(unanalyzed, ct);
        await Parallel.ForAsync(0, items.Count, new ParallelOptions { CancellationToken = ct, MaxDegreeOfParallelism = Environment.ProcessorCount }, async (i, token) =>
        {
            var item = items[i].Item;
            analyses[i] = item.Analysis ?? (known.Contains(item.Blob.Hash) ? null : MessageAnalyzer.AnalyzeOrFallback(await store.Blobs.ReadAllAsync(item.Blob.Hash, token)));
        });
        return await store.WriteAsync<IReadOnlyList<AppendResult>>(op =>
        {
            var mailboxes = items.Select(i => i.MailboxId).Distinct().ToDictionary(id => id, id => MailboxRow(op.Db, id));
            foreach (var account in items.GroupBy(i => mailboxes[i.MailboxId].AccountId))
            {
                var quota = ReadQuota(op.Db, account.Key)!;
                if (IsOverQuota(quota, account.Sum(i => i.Item.Blob.Size), account.Count()))
                {
                    throw new QuotaExceededException($"appending {account.Count()} messages ({account.Sum(i => i.Item.Blob.Size)} bytes) would exceed the quota of the account");
                }
            }

            var results = new List<AppendResult>(items.Count);
            for (var i = 0; i < items.Count; i++)
            {
                var (mailboxId, item) = items[i];
                var mailbox = mailboxes[mailboxId];
                var blobId = op.AddBlobRef(item.Blob);
                EnsureMetadata(op, blobId, item.Blob, analyses[i], indexTextLater ? _ => SqliteMailStore.ListTextForIndex(op, blobId) : null);
                var (_, uid, modSeq) = InsertMessage(op, mailboxId, mailbox.AccountId, blobId, item.Blob.Size, item.InternalDate, NormalizeFlags(item.Flags));
                results.Add(new AppendResult(mailboxId, mailbox.UidValidity, uid, modSeq));
            }

            return results;
        }, ct);
    }

    public Task<IReadOnlySet<string>> FindKnownBodiesAsync(IReadOnlyCollection<string> hashes, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(hashes);
        // Hashes are hex digits (checked): nothing to escape in the JSON array.
        var hashJson = "[" + string.Join(',', hashes.Where(Blobs.FileBlobStore.IsValidHash).Select(h => "\"" + h + "\"")) + "]";
        return store.ReadAsync<IReadOnlySet<string>>(
            db => db.Query(
                "SELECT b.hash FROM blobs b JOIN message_meta mm ON mm.blob_id = b.id WHERE b.refcount > 0 AND b.hash IN (SELECT value FROM json_each(@h))",
                r => r.GetString(0), ("@h", hashJson)).ToHashSet(StringComparer.Ordinal),
            ct);
    }

    public Task<IReadOnlyList<MessageRecord>> ListMessagesAsync(long mailboxId, CancellationToken ct = default) =>
        store.ReadAsync<IReadOnlyList<MessageRecord>>(db => db.Query(MessageSelect + " WHERE m.mailbox_id = @m ORDER BY m.uid", ReadMessage, ("@m", mailboxId)), ct);

    public Task<IReadOnlyList<MessageRecord>> ListChangedSinceAsync(long mailboxId, long sinceModSeq, CancellationToken ct = default) =>
        store.ReadAsync<IReadOnlyList<MessageRecord>>(
            db => db.Query(MessageSelect + " WHERE m.mailbox_id = @m AND m.modseq > @s ORDER BY m.uid", ReadMessage, ("@m", mailboxId), ("@s", sinceModSeq)), ct);

    public Task<IReadOnlyList<long>> ListExpungedSinceAsync(long mailboxId, long sinceModSeq, CancellationToken ct = default) =>
        store.ReadAsync<IReadOnlyList<long>>(
            db => db.Query("SELECT uid FROM expunged WHERE mailbox_id = @m AND modseq > @s ORDER BY uid", r => r.GetInt64(0), ("@m", mailboxId), ("@s", sinceModSeq)), ct);

    public Task<MessageMetadata?> GetMetadataAsync(long messageId, CancellationToken ct = default) =>
        store.ReadAsync(db => db.Single(MetadataSelect + " WHERE m.id = @id", ReadMetadata, ("@id", messageId)), ct);

    public Task<IReadOnlyDictionary<long, MessageMetadata>> GetMetadataManyAsync(IReadOnlyCollection<long> messageIds, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(messageIds);
        if (messageIds.Count == 0)
        {
            return Task.FromResult<IReadOnlyDictionary<long, MessageMetadata>>(new Dictionary<long, MessageMetadata>());
        }

        var idJson = Columns.JsonArray(messageIds);
        return store.ReadAsync<IReadOnlyDictionary<long, MessageMetadata>>(db =>
        {
            var result = new Dictionary<long, MessageMetadata>(messageIds.Count);
            foreach (var metadata in db.Query(MetadataSelect + " WHERE m.id IN (SELECT value FROM json_each(@ids))", ReadMetadata, ("@ids", idJson)))
            {
                result[metadata.MessageId] = metadata;
            }

            return result;
        }, ct);
    }

    public Task<MailboxChanges?> GetChangesSinceAsync(long mailboxId, long sinceModSeq, CancellationToken ct = default) =>
        store.ReadAsync(db =>
        {
            // One snapshot: the counters and the rows agree, so the caller can check its view against MessageCount.
            var state = db.Query(
                "SELECT uid_next, highest_modseq, (SELECT count(*) FROM messages WHERE mailbox_id = @m) FROM mailboxes WHERE id = @m",
                r => (UidNext: r.GetInt64(0), HighestModSeq: r.GetInt64(1), Count: r.GetInt32(2)),
                ("@m", mailboxId));
            if (state.Count == 0)
            {
                return null;
            }

            var (uidNext, highest, count) = state[0];
            if (highest <= sinceModSeq)
            {
                return new MailboxChanges(uidNext, highest, count, [], []);
            }

            var changed = db.Query(MessageSelect + " WHERE m.mailbox_id = @m AND m.modseq > @s ORDER BY m.uid", ReadMessage, ("@m", mailboxId), ("@s", sinceModSeq));
            var expunged = db.Query("SELECT uid FROM expunged WHERE mailbox_id = @m AND modseq > @s ORDER BY uid", r => r.GetInt64(0), ("@m", mailboxId), ("@s", sinceModSeq));
            return new MailboxChanges(uidNext, highest, count, changed, expunged);
        }, ct);

    public Task<StoreFlagsResult> StoreFlagsAsync(long mailboxId, IReadOnlyCollection<long> uids, FlagOperation operation, IReadOnlyCollection<string> flags, long? unchangedSince = null, CancellationToken ct = default)
    {
        var requested = NormalizeFlags(flags);
        var uidJson = Columns.JsonArray(uids);
        return store.WriteAsync(op =>
        {
            var db = op.Db;
            _ = MailboxRow(db, mailboxId);
            var rows = db.Query(MessageSelect + " WHERE m.mailbox_id = @m AND m.uid IN (SELECT value FROM json_each(@u)) ORDER BY m.uid", ReadMessage, ("@m", mailboxId), ("@u", uidJson));
            var changed = new List<MessageRecord>();
            var failed = new List<long>();
            long? modSeq = null;
            foreach (var message in rows)
            {
                // RFC 7162 section 3.1.3: UNCHANGEDSINCE fails for messages modified after the given mod-sequence.
                if (unchangedSince is { } since && message.ModSeq > since)
                {
                    failed.Add(message.Uid);
                    continue;
                }

                var updated = ApplyFlags(message.Flags, operation, requested);
                if (updated.SequenceEqual(message.Flags, StringComparer.Ordinal))
                {
                    continue;
                }

                modSeq ??= NextModSeq(db, mailboxId);
                db.Exec(
                    "UPDATE messages SET flags = @f, seen = @seen, deleted = @del, modseq = @s WHERE id = @id",
                    ("@f", string.Join(' ', updated)), ("@seen", Has(updated, @"\Seen")), ("@del", Has(updated, @"\Deleted")), ("@s", modSeq), ("@id", message.Id));
                changed.Add(message with { Flags = updated, ModSeq = modSeq.Value });
            }

            if (changed.Count > 0)
            {
                op.ChangedMailboxes.Add(mailboxId);
            }

            return new StoreFlagsResult(changed, failed);
        }, ct);
    }

    public Task<IReadOnlyList<long>> ExpungeAsync(long mailboxId, IReadOnlyCollection<long>? uids = null, CancellationToken ct = default)
    {
        var uidJson = uids is null ? null : Columns.JsonArray(uids);
        return store.WriteAsync<IReadOnlyList<long>>(op =>
        {
            var db = op.Db;
            var mailbox = MailboxRow(db, mailboxId);
            var rows = db.Query(
                "SELECT id, uid, blob_id, size FROM messages WHERE mailbox_id = @m AND deleted = 1 AND (@u IS NULL OR uid IN (SELECT value FROM json_each(@u))) ORDER BY uid",
                ReadRemovable, ("@m", mailboxId), ("@u", uidJson));
            if (rows.Count == 0)
            {
                return [];
            }

            var modSeq = NextModSeq(db, mailboxId);
            RemoveMessages(op, mailbox.AccountId, rows, mailboxId, modSeq);
            return rows.Select(r => r.Uid).ToList();
        }, ct);
    }

    public Task<CopyResult> CopyAsync(long sourceMailboxId, IReadOnlyCollection<long> uids, long targetMailboxId, bool move, CancellationToken ct = default)
    {
        var uidJson = Columns.JsonArray(uids);
        return store.WriteAsync(op =>
        {
            var db = op.Db;
            var source = MailboxRow(db, sourceMailboxId);
            var target = MailboxRow(db, targetMailboxId);
            var rows = db.Query(
                "SELECT id, uid, blob_id, size, internal_date, flags FROM messages WHERE mailbox_id = @m AND uid IN (SELECT value FROM json_each(@u)) ORDER BY uid",
                r => (Removable: ReadRemovable(r), InternalDate: r.GetInt64(4), Flags: r.GetString(5)),
                ("@m", sourceMailboxId), ("@u", uidJson));
            if (rows.Count == 0)
            {
                return new CopyResult(target.UidValidity, [], []);
            }

            if (!move || source.AccountId != target.AccountId)
            {
                var quota = ReadQuota(db, target.AccountId)!;
                if (IsOverQuota(quota, rows.Sum(r => r.Removable.Size), rows.Count))
                {
                    throw new QuotaExceededException($"copying {rows.Count} message(s) would exceed the quota of the account");
                }
            }

            var targetModSeq = NextModSeq(db, targetMailboxId);
            var sourceUids = new List<long>(rows.Count);
            var targetUids = new List<long>(rows.Count);
            foreach (var (removable, internalDate, flags) in rows)
            {
                db.Exec("UPDATE blobs SET refcount = refcount + 1 WHERE id = @id", ("@id", removable.BlobId));
                var uid = AllocateUid(db, targetMailboxId);
                var flagList = SplitFlags(flags);
                db.Exec(
                    """
                    INSERT INTO messages(mailbox_id, uid, blob_id, size, internal_date, flags, seen, deleted, modseq)
                    VALUES(@m, @u, @b, @s, @d, @f, @seen, @del, @ms)
                    """,
                    ("@m", targetMailboxId), ("@u", uid), ("@b", removable.BlobId), ("@s", removable.Size), ("@d", internalDate),
                    ("@f", flags), ("@seen", Has(flagList, @"\Seen")), ("@del", Has(flagList, @"\Deleted")), ("@ms", targetModSeq));
                sourceUids.Add(removable.Uid);
                targetUids.Add(uid);
            }

            db.Exec(
                "UPDATE accounts SET used_bytes = used_bytes + @b, used_messages = used_messages + @n WHERE id = @a",
                ("@b", rows.Sum(r => r.Removable.Size)), ("@n", rows.Count), ("@a", target.AccountId));
            op.ChangedMailboxes.Add(targetMailboxId);

            if (move)
            {
                // RFC 6851: MOVE is copy + expunge of the source messages, each expunge recorded for QRESYNC.
                RemoveMessages(op, source.AccountId, rows.Select(r => r.Removable).ToList(), sourceMailboxId, NextModSeq(db, sourceMailboxId));
            }

            return new CopyResult(target.UidValidity, sourceUids, targetUids);
        }, ct);
    }

    public async Task<IReadOnlyList<long>> SearchTextAsync(long mailboxId, string text, TextSearchScope scope, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(text);

        // After a restore the index is rebuilt in the background; this mailbox's part is made complete first.
        await store.EnsureTextIndexedAsync(mailboxId, ct);
        return await store.ReadAsync<IReadOnlyList<long>>(db =>
        {
            if (text.Length == 0)
            {
                return db.Query("SELECT uid FROM messages WHERE mailbox_id = @m ORDER BY uid", r => r.GetInt64(0), ("@m", mailboxId));
            }

            // The trigram tokenizer answers substring MATCH queries for 3+ characters (case-insensitive, as IMAP
            // SEARCH wants); shorter terms have no trigram, so they fall back to a scan.
            if (text.EnumerateRunes().Count() >= 3)
            {
                var phrase = "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";
                var query = scope == TextSearchScope.Body ? "body : " + phrase : "{headers body} : " + phrase;
                return db.Query(
                    "SELECT uid FROM messages WHERE mailbox_id = @m AND blob_id IN (SELECT rowid FROM message_text WHERE message_text MATCH @q) ORDER BY uid",
                    r => r.GetInt64(0), ("@m", mailboxId), ("@q", query));
            }

            var pattern = "%" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("%", "\\%", StringComparison.Ordinal).Replace("_", "\\_", StringComparison.Ordinal) + "%";
            var condition = scope == TextSearchScope.Body
                ? "t.body LIKE @p ESCAPE '\\'"
                : "(t.body LIKE @p ESCAPE '\\' OR t.headers LIKE @p ESCAPE '\\')";
            return db.Query(
                $"SELECT m.uid FROM messages m JOIN message_text t ON t.rowid = m.blob_id WHERE m.mailbox_id = @m AND {condition} ORDER BY m.uid",
                r => r.GetInt64(0), ("@m", mailboxId), ("@p", pattern));
        }, ct);
    }

    public Task<QuotaUsage> GetQuotaAsync(long accountId, CancellationToken ct = default) =>
        store.ReadAsync(db => ReadQuota(db, accountId) ?? throw new StoreException($"account {accountId} does not exist"), ct);

    /// <summary>Creates a mailbox row with a fresh UIDVALIDITY.</summary>
    internal static long InsertMailbox(WriteOp op, long accountId, string name, string? specialUse)
    {
        // UIDVALIDITY must never repeat for a name (RFC 9051 section 2.3.1.1): a store-wide counter that starts at
        // the current Unix time and only grows (32-bit until 2106).
        var seconds = op.Now.ToUnixTimeSeconds();
        var uidValidity = op.Db.Long(
            "INSERT INTO store_state(key, value) VALUES('uid_validity', @now) ON CONFLICT(key) DO UPDATE SET value = max(value + 1, @now) RETURNING value",
            ("@now", seconds))!.Value;
        return op.Db.Long(
            "INSERT INTO mailboxes(account_id, name, special_use, uid_validity, uid_next, highest_modseq, subscribed) VALUES(@a, @n, @s, @v, 1, 1, 1) RETURNING id",
            ("@a", accountId), ("@n", name), ("@s", specialUse), ("@v", uidValidity))!.Value;
    }

    /// <summary>Deletes a mailbox with its messages (blob references released) and expunge history.</summary>
    internal static void DeleteMailboxRows(WriteOp op, long mailboxId)
    {
        var db = op.Db;
        var accountId = db.Long("SELECT account_id FROM mailboxes WHERE id = @m", ("@m", mailboxId));
        if (accountId is null)
        {
            return;
        }

        var rows = db.Query("SELECT id, uid, blob_id, size FROM messages WHERE mailbox_id = @m", ReadRemovable, ("@m", mailboxId));
        RemoveMessages(op, accountId.Value, rows, null, 0);
        db.Exec("DELETE FROM expunged WHERE mailbox_id = @m", ("@m", mailboxId));
        db.Exec("DELETE FROM mailboxes WHERE id = @m", ("@m", mailboxId));
        op.ChangedMailboxes.Add(mailboxId);
    }

    /// <summary>Flags in their stored form: system flags canonical and first, then keywords sorted; \Recent dropped.</summary>
    internal static List<string> NormalizeFlags(IEnumerable<string> flags)
    {
        var system = new List<string>();
        var keywords = new List<string>();
        foreach (var raw in flags)
        {
            var flag = raw?.Trim() ?? string.Empty;
            if (flag.Length == 0 || string.Equals(flag, @"\Recent", StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            // RFC 9051 flag-keyword is an atom: no spaces, specials or controls (the stored form is space-separated).
            if (flag == "\\")
            {
                throw new StoreException($"invalid flag '{raw}'");
            }

            foreach (var c in flag.AsSpan(flag[0] == '\\' ? 1 : 0))
            {
                if (c <= ' ' || c >= 0x7f || c is '(' or ')' or '{' or '%' or '*' or '"' or '\\' or ']')
                {
                    throw new StoreException($"invalid flag '{raw}'");
                }
            }

            var canonical = Array.Find(SystemFlags, s => string.Equals(s, flag, StringComparison.OrdinalIgnoreCase));
            if (canonical is not null)
            {
                if (!system.Contains(canonical))
                {
                    system.Add(canonical);
                }
            }
            else if (!keywords.Contains(flag, StringComparer.OrdinalIgnoreCase))
            {
                keywords.Add(flag);
            }
        }

        system.Sort((a, b) => Array.IndexOf(SystemFlags, a).CompareTo(Array.IndexOf(SystemFlags, b)));
        keywords.Sort(StringComparer.OrdinalIgnoreCase);
        return [.. system, .. keywords];
    }

    private static List<string> ApplyFlags(IReadOnlyList<string> current, FlagOperation operation, List<string> requested) => operation switch
    {
        FlagOperation.Replace => requested,
        FlagOperation.Add => NormalizeFlags(current.Concat(requested)),
        FlagOperation.Remove => NormalizeFlags(current.Where(f => !requested.Contains(f, StringComparer.OrdinalIgnoreCase))),
        _ => throw new StoreException($"unknown flag operation {operation}"),
    };

    private static int Has(IReadOnlyList<string> flags, string flag) => flags.Contains(flag, StringComparer.Ordinal) ? 1 : 0;

    private static List<string> SplitFlags(string flags) =>
        [.. flags.Split(' ', StringSplitOptions.RemoveEmptyEntries)];

    private async Task<MessageAnalysis?> AnalyzeIfNeededAsync(BlobRef blob, CancellationToken ct)
    {
        // Metadata and the index are per body: a body already known (another recipient, a copy) is not parsed again.
        var known = await store.ReadAsync(
            db => db.Long("SELECT 1 FROM blobs b JOIN message_meta mm ON mm.blob_id = b.id WHERE b.hash = @h", ("@h", blob.Hash)) is not null, ct);
        if (known)
        {
            return null;
        }

        var raw = await store.Blobs.ReadAllAsync(blob.Hash, ct);
        return MessageAnalyzer.AnalyzeOrFallback(raw);
    }

    /// <param name="deferText">When given, it takes the text and the body is indexed later instead of in this
    /// transaction (delivery: <see cref="SqliteMailStore.DeferTextIndex"/>; restore: <see cref="SqliteMailStore.ListTextForIndex"/>).</param>
    private static void EnsureMetadata(WriteOp op, long blobId, BlobRef blob, MessageAnalysis? analysis, Action<MessageAnalysis>? deferText = null)
    {
        if (op.Db.Long("SELECT 1 FROM message_meta WHERE blob_id = @b", ("@b", blobId)) is not null)
        {
            return;
        }

        // Only when the body's earlier metadata was dropped between the pre-check and this write.
        analysis ??= MessageAnalyzer.AnalyzeOrFallback(op.Blobs.ReadAllAsync(blob.Hash).GetAwaiter().GetResult());
        op.Db.Exec(
            """
            INSERT INTO message_meta(blob_id, envelope, body, body_structure, subject, from_header, to_header, cc_header, date, message_id, in_reply_to, refs)
            VALUES(@b, @env, @body, @bs, @subj, @from, @to, @cc, @date, @mid, @irt, @refs)
            """,
            ("@b", blobId), ("@env", analysis.Envelope), ("@body", analysis.Body), ("@bs", analysis.BodyStructure), ("@subj", analysis.Subject),
            ("@from", analysis.From), ("@to", analysis.To), ("@cc", analysis.Cc), ("@date", analysis.Date is { } d ? Columns.Time(d) : null),
            ("@mid", analysis.MessageId), ("@irt", analysis.InReplyTo), ("@refs", analysis.References));
        if (deferText is not null)
        {
            deferText(analysis);
            return;
        }

        op.Db.Exec("DELETE FROM message_text WHERE rowid = @b", ("@b", blobId));
        op.Db.Exec("INSERT INTO message_text(rowid, headers, body) VALUES(@b, @h, @t)", ("@b", blobId), ("@h", analysis.HeaderText), ("@t", analysis.BodyText));
    }

    private static long DeliveryMailbox(WriteOp op, DeliveryTarget target)
    {
        if (target.Mailbox is { } name && TryNormalizeName(name, out var normalized, out _) &&
            FindMailbox(op.Db, target.AccountId, normalized) is { } requested)
        {
            return requested;
        }

        // A rule naming a folder that does not exist still delivers: to INBOX, never lost.
        return FindMailbox(op.Db, target.AccountId, "INBOX") ?? InsertMailbox(op, target.AccountId, "INBOX", null);
    }

    private static (long Id, long Uid, long ModSeq) InsertMessage(WriteOp op, long mailboxId, long accountId, long blobId, long size, DateTimeOffset internalDate, List<string> flags)
    {
        var db = op.Db;
        var modSeq = NextModSeq(db, mailboxId);
        var uid = AllocateUid(db, mailboxId);
        var id = db.Long(
            """
            INSERT INTO messages(mailbox_id, uid, blob_id, size, internal_date, flags, seen, deleted, modseq)
            VALUES(@m, @u, @b, @s, @d, @f, @seen, @del, @ms) RETURNING id
            """,
            ("@m", mailboxId), ("@u", uid), ("@b", blobId), ("@s", size), ("@d", Columns.Time(internalDate)),
            ("@f", string.Join(' ', flags)), ("@seen", Has(flags, @"\Seen")), ("@del", Has(flags, @"\Deleted")), ("@ms", modSeq))!.Value;
        db.Exec("UPDATE accounts SET used_bytes = used_bytes + @s, used_messages = used_messages + 1 WHERE id = @a", ("@s", size), ("@a", accountId));
        op.ChangedMailboxes.Add(mailboxId);
        return (id, uid, modSeq);
    }

    /// <summary>Deletes message rows, releases their blobs, updates usage; records expunges when a modseq is given.</summary>
    private static void RemoveMessages(WriteOp op, long accountId, List<Removable> rows, long? expungeMailbox, long modSeq)
    {
        var db = op.Db;
        foreach (var row in rows)
        {
            db.Exec("DELETE FROM messages WHERE id = @id", ("@id", row.Id));
            op.ReleaseBlob(row.BlobId);
            if (expungeMailbox is { } mailboxId)
            {
                RecordExpunged(db, mailboxId, row.Uid, modSeq);
            }
        }

        if (rows.Count > 0)
        {
            db.Exec(
                "UPDATE accounts SET used_bytes = used_bytes - @b, used_messages = used_messages - @n WHERE id = @a",
                ("@b", rows.Sum(r => r.Size)), ("@n", rows.Count), ("@a", accountId));
            if (expungeMailbox is { } changed)
            {
                op.ChangedMailboxes.Add(changed);
            }
        }
    }

    private static void RecordExpunged(Db db, long mailboxId, long uid, long modSeq) =>
        db.Exec(
            "INSERT INTO expunged(mailbox_id, uid, modseq) VALUES(@m, @u, @s) ON CONFLICT(mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq",
            ("@m", mailboxId), ("@u", uid), ("@s", modSeq));

    private static long NextModSeq(Db db, long mailboxId) =>
        db.Long("UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = @m RETURNING highest_modseq", ("@m", mailboxId))
        ?? throw new StoreException($"mailbox {mailboxId} does not exist");

    private static long AllocateUid(Db db, long mailboxId) =>
        db.Long("UPDATE mailboxes SET uid_next = uid_next + 1 WHERE id = @m RETURNING uid_next - 1", ("@m", mailboxId))
        ?? throw new StoreException($"mailbox {mailboxId} does not exist");

    private static QuotaUsage? ReadQuota(Db db, long accountId) =>
        db.Single(
            "SELECT used_bytes, used_messages, max_bytes, max_messages FROM accounts WHERE id = @a",
            r => new QuotaUsage(r.GetInt64(0), r.GetInt64(1), r.NullableLong(2), r.NullableLong(3)),
            ("@a", accountId));

    private static bool IsOverQuota(QuotaUsage quota, long addBytes, long addMessages) =>
        (quota.MaxBytes is { } maxBytes && quota.UsedBytes + addBytes > maxBytes) ||
        (quota.MaxMessages is { } maxMessages && quota.UsedMessages + addMessages > maxMessages);

    private static long? FindMailbox(Db db, long accountId, string normalizedName) =>
        db.Long("SELECT id FROM mailboxes WHERE account_id = @a AND name = @n", ("@a", accountId), ("@n", normalizedName));

    private static MailboxRecord? GetMailbox(Db db, long mailboxId) =>
        db.Single(MailboxSelect + " WHERE mb.id = @id GROUP BY mb.id", ReadMailbox, ("@id", mailboxId));

    private static MailboxRecord MailboxRow(Db db, long mailboxId) =>
        db.Single(
            "SELECT id, account_id, name, special_use, uid_validity, uid_next, highest_modseq, subscribed, 0, 0, 0 FROM mailboxes WHERE id = @id",
            ReadMailbox, ("@id", mailboxId))
        ?? throw new StoreException($"mailbox {mailboxId} does not exist");

    private static bool IsInbox(string name) => string.Equals(name, "INBOX", StringComparison.Ordinal);

    private static string NormalizeName(string name) =>
        TryNormalizeName(name, out var normalized, out var error) ? normalized : throw new StoreException(error);

    /// <summary>INBOX is case-insensitive (also as the first level of a hierarchy); other names are kept as given.</summary>
    private static bool TryNormalizeName(string? name, out string normalized, out string error)
    {
        normalized = string.Empty;
        if (string.IsNullOrEmpty(name))
        {
            error = "a mailbox name cannot be empty";
            return false;
        }

        if (name.Length > MaxMailboxNameLength)
        {
            error = $"a mailbox name is at most {MaxMailboxNameLength} characters";
            return false;
        }

        if (name[0] == Separator || name[^1] == Separator || name.Contains("//", StringComparison.Ordinal))
        {
            error = $"invalid mailbox name '{name}': empty hierarchy level";
            return false;
        }

        if (name.Any(char.IsControl))
        {
            error = "a mailbox name cannot contain control characters";
            return false;
        }

        if (name.Length >= 5 && string.Equals(name[..5], "INBOX", StringComparison.OrdinalIgnoreCase) && (name.Length == 5 || name[5] == Separator))
        {
            name = "INBOX" + name[5..];
        }

        normalized = name;
        error = string.Empty;
        return true;
    }

    private static MailboxRecord ReadMailbox(SqliteDataReader r) =>
        new(r.GetInt64(0), r.GetInt64(1), r.GetString(2), r.NullableString(3), r.GetInt64(4), r.GetInt64(5), r.GetInt64(6), r.GetInt64(7) != 0,
            r.GetInt32(8), r.GetInt32(9), r.GetInt64(10));

    private static MessageRecord ReadMessage(SqliteDataReader r) =>
        new(r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetString(3), r.GetInt64(4), Columns.Time(r.GetInt64(5)), SplitFlags(r.GetString(6)), r.GetInt64(7));

    private static MessageMetadata ReadMetadata(SqliteDataReader r) =>
        new(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.NullableString(4), r.NullableString(5), r.NullableString(6),
            r.NullableString(7), r.IsDBNull(8) ? null : Columns.Time(r.GetInt64(8)), r.NullableString(9), r.NullableString(10), r.NullableString(11));

    private static Removable ReadRemovable(SqliteDataReader r) => new(r.GetInt64(0), r.GetInt64(1), r.GetInt64(2), r.GetInt64(3));

    private readonly record struct Removable(long Id, long Uid, long BlobId, long Size);
}
