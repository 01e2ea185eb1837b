using System.Globalization;
using System.Text;
using Microsoft.Data.Sqlite;

namespace Rempart.Store.Sqlite;

/// <summary>
/// Mail-flow rules, quarantine and message trace in SQLite. Writes go through the store's writer loop (group
/// commit), so a trace append from the SMTP path shares its commit with the deliveries around it. A quarantine
/// entry holds a blob reference, like a queue entry, so neither the orphan sweep nor a mailbox expunge can delete
/// a held body.
/// </summary>
internal sealed class SqliteProtectionStore(SqliteMailStore store) : IProtectionStore
{
    /// <summary>Longest rule name accepted (names are typed on the command line).</summary>
    public const int MaxRuleNameLength = 200;

    /// <summary>Longest trace detail kept; longer texts (a whole SMTP reply, many verdict reasons) are cut.</summary>
    public const int MaxTraceDetailLength = 2000;

    /// <summary>Longest subject kept in trace and quarantine rows (RFC 5322 section 2.1.1 line limit).</summary>
    public const int MaxSubjectLength = 998;

    /// <summary>Rows per INSERT statement: 11 parameters each stays far below SQLite's parameter limit.</summary>
    private const int TraceRowsPerStatement = 200;

    /// <summary>Rows removed per write operation by expiry and pruning, so one sweep never stalls the writer for long.</summary>
    private const int DeleteChunk = 5000;

    private const string RulesVersionKey = "rules_version";

    private const string QuarantineSelect =
        """
        SELECT q.id, b.hash, b.size, q.sender, q.subject, q.message_id, q.reason, q.category, q.received, q.expires,
               q.trace_id, q.released, q.released_by
        FROM quarantine q JOIN blobs b ON b.id = q.blob_id
        """;

    private const string TraceColumns = "time, trace_id, kind, sender, recipient, message_id, remote_ip, detail, subject";

    // ---------------------------------------------------------------- mail-flow rules

    public Task<IReadOnlyList<TransportRuleRecord>> ListRulesAsync(CancellationToken ct = default) =>
        store.ReadAsync<IReadOnlyList<TransportRuleRecord>>(
            db => db.Query("SELECT name, priority, enabled, definition, modified, comment FROM transport_rules ORDER BY priority, name_key", ReadRule),
            ct);

    public Task<TransportRuleRecord> SaveRuleAsync(TransportRuleRecord rule, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(rule);
        var name = ValidateRuleName(rule.Name);
        if (string.IsNullOrWhiteSpace(rule.Definition))
        {
            throw new StoreException($"rule '{name}' has an empty definition");
        }

        return store.WriteAsync(op =>
        {
            var modified = Columns.Time(op.Now);
            op.Db.Exec(
                """
                INSERT INTO transport_rules(name_key, name, priority, enabled, definition, comment, modified)
                VALUES(@k, @n, @p, @e, @d, @c, @m)
                ON CONFLICT(name_key) DO UPDATE SET name = excluded.name, priority = excluded.priority, enabled = excluded.enabled,
                    definition = excluded.definition, comment = excluded.comment, modified = excluded.modified
                """,
                ("@k", name.ToLowerInvariant()), ("@n", name), ("@p", rule.Priority), ("@e", rule.Enabled ? 1 : 0),
                ("@d", rule.Definition), ("@c", rule.Comment), ("@m", modified));
            BumpRulesVersion(op.Db);
            return rule with { Name = name, Modified = Columns.Time(modified) };
        }, ct);
    }

    public Task<bool> DeleteRuleAsync(string name, CancellationToken ct = default)
    {
        var key = (name ?? string.Empty).Trim().ToLowerInvariant();
        return store.WriteAsync(op =>
        {
            if (op.Db.Exec("DELETE FROM transport_rules WHERE name_key = @k", ("@k", key)) == 0)
            {
                return false;
            }

            BumpRulesVersion(op.Db);
            return true;
        }, ct);
    }

    public Task<long> GetRulesVersionAsync(CancellationToken ct = default) =>
        store.ReadAsync(db => db.Long("SELECT value FROM store_state WHERE key = @k", ("@k", RulesVersionKey)) ?? 0, ct);

    // ---------------------------------------------------------------- quarantine

    public Task<QuarantineRecord> AddQuarantineAsync(NewQuarantine entry, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(entry);
        ArgumentNullException.ThrowIfNull(entry.Blob);
        if (entry.Recipients is not { Count: > 0 })
        {
            throw new StoreException("a quarantined message needs at least one recipient");
        }

        if (string.IsNullOrWhiteSpace(entry.Category))
        {
            throw new StoreException("a quarantined message needs a category (spam, malware, policy or rule)");
        }

        var sender = entry.Sender ?? string.Empty;
        var subject = Cut(entry.Subject ?? string.Empty, MaxSubjectLength);
        var category = entry.Category.Trim().ToLowerInvariant();
        var recipients = entry.Recipients.Select(r => (r ?? string.Empty).Trim()).ToList();
        if (recipients.Any(r => r.Length == 0))
        {
            throw new StoreException("a quarantined message has an empty recipient address");
        }

        return store.WriteAsync(op =>
        {
            var blobId = op.AddBlobRef(entry.Blob);
            var id = op.Db.Long(
                """
                INSERT INTO quarantine(blob_id, sender, sender_key, subject, message_id, reason, category, received, expires, trace_id, released, released_by)
                VALUES(@b, @s, @sk, @subj, @mid, @r, @c, @rec, @exp, @t, NULL, NULL) RETURNING id
                """,
                ("@b", blobId), ("@s", sender), ("@sk", AddressKey(sender)), ("@subj", subject), ("@mid", entry.MessageId),
                ("@r", entry.Reason ?? string.Empty), ("@c", category), ("@rec", Columns.Time(entry.Received)), ("@exp", Columns.Time(entry.Expires)),
                ("@t", entry.TraceId))!.Value;
            for (var i = 0; i < recipients.Count; i++)
            {
                op.Db.Exec(
                    "INSERT INTO quarantine_recipients(quarantine_id, position, address, address_key) VALUES(@q, @p, @a, @k)",
                    ("@q", id), ("@p", i), ("@a", recipients[i]), ("@k", AddressKey(recipients[i])));
            }

            return new QuarantineRecord(
                id, entry.Blob, sender, recipients, subject, entry.MessageId, entry.Reason ?? string.Empty, category,
                Columns.Time(Columns.Time(entry.Received)), Columns.Time(Columns.Time(entry.Expires)), entry.TraceId, null, null);
        }, ct);
    }

    public Task<IReadOnlyList<QuarantineRecord>> ListQuarantineAsync(QuarantineQuery query, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var sql = new StringBuilder(QuarantineSelect).Append(" WHERE 1 = 1");
        var args = new List<(string, object?)>();
        if (!query.IncludeReleased)
        {
            sql.Append(" AND q.released IS NULL");
        }

        if (!string.IsNullOrWhiteSpace(query.Category))
        {
            sql.Append(" AND q.category = @cat");
            args.Add(("@cat", query.Category.Trim().ToLowerInvariant()));
        }

        AddAddressFilter(sql, args, "q.sender_key", "@s", query.Sender);
        if (AddressFilter(query.Recipient) is { } recipient)
        {
            sql.Append(recipient.Exact
                ? " AND EXISTS (SELECT 1 FROM quarantine_recipients r WHERE r.quarantine_id = q.id AND r.address_key = @r)"
                : " AND EXISTS (SELECT 1 FROM quarantine_recipients r WHERE r.quarantine_id = q.id AND instr(r.address_key, @r) > 0)");
            args.Add(("@r", recipient.Key));
        }

        sql.Append(" ORDER BY q.received DESC, q.id DESC LIMIT @limit");
        args.Add(("@limit", Math.Max(0, query.Limit)));
        var text = sql.ToString();
        return store.ReadAsync<IReadOnlyList<QuarantineRecord>>(db =>
        {
            var rows = db.Query(text, ReadQuarantine, [.. args]);
            return WithRecipients(db, rows);
        }, ct);
    }

    public Task<QuarantineRecord?> GetQuarantineAsync(long id, CancellationToken ct = default) =>
        store.ReadAsync(db =>
        {
            var row = db.Single(QuarantineSelect + " WHERE q.id = @id", ReadQuarantine, ("@id", id));
            return row is null ? null : WithRecipients(db, [row])[0];
        }, ct);

    public Task<bool> MarkReleasedAsync(long id, string releasedBy, DateTimeOffset when, CancellationToken ct = default)
    {
        var by = string.IsNullOrWhiteSpace(releasedBy) ? "unknown" : releasedBy.Trim();
        return store.WriteAsync(
            op => op.Db.Exec(
                "UPDATE quarantine SET released = @w, released_by = @b WHERE id = @id AND released IS NULL",
                ("@w", Columns.Time(when)), ("@b", by), ("@id", id)) > 0,
            ct);
    }

    public Task<bool> DeleteQuarantineAsync(long id, CancellationToken ct = default) =>
        store.WriteAsync(op =>
        {
            var blobId = op.Db.Long("DELETE FROM quarantine WHERE id = @id RETURNING blob_id", ("@id", id));
            if (blobId is null)
            {
                return false;
            }

            op.ReleaseBlob(blobId.Value);
            return true;
        }, ct);

    public async Task<int> ExpireQuarantineAsync(DateTimeOffset now, CancellationToken ct = default)
    {
        var cutoff = Columns.Time(now);
        var total = 0;
        while (true)
        {
            var removed = await store.WriteAsync(op =>
            {
                var blobIds = op.Db.Query(
                    "DELETE FROM quarantine WHERE id IN (SELECT id FROM quarantine WHERE expires <= @now LIMIT @n) RETURNING blob_id",
                    r => r.GetInt64(0),
                    ("@now", cutoff), ("@n", DeleteChunk));
                foreach (var blobId in blobIds)
                {
                    op.ReleaseBlob(blobId);
                }

                return blobIds.Count;
            }, ct);
            total += removed;
            if (removed < DeleteChunk)
            {
                return total;
            }
        }
    }

    // ---------------------------------------------------------------- message trace

    public Task AppendTraceAsync(IReadOnlyList<TraceEvent> events, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(events);
        if (events.Count == 0)
        {
            return Task.CompletedTask;
        }

        // Parameters are built before queueing so the writer loop only binds and steps.
        var statements = new List<(string Sql, (string, object?)[] Args)>();
        for (var start = 0; start < events.Count; start += TraceRowsPerStatement)
        {
            var count = Math.Min(TraceRowsPerStatement, events.Count - start);
            var sql = new StringBuilder("INSERT INTO trace_events(time, trace_id, kind, sender, sender_key, recipient, recipient_key, message_id, remote_ip, detail, subject) VALUES");
            var args = new (string, object?)[count * 11];
            for (var i = 0; i < count; i++)
            {
                var e = events[start + i] ?? throw new ArgumentException("a trace event is null", nameof(events));
                if (string.IsNullOrEmpty(e.TraceId))
                {
                    throw new StoreException("a trace event needs a trace id");
                }

                var p = "@" + i.ToString(CultureInfo.InvariantCulture) + "_";
                sql.Append(i == 0 ? " (" : ", (")
                    .Append(p).Append("t, ").Append(p).Append("i, ").Append(p).Append("k, ").Append(p).Append("s, ").Append(p).Append("sk, ")
                    .Append(p).Append("r, ").Append(p).Append("rk, ").Append(p).Append("m, ").Append(p).Append("ip, ").Append(p).Append("d, ")
                    .Append(p).Append("subj)");
                var sender = e.Sender ?? string.Empty;
                var o = i * 11;
                args[o] = (p + "t", Columns.Time(e.Time));
                args[o + 1] = (p + "i", e.TraceId);
                args[o + 2] = (p + "k", KindName(e.Kind));
                args[o + 3] = (p + "s", sender);
                args[o + 4] = (p + "sk", AddressKey(sender));
                args[o + 5] = (p + "r", e.Recipient);
                args[o + 6] = (p + "rk", e.Recipient is null ? null : AddressKey(e.Recipient));
                args[o + 7] = (p + "m", NormalizeMessageId(e.MessageId));
                args[o + 8] = (p + "ip", e.RemoteIp);
                args[o + 9] = (p + "d", Cut(e.Detail ?? string.Empty, MaxTraceDetailLength));
                args[o + 10] = (p + "subj", e.Subject is null ? null : Cut(e.Subject, MaxSubjectLength));
            }

            statements.Add((sql.ToString(), args));
        }

        return store.WriteAsync(op =>
        {
            foreach (var (sql, args) in statements)
            {
                op.Db.Exec(sql, args);
            }

            return true;
        }, ct);
    }

    public Task<IReadOnlyList<TraceEvent>> QueryTraceAsync(TraceQuery query, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(query);
        var sql = new StringBuilder("SELECT ").Append(TraceColumns).Append(" FROM trace_events t WHERE 1 = 1");
        var args = new List<(string, object?)>();
        AddAddressFilter(sql, args, "t.sender_key", "@s", query.Sender);
        AddAddressFilter(sql, args, "t.recipient_key", "@r", query.Recipient);
        if (NormalizeMessageId(query.MessageId) is { Length: > 0 } messageId)
        {
            sql.Append(" AND t.message_id = @m");
            args.Add(("@m", messageId));
        }

        if (!string.IsNullOrWhiteSpace(query.TraceId))
        {
            sql.Append(" AND t.trace_id = @i");
            args.Add(("@i", query.TraceId.Trim()));
        }

        if (query.Since is { } since)
        {
            sql.Append(" AND t.time >= @since");
            args.Add(("@since", Columns.Time(since)));
        }

        if (query.Until is { } until)
        {
            sql.Append(" AND t.time <= @until");
            args.Add(("@until", Columns.Time(until)));
        }

        // The most recent events win when more match than the limit; they are returned oldest first.
        sql.Append(" ORDER BY t.time DESC, t.id DESC LIMIT @limit");
        args.Add(("@limit", Math.Max(0, query.Limit)));
        var text = sql.ToString();
        return store.ReadAsync<IReadOnlyList<TraceEvent>>(db =>
        {
            var rows = db.Query(text, ReadTrace, [.. args]);
            rows.Reverse();
            return rows;
        }, ct);
    }

    public async Task<int> PruneTraceAsync(DateTimeOffset before, CancellationToken ct = default)
    {
        var cutoff = Columns.Time(before);
        var total = 0;
        while (true)
        {
            var removed = await store.WriteAsync(
                op => op.Db.Exec(
                    "DELETE FROM trace_events WHERE id IN (SELECT id FROM trace_events WHERE time < @b ORDER BY time LIMIT @n)",
                    ("@b", cutoff), ("@n", DeleteChunk)),
                ct);
            total += removed;
            if (removed < DeleteChunk)
            {
                return total;
            }
        }
    }

    // ---------------------------------------------------------------- helpers

    /// <summary>The persisted name of a trace kind: the enum member's name, so reordering the enum never rewrites history.</summary>
    internal static string KindName(TraceEventKind kind) =>
        Enum.IsDefined(kind) ? kind.ToString() : throw new StoreException($"unknown trace event kind {(int)kind}");

    /// <summary>Lower-case form used for matching (the display form keeps the case given).</summary>
    internal static string AddressKey(string address)
    {
        var trimmed = address.Trim();
        if (trimmed.Length >= 2 && trimmed[0] == '<' && trimmed[^1] == '>')
        {
            trimmed = trimmed[1..^1];
        }

        return trimmed.ToLowerInvariant();
    }

    /// <summary>Message-IDs are kept and matched without angle brackets.</summary>
    private static string? NormalizeMessageId(string? messageId)
    {
        if (messageId is null)
        {
            return null;
        }

        var trimmed = messageId.Trim();
        if (trimmed.Length >= 2 && trimmed[0] == '<' && trimmed[^1] == '>')
        {
            trimmed = trimmed[1..^1];
        }

        return trimmed;
    }

    /// <summary>
    /// A whole address (local@domain) matches exactly, through the index; anything else ("example.com", "@example.com",
    /// "bob") matches as a substring, which scans the rows the other filters leave.
    /// </summary>
    private static (string Key, bool Exact)? AddressFilter(string? filter)
    {
        if (string.IsNullOrWhiteSpace(filter))
        {
            return null;
        }

        var key = AddressKey(filter);
        return (key, Addresses.TryParse(key, out _));
    }

    private static void AddAddressFilter(StringBuilder sql, List<(string, object?)> args, string column, string parameter, string? filter)
    {
        if (AddressFilter(filter) is not { } f)
        {
            return;
        }

        sql.Append(f.Exact ? $" AND {column} = {parameter}" : $" AND instr({column}, {parameter}) > 0");
        args.Add((parameter, f.Key));
    }

    private static string Cut(string value, int max) => value.Length <= max ? value : value[..max];

    private static string ValidateRuleName(string? name)
    {
        var trimmed = (name ?? string.Empty).Trim();
        if (trimmed.Length == 0)
        {
            throw new StoreException("a rule needs a name");
        }

        if (trimmed.Length > MaxRuleNameLength || trimmed.Any(char.IsControl))
        {
            throw new StoreException($"rule name '{Cut(trimmed, 40)}' is too long or has control characters (at most {MaxRuleNameLength} printable characters)");
        }

        return trimmed;
    }

    private static void BumpRulesVersion(Db db) =>
        db.Exec(
            "INSERT INTO store_state(key, value) VALUES(@k, 1) ON CONFLICT(key) DO UPDATE SET value = value + 1",
            ("@k", RulesVersionKey));

    private static TransportRuleRecord ReadRule(SqliteDataReader r) =>
        new(r.GetString(0), r.GetInt32(1), r.GetInt64(2) != 0, r.GetString(3), Columns.Time(r.GetInt64(4)), r.NullableString(5));

    private static QuarantineRecord ReadQuarantine(SqliteDataReader r) =>
        new(
            r.GetInt64(0), new BlobRef(r.GetString(1), r.GetInt64(2)), r.GetString(3), [], r.GetString(4), r.NullableString(5),
            r.GetString(6), r.GetString(7), Columns.Time(r.GetInt64(8)), Columns.Time(r.GetInt64(9)), r.NullableString(10),
            r.NullableLong(11) is { } released ? Columns.Time(released) : null, r.NullableString(12));

    private static List<QuarantineRecord> WithRecipients(Db db, List<QuarantineRecord> rows)
    {
        if (rows.Count == 0)
        {
            return rows;
        }

        var byId = db.Query(
                "SELECT quarantine_id, address FROM quarantine_recipients WHERE quarantine_id IN (SELECT value FROM json_each(@ids)) ORDER BY quarantine_id, position",
                r => (Id: r.GetInt64(0), Address: r.GetString(1)),
                ("@ids", Columns.JsonArray(rows.Select(q => q.Id))))
            .GroupBy(x => x.Id)
            .ToDictionary(g => g.Key, g => (IReadOnlyList<string>)g.Select(x => x.Address).ToList());
        return rows.Select(q => q with { Recipients = byId.TryGetValue(q.Id, out var list) ? list : [] }).ToList();
    }

    private static TraceEvent ReadTrace(SqliteDataReader r)
    {
        var kindName = r.GetString(2);

        // An unknown name comes from a newer Rempart; show it as a verdict-like note rather than failing the query.
        var kind = Enum.TryParse<TraceEventKind>(kindName, ignoreCase: false, out var parsed) ? parsed : TraceEventKind.Verdict;
        var detail = r.GetString(7);
        if (!string.Equals(kindName, KindNameOrNull(kind), StringComparison.Ordinal))
        {
            detail = $"[{kindName}] {detail}";
        }

        return new TraceEvent(
            Columns.Time(r.GetInt64(0)), r.GetString(1), kind, r.GetString(3), r.NullableString(4), r.NullableString(5),
            r.NullableString(6), detail, r.NullableString(8));
    }

    private static string? KindNameOrNull(TraceEventKind kind) => Enum.IsDefined(kind) ? kind.ToString() : null;
}
