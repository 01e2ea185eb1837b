using Microsoft.Data.Sqlite;

namespace Rempart.Store.Sqlite;

/// <summary>
/// A consistent copy of a live store database for a backup, without its derived tables
/// (<see cref="SqliteSchema.DerivedTables"/>: the full-text index, rebuilt from the blobs after a restore). One read
/// transaction on the live database (WAL: writers go on) copies every other table row for row into a new file, then its
/// indexes and triggers; the copy is a plain rollback-journal file with the same schema version.
/// </summary>
public static class SqliteBackupCopy
{
    public static void Copy(string source, string destination)
    {
        if (File.Exists(destination))
        {
            throw new IOException($"{destination} already exists");
        }

        // The copy is the main database, the live one attached: the CREATE statements run unchanged. Foreign keys off:
        // the rows are the live database's, already consistent, and checking each one took a third of the copy
        // (SQLitePCL's SQLite turns them on by default).
        var cs = new SqliteConnectionStringBuilder { DataSource = destination, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false, DefaultTimeout = 30, ForeignKeys = false }.ToString();
        using var db = new SqliteConnection(cs);
        db.Open();
        Exec(db, null, "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;");
        using (var attach = db.CreateCommand())
        {
            attach.CommandText = "ATTACH DATABASE @path AS live";
            attach.Parameters.AddWithValue("@path", source);
            attach.ExecuteNonQuery();
        }

        using (var transaction = db.BeginTransaction(deferred: true))
        {
            // The first read of live starts its snapshot: everything below sees the database as of this moment.
            var objects = new List<(string Type, string Name, string Table, string Sql)>();
            using (var c = db.CreateCommand())
            {
                c.Transaction = transaction;
                c.CommandText = "SELECT type, name, tbl_name, sql FROM live.sqlite_master WHERE sql IS NOT NULL ORDER BY rowid";
                using var r = c.ExecuteReader();
                while (r.Read())
                {
                    objects.Add((r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3)));
                }
            }

            var version = Convert.ToInt64(Scalar(db, transaction, "PRAGMA live.user_version"), System.Globalization.CultureInfo.InvariantCulture);
            var tables = objects.Where(o => o.Type == "table" && !IsInternal(o.Name) && !IsDerived(o.Table)).ToList();
            foreach (var table in tables)
            {
                Exec(db, transaction, table.Sql);
                Exec(db, transaction, $"INSERT INTO main.{Quote(table.Name)} SELECT * FROM live.{Quote(table.Name)}");
            }

            if (Scalar(db, transaction, "SELECT 1 FROM live.sqlite_master WHERE name = 'sqlite_sequence'") is not null &&
                Scalar(db, transaction, "SELECT 1 FROM main.sqlite_master WHERE name = 'sqlite_sequence'") is not null)
            {
                Exec(db, transaction, "INSERT INTO main.sqlite_sequence SELECT * FROM live.sqlite_sequence");
            }

            foreach (var other in objects.Where(o => o.Type is "index" or "trigger" or "view" && !IsInternal(o.Name) && !IsDerived(o.Table)))
            {
                Exec(db, transaction, other.Sql);
            }

            Exec(db, transaction, $"PRAGMA main.user_version = {version}");
            transaction.Commit();
        }

        Exec(db, null, "DETACH DATABASE live");
    }

    private static bool IsInternal(string name) => name.StartsWith("sqlite_", StringComparison.Ordinal);

    // FTS5 keeps its data in shadow tables named <table>_data, _idx, _content, _docsize, _config.
    private static bool IsDerived(string table) =>
        SqliteSchema.DerivedTables.Any(d => table == d || table.StartsWith(d + "_", StringComparison.Ordinal));

    private static string Quote(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static void Exec(SqliteConnection db, SqliteTransaction? transaction, string sql)
    {
        using var c = db.CreateCommand();
        c.Transaction = transaction;
        c.CommandText = sql;
        c.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection db, SqliteTransaction transaction, string sql)
    {
        using var c = db.CreateCommand();
        c.Transaction = transaction;
        c.CommandText = sql;
        return c.ExecuteScalar();
    }
}
