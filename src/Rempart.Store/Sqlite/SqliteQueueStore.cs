using System.Text.Json;
using Microsoft.Data.Sqlite;

namespace Rempart.Store.Sqlite;

/// <summary>
/// The durable outbound queue: one row per destination domain. Each row holds a blob reference, so the body stays
/// on disk while any entry still needs it.
/// </summary>
internal sealed class SqliteQueueStore(SqliteMailStore store) : IQueueStore
{
    /// <summary>Expiry given to new entries; the queue runner sets its configured lifetime with UpdateAsync.</summary>
    public static readonly TimeSpan DefaultLifetime = TimeSpan.FromDays(5);

    private const string EntrySelect =
        """
        SELECT q.id, q.domain, q.sender, q.recipients, b.hash, b.size, q.created, q.next_attempt, q.expires, q.attempts,
               q.last_error, q.delay_notice_sent, q.envelope_id, q.ret, q.route
        FROM queue q JOIN blobs b ON b.id = q.blob_id
        """;

    public Task<IReadOnlyList<long>> EnqueueAsync(OutboundMessage message, CancellationToken ct = default)
    {
        if (message.Recipients.Count == 0)
        {
            throw new StoreException("a queued message needs at least one recipient");
        }

        var groups = message.Recipients
            .GroupBy(r => Addresses.TryParse(r.Address, out var parsed) ? parsed.Domain : throw new StoreException($"not a valid recipient address: '{r.Address}'"), StringComparer.Ordinal)
            .Select(g => (Domain: g.Key, Recipients: JsonSerializer.Serialize(g.Select(Stored.From).ToList())))
            .ToList();
        return store.WriteAsync<IReadOnlyList<long>>(op =>
        {
            var ids = new List<long>(groups.Count);
            foreach (var (domain, recipients) in groups)
            {
                var blobId = op.AddBlobRef(message.Blob);
                ids.Add(op.Db.Long(
                    """
                    INSERT INTO queue(domain, sender, recipients, blob_id, created, next_attempt, expires, attempts, last_error, delay_notice_sent, envelope_id, ret, route)
                    VALUES(@d, @s, @r, @b, @c, @c, @e, 0, NULL, 0, @env, @ret, @route) RETURNING id
                    """,
                    ("@d", domain), ("@s", message.Sender), ("@r", recipients), ("@b", blobId), ("@c", Columns.Time(message.Received)),
                    ("@e", Columns.Time(message.Received + DefaultLifetime)), ("@env", message.EnvelopeId), ("@ret", message.Ret), ("@route", message.Route))!.Value);
            }

            return ids;
        }, ct);
    }

    public Task<IReadOnlyList<QueueEntry>> ListDueAsync(DateTimeOffset now, int max, CancellationToken ct = default) =>
        store.ReadAsync<IReadOnlyList<QueueEntry>>(
            db => db.Query(EntrySelect + " WHERE q.next_attempt <= @now ORDER BY q.next_attempt, q.id LIMIT @max", ReadEntry, ("@now", Columns.Time(now)), ("@max", Math.Max(0, max))),
            ct);

    public Task<IReadOnlyList<QueueEntry>> ListAsync(CancellationToken ct = default) =>
        store.ReadAsync<IReadOnlyList<QueueEntry>>(db => db.Query(EntrySelect + " ORDER BY q.next_attempt, q.id", ReadEntry), ct);

    public Task<QueueEntry?> GetAsync(long id, CancellationToken ct = default) =>
        store.ReadAsync(db => db.Single(EntrySelect + " WHERE q.id = @id", ReadEntry, ("@id", id)), ct);

    public Task UpdateAsync(QueueEntry entry, CancellationToken ct = default)
    {
        var recipients = JsonSerializer.Serialize(entry.Recipients.Select(Stored.From).ToList());
        return store.WriteAsync(op =>
        {
            var updated = op.Db.Exec(
                """
                UPDATE queue SET recipients = @r, next_attempt = @n, expires = @e, attempts = @a, last_error = @l, delay_notice_sent = @dn, route = @route
                WHERE id = @id
                """,
                ("@r", recipients), ("@n", Columns.Time(entry.NextAttempt)), ("@e", Columns.Time(entry.Expires)), ("@a", entry.Attempts),
                ("@l", entry.LastError), ("@dn", entry.DelayNoticeSent ? 1 : 0), ("@route", entry.Route), ("@id", entry.Id));
            if (updated == 0)
            {
                throw new StoreException($"queue entry {entry.Id} does not exist");
            }

            return true;
        }, ct);
    }

    public Task<bool> DeleteAsync(long id, CancellationToken ct = default) =>
        store.WriteAsync(op =>
        {
            var blobId = op.Db.Long("DELETE FROM queue WHERE id = @id RETURNING blob_id", ("@id", id));
            if (blobId is null)
            {
                return false;
            }

            op.ReleaseBlob(blobId.Value);
            return true;
        }, ct);

    public Task<int> RetryNowAsync(long? id, DateTimeOffset now, CancellationToken ct = default) =>
        store.WriteAsync(op => op.Db.Exec(
            "UPDATE queue SET next_attempt = @now WHERE (@id IS NULL OR id = @id) AND next_attempt > @now",
            ("@now", Columns.Time(now)), ("@id", id)), ct);

    private static QueueEntry ReadEntry(SqliteDataReader r)
    {
        var recipients = JsonSerializer.Deserialize<List<Stored>>(r.GetString(3)) ?? [];
        return new QueueEntry(
            r.GetInt64(0), r.GetString(1), r.GetString(2), recipients.Select(s => s.ToRecipient()).ToList(),
            new BlobRef(r.GetString(4), r.GetInt64(5)), Columns.Time(r.GetInt64(6)), Columns.Time(r.GetInt64(7)), Columns.Time(r.GetInt64(8)),
            r.GetInt32(9), r.NullableString(10), r.GetInt64(11) != 0, r.NullableString(12), r.NullableString(13), r.NullableString(14));
    }

    /// <summary>The persisted JSON form of a recipient (short, stable property names: this is an on-disk format).</summary>
    internal sealed record Stored(string A, string? N, string? O)
    {
        public static Stored From(QueueRecipient r) => new(r.Address, r.Notify, r.OriginalRecipient);

        public QueueRecipient ToRecipient() => new(A, N, O);
    }
}
