using System.Globalization;

namespace Rempart.Store.Sqlite;

/// <summary>Read-only queries of the store integrity monitors and the scrub (all on read connections: the writer is never held).</summary>
public sealed partial class SqliteMailStore
{
    /// <summary>
    /// Runs <c>PRAGMA quick_check</c> (or the slower <c>integrity_check</c>, which also compares every index with its
    /// table) and <c>PRAGMA foreign_key_check</c> on a read connection. Returns at most <paramref name="maxProblems"/>
    /// problems; an empty list means the database is sound.
    /// </summary>
    public Task<IReadOnlyList<string>> CheckDatabaseAsync(bool full, int maxProblems, CancellationToken ct = default) =>
        ReadAsync<IReadOnlyList<string>>(db =>
        {
            var limit = Math.Max(1, maxProblems).ToString(CultureInfo.InvariantCulture);
            var problems = new List<string>();
            var pragma = full ? "integrity_check" : "quick_check";
            foreach (var line in db.Query($"PRAGMA {pragma}({limit})", r => r.GetString(0)))
            {
                if (!string.Equals(line, "ok", StringComparison.Ordinal))
                {
                    problems.Add(pragma + ": " + line);
                }
            }

            foreach (var row in db.Query("PRAGMA foreign_key_check", r =>
                $"foreign key: table {r.GetString(0)} row {(r.IsDBNull(1) ? "?" : r.GetInt64(1).ToString(CultureInfo.InvariantCulture))} refers to a missing {r.GetString(2)} row"))
            {
                if (problems.Count >= maxProblems)
                {
                    break;
                }

                problems.Add(row);
            }

            return problems;
        }, ct);

    /// <summary>The number of blobs the database knows.</summary>
    public Task<long> CountBlobsAsync(CancellationToken ct = default) =>
        ReadAsync(db => db.Long("SELECT count(*) FROM blobs") ?? 0, ct);

    /// <summary>Up to <paramref name="limit"/> blob hashes in hash order after <paramref name="after"/> (null: from the start); pages a rolling scan.</summary>
    public Task<IReadOnlyList<string>> ListBlobHashesAsync(string? after, int limit, CancellationToken ct = default) =>
        ReadAsync<IReadOnlyList<string>>(db => db.Query(
            "SELECT hash FROM blobs WHERE hash > @after ORDER BY hash LIMIT @limit",
            r => r.GetString(0),
            ("@after", after ?? ""),
            ("@limit", Math.Max(1, limit))), ct);

    /// <summary>Those of <paramref name="hashes"/> the database still has a row for (a blob dropped meanwhile is not damage).</summary>
    public Task<IReadOnlySet<string>> KnownBlobHashesAsync(IReadOnlyCollection<string> hashes, CancellationToken ct = default)
    {
        if (hashes.Count == 0)
        {
            return Task.FromResult<IReadOnlySet<string>>(new HashSet<string>(StringComparer.Ordinal));
        }

        var json = "[" + string.Join(',', hashes.Select(h => "\"" + h.Replace("\"", "", StringComparison.Ordinal) + "\"")) + "]";
        return ReadAsync<IReadOnlySet<string>>(db => db.Query(
            "SELECT hash FROM blobs WHERE hash IN (SELECT value FROM json_each(@list))",
            r => r.GetString(0),
            ("@list", json)).ToHashSet(StringComparer.Ordinal), ct);
    }

    /// <summary>
    /// What refers to a blob, for an administrator: "account/folder/UID n" for mailbox messages, "queue #id" and
    /// "quarantine #id" for the others. At most <paramref name="limit"/> entries.
    /// </summary>
    public Task<IReadOnlyList<string>> DescribeBlobReferencesAsync(string hash, int limit, CancellationToken ct = default) =>
        ReadAsync<IReadOnlyList<string>>(db => db.Query(
            """
            SELECT a.address || '/' || mb.name || '/UID ' || m.uid
              FROM messages m
              JOIN blobs b ON b.id = m.blob_id
              JOIN mailboxes mb ON mb.id = m.mailbox_id
              JOIN accounts a ON a.id = mb.account_id
             WHERE b.hash = @h
            UNION ALL
            SELECT 'queue #' || q.id FROM queue q JOIN blobs b ON b.id = q.blob_id WHERE b.hash = @h
            UNION ALL
            SELECT 'quarantine #' || x.id FROM quarantine x JOIN blobs b ON b.id = x.blob_id WHERE b.hash = @h
            LIMIT @limit
            """,
            r => r.GetString(0),
            ("@h", hash),
            ("@limit", Math.Max(1, limit))), ct);
}
