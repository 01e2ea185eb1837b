using Microsoft.Data.Sqlite;
using Rempart.Store.Sqlite;

namespace Rempart.Store.Tests;

/// <summary>
/// The writer keeps its compiled statements (<see cref="StatementCache"/>): reuse must give the same answers as a
/// fresh statement, across transactions, nesting, failures and schema changes.
/// </summary>
public sealed class StatementCacheTests
{
    [Fact]
    public void A_statement_is_compiled_once_and_rebinds_its_parameters()
    {
        using var connection = Open();
        using var cache = new StatementCache();
        for (var i = 0; i < 3; i++)
        {
            using var tx = connection.BeginTransaction();
            var db = new Db(connection, tx, cache);
            db.Exec("INSERT INTO t(id, v) VALUES(@id, @v)", ("@id", i), ("@v", "value " + i));
            Assert.Equal("value " + i, db.Text("SELECT v FROM t WHERE id = @id", ("@id", i)));
            tx.Commit();
        }

        // One entry per distinct SQL text, however many times it ran.
        Assert.Equal(2, cache.Count);
        using var check = connection.BeginTransaction();
        Assert.Equal(3, new Db(connection, check).Long("SELECT count(*) FROM t"));
    }

    [Fact]
    public void A_nested_call_with_the_same_sql_gets_its_own_statement()
    {
        using var connection = Open();
        using var cache = new StatementCache();
        using var tx = connection.BeginTransaction();
        var db = new Db(connection, tx, cache);
        db.Exec("INSERT INTO t(id, v) VALUES(1, 'a'), (2, 'b')");
        const string sql = "SELECT id, v FROM t WHERE id >= @min ORDER BY id";

        // While the outer reader is open, the inner call must not reuse (and reset) the outer statement.
        var pairs = db.Query(sql, r => (r.GetInt64(0), db.Query(sql, inner => inner.GetString(1), ("@min", r.GetInt64(0))).Count), ("@min", 1L));
        Assert.Equal([(1L, 2), (2L, 1)], pairs);
        Assert.Equal(2, db.Query(sql, r => r.GetInt64(0), ("@min", 0L)).Count);
    }

    [Fact]
    public void A_failed_statement_is_not_kept_and_the_next_call_works()
    {
        using var connection = Open();
        using var cache = new StatementCache();
        using var tx = connection.BeginTransaction();
        var db = new Db(connection, tx, cache);
        const string insert = "INSERT INTO t(id, v) VALUES(@id, 'x')";
        db.Exec(insert, ("@id", 1));
        Assert.Throws<SqliteException>(() => db.Exec(insert, ("@id", 1)));
        Assert.Equal(0, cache.Count);
        db.Exec(insert, ("@id", 2));
        Assert.Equal(2, db.Long("SELECT count(*) FROM t"));
    }

    [Fact]
    public void A_kept_statement_sees_a_schema_change()
    {
        using var connection = Open();
        using var cache = new StatementCache();
        const string select = "SELECT * FROM t WHERE id = 1";
        using (var tx = connection.BeginTransaction())
        {
            var db = new Db(connection, tx, cache);
            db.Exec("INSERT INTO t(id, v) VALUES(1, 'a')");
            Assert.Equal(2, db.Single(select, r => new object[] { r.FieldCount })![0]);
            db.Exec("ALTER TABLE t ADD COLUMN w TEXT DEFAULT 'new'");
            Assert.Equal(3, db.Single(select, r => new object[] { r.FieldCount })![0]);
            tx.Commit();
        }
    }

    private static SqliteConnection Open()
    {
        var connection = new SqliteConnection("Data Source=:memory:");
        connection.Open();
        using var create = connection.CreateCommand();
        create.CommandText = "CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT)";
        create.ExecuteNonQuery();
        return connection;
    }
}
