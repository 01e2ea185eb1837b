using Microsoft.Data.Sqlite;

namespace Rempart.Store.Sqlite;

/// <summary>
/// The metadata schema as an ordered list of forward migrations. <c>PRAGMA user_version</c> holds the number of
/// migrations applied; each runs in the open transaction and bumps it. Never edit a released migration: append a
/// new one (and update tests/Rempart.Store.Tests/Fixtures/schema-vN.sql on purpose).
/// <para>
/// Conventions: times are Unix milliseconds (UTC); addresses have a lower-case <c>*_key</c> column used for
/// case-insensitive matching, while the display form keeps the local part as given; flags are one space-separated,
/// normalized string. Messages reference blobs by id; the blob row counts its references (messages, queue
/// entries and quarantine entries) so the file can be deleted when nothing uses it.
/// </para>
/// </summary>
internal static class SqliteSchema
{
    /// <summary>Migration N (1-based) brings a database from version N-1 to N.</summary>
    public static readonly IReadOnlyList<string> Migrations =
    [
        // v1
        """
        CREATE TABLE store_state(
            key TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE domains(
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            catch_all TEXT,
            created INTEGER NOT NULL
        );

        CREATE TABLE accounts(
            id INTEGER PRIMARY KEY,
            domain_id INTEGER NOT NULL REFERENCES domains(id),
            address TEXT NOT NULL,
            address_key TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            is_admin INTEGER NOT NULL DEFAULT 0,
            disabled INTEGER NOT NULL DEFAULT 0,
            max_bytes INTEGER,
            max_messages INTEGER,
            display_name TEXT,
            used_bytes INTEGER NOT NULL DEFAULT 0,
            used_messages INTEGER NOT NULL DEFAULT 0,
            created INTEGER NOT NULL
        );
        CREATE INDEX accounts_domain ON accounts(domain_id);

        CREATE TABLE aliases(
            id INTEGER PRIMARY KEY,
            domain_id INTEGER NOT NULL REFERENCES domains(id),
            address TEXT NOT NULL,
            address_key TEXT NOT NULL UNIQUE,
            kind INTEGER NOT NULL,
            created INTEGER NOT NULL
        );
        CREATE INDEX aliases_domain ON aliases(domain_id);

        CREATE TABLE alias_targets(
            alias_id INTEGER NOT NULL REFERENCES aliases(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            target TEXT NOT NULL,
            target_key TEXT NOT NULL,
            PRIMARY KEY(alias_id, position)
        ) WITHOUT ROWID;
        CREATE INDEX alias_targets_key ON alias_targets(target_key);

        CREATE TABLE send_as(
            account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
            address_key TEXT NOT NULL,
            PRIMARY KEY(account_id, address_key)
        ) WITHOUT ROWID;

        CREATE TABLE blobs(
            id INTEGER PRIMARY KEY,
            hash TEXT NOT NULL UNIQUE,
            size INTEGER NOT NULL,
            refcount INTEGER NOT NULL
        );

        CREATE TABLE message_meta(
            blob_id INTEGER PRIMARY KEY REFERENCES blobs(id) ON DELETE CASCADE,
            envelope TEXT NOT NULL,
            body TEXT NOT NULL,
            body_structure TEXT NOT NULL,
            subject TEXT,
            from_header TEXT,
            to_header TEXT,
            cc_header TEXT,
            date INTEGER,
            message_id TEXT,
            in_reply_to TEXT,
            refs TEXT
        );

        CREATE VIRTUAL TABLE message_text USING fts5(headers, body, tokenize='trigram');

        CREATE TABLE mailboxes(
            id INTEGER PRIMARY KEY,
            account_id INTEGER NOT NULL REFERENCES accounts(id),
            name TEXT NOT NULL,
            special_use TEXT,
            uid_validity INTEGER NOT NULL,
            uid_next INTEGER NOT NULL,
            highest_modseq INTEGER NOT NULL,
            subscribed INTEGER NOT NULL DEFAULT 1,
            UNIQUE(account_id, name)
        );

        CREATE TABLE messages(
            id INTEGER PRIMARY KEY,
            mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
            uid INTEGER NOT NULL,
            blob_id INTEGER NOT NULL REFERENCES blobs(id),
            size INTEGER NOT NULL,
            internal_date INTEGER NOT NULL,
            flags TEXT NOT NULL,
            seen INTEGER NOT NULL,
            deleted INTEGER NOT NULL,
            modseq INTEGER NOT NULL,
            UNIQUE(mailbox_id, uid)
        );
        CREATE INDEX messages_modseq ON messages(mailbox_id, modseq);
        CREATE INDEX messages_blob ON messages(blob_id);

        CREATE TABLE expunged(
            mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id),
            uid INTEGER NOT NULL,
            modseq INTEGER NOT NULL,
            PRIMARY KEY(mailbox_id, uid)
        ) WITHOUT ROWID;

        CREATE TABLE queue(
            id INTEGER PRIMARY KEY,
            domain TEXT NOT NULL,
            sender TEXT NOT NULL,
            recipients TEXT NOT NULL,
            blob_id INTEGER NOT NULL REFERENCES blobs(id),
            created INTEGER NOT NULL,
            next_attempt INTEGER NOT NULL,
            expires INTEGER NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            delay_notice_sent INTEGER NOT NULL DEFAULT 0,
            envelope_id TEXT,
            ret TEXT,
            route TEXT
        );
        CREATE INDEX queue_due ON queue(next_attempt, id);
        CREATE INDEX queue_blob ON queue(blob_id);
        """,

        // v2: protection data. Quarantine entries hold a blob reference like queue entries; trace events are
        // append-only and pruned by time, so every filter of TraceQuery has an index ending in time.
        """
        CREATE TABLE transport_rules(
            name_key TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            priority INTEGER NOT NULL,
            enabled INTEGER NOT NULL,
            definition TEXT NOT NULL,
            comment TEXT,
            modified INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX transport_rules_order ON transport_rules(priority, name_key);

        CREATE TABLE quarantine(
            id INTEGER PRIMARY KEY,
            blob_id INTEGER NOT NULL REFERENCES blobs(id),
            sender TEXT NOT NULL,
            sender_key TEXT NOT NULL,
            subject TEXT NOT NULL,
            message_id TEXT,
            reason TEXT NOT NULL,
            category TEXT NOT NULL,
            received INTEGER NOT NULL,
            expires INTEGER NOT NULL,
            trace_id TEXT,
            released INTEGER,
            released_by TEXT
        );
        CREATE INDEX quarantine_received ON quarantine(received, id);
        CREATE INDEX quarantine_expires ON quarantine(expires);
        CREATE INDEX quarantine_blob ON quarantine(blob_id);
        CREATE INDEX quarantine_sender ON quarantine(sender_key);

        CREATE TABLE quarantine_recipients(
            quarantine_id INTEGER NOT NULL REFERENCES quarantine(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            address TEXT NOT NULL,
            address_key TEXT NOT NULL,
            PRIMARY KEY(quarantine_id, position)
        ) WITHOUT ROWID;
        CREATE INDEX quarantine_recipients_key ON quarantine_recipients(address_key);

        CREATE TABLE trace_events(
            id INTEGER PRIMARY KEY,
            time INTEGER NOT NULL,
            trace_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            sender TEXT NOT NULL,
            sender_key TEXT NOT NULL,
            recipient TEXT,
            recipient_key TEXT,
            message_id TEXT,
            remote_ip TEXT,
            detail TEXT NOT NULL,
            subject TEXT
        );
        CREATE INDEX trace_events_time ON trace_events(time);
        CREATE INDEX trace_events_trace_id ON trace_events(trace_id, time);
        CREATE INDEX trace_events_message_id ON trace_events(message_id, time);
        CREATE INDEX trace_events_sender ON trace_events(sender_key, time);
        CREATE INDEX trace_events_recipient ON trace_events(recipient_key, time);
        """,

        // v3: bodies whose text waits for the full-text index. A delivery adds its body here in its own transaction and
        // the index is written later, when the store is quiet (or when a search needs it), so the list survives a
        // restart and may grow while mail flows. No foreign key: the indexer skips ids whose blob is gone.
        """
        CREATE TABLE text_pending(
            blob_id INTEGER PRIMARY KEY
        );
        """,
    ];

    /// <summary>
    /// The full-text index table as the migrations create it; recreated with this when a database restored from a
    /// backup comes without it (backups leave derived data out). A test keeps the two the same.
    /// </summary>
    public const string TextIndexTable = "CREATE VIRTUAL TABLE message_text USING fts5(headers, body, tokenize='trigram')";

    /// <summary>Tables a backup leaves out: derived from the blobs, rebuilt after a restore (FTS5 keeps shadow tables named after them).</summary>
    public static readonly IReadOnlyList<string> DerivedTables = ["message_text"];

    /// <summary>The schema version this code writes.</summary>
    public static int CurrentVersion => Migrations.Count;

    public static int ReadVersion(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA user_version";
        return Convert.ToInt32(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Applies the missing migrations in one transaction; returns the version before. <paramref name="targetVersion"/>
    /// stops earlier (tests build a database of an older version with it).
    /// </summary>
    public static int Migrate(SqliteConnection connection, string databasePath, int? targetVersion = null)
    {
        var target = Math.Min(targetVersion ?? CurrentVersion, CurrentVersion);
        using var transaction = connection.BeginTransaction(deferred: false);
        var version = ReadVersion(connection);
        if (version > CurrentVersion)
        {
            throw new StoreException(
                $"the database {databasePath} has schema version {version}, but this Rempart only knows versions up to {CurrentVersion}: " +
                "it was written by a newer Rempart. Run that version (or restore a backup made before the upgrade).");
        }

        for (var next = version; next < target; next++)
        {
            using var command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = Migrations[next] + $"\nPRAGMA user_version = {next + 1};";
            command.ExecuteNonQuery();
        }

        transaction.Commit();
        return version;
    }
}
