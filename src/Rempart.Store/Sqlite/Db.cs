using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Rempart.Store.Sqlite;

/// <summary>
/// Thin helpers over one connection and its open transaction (reads run in a snapshot transaction too). Given a
/// <see cref="StatementCache"/> (the writer's), statements are compiled once and reused by later operations;
/// without one, each call compiles its statement and throws it away.
/// </summary>
internal sealed class Db(SqliteConnection connection, SqliteTransaction transaction, StatementCache? statements = null)
{
    public SqliteConnection Connection => connection;

    public SqliteTransaction Transaction => transaction;

    private SqliteCommand Rent(string sql, ReadOnlySpan<(string Name, object? Value)> args)
    {
        var command = statements?.Rent(connection, sql) ?? NewCommand(connection, sql);
        command.Transaction = transaction;
        foreach (var (name, value) in args)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }

    /// <summary>A command for <paramref name="sql"/>; its statement is compiled on first execution.</summary>
    internal static SqliteCommand NewCommand(SqliteConnection connection, string sql)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        return command;
    }

    /// <summary>After a call that completed: back to the cache (or disposed).</summary>
    private void Return(string sql, SqliteCommand command)
    {
        if (statements is null)
        {
            command.Dispose();
        }
        else
        {
            statements.Return(sql, command);
        }
    }

    public int Exec(string sql, params ReadOnlySpan<(string Name, object? Value)> args) =>
        Run(sql, args, static command => command.ExecuteNonQuery());

    /// <summary>First column of the first row, or null when there is no row (or it is NULL).</summary>
    public long? Long(string sql, params ReadOnlySpan<(string Name, object? Value)> args)
    {
        var value = Run(sql, args, static command => command.ExecuteScalar());
        return value is null or DBNull ? null : Convert.ToInt64(value, CultureInfo.InvariantCulture);
    }

    public string? Text(string sql, params ReadOnlySpan<(string Name, object? Value)> args)
    {
        var value = Run(sql, args, static command => command.ExecuteScalar());
        return value is null or DBNull ? null : Convert.ToString(value, CultureInfo.InvariantCulture);
    }

    public List<T> Query<T>(string sql, Func<SqliteDataReader, T> map, params ReadOnlySpan<(string Name, object? Value)> args) =>
        Run(sql, args, command =>
        {
            var list = new List<T>();
            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                list.Add(map(reader));
            }

            return list;
        });

    public T? Single<T>(string sql, Func<SqliteDataReader, T> map, params ReadOnlySpan<(string Name, object? Value)> args)
        where T : class =>
        Run(sql, args, command =>
        {
            using var reader = command.ExecuteReader();
            return reader.Read() ? map(reader) : null;
        });

    /// <summary>
    /// Runs <paramref name="execute"/> on the statement for <paramref name="sql"/>; a reader it opens must be closed when
    /// it returns. A statement whose call threw is disposed rather than kept.
    /// </summary>
    private TResult Run<TResult>(string sql, ReadOnlySpan<(string Name, object? Value)> args, Func<SqliteCommand, TResult> execute)
    {
        var command = Rent(sql, args);
        TResult result;
        try
        {
            result = execute(command);
        }
        catch
        {
            command.Dispose();
            throw;
        }

        Return(sql, command);
        return result;
    }
}

/// <summary>
/// Compiled statements of one long-lived connection, by SQL text. SQLite compiles a statement (parse, name
/// resolution, query plan) on every prepare, which on the delivery path cost more than running it; a command kept
/// here keeps its compiled statement and only rebinds parameters. A statement is taken out while in use, so a nested
/// call with the same SQL gets its own command. Not thread-safe: it belongs to the connection's single user (the
/// store's writer loop). Schema changes are handled by SQLite, which recompiles a stale statement on its next step.
/// </summary>
internal sealed class StatementCache : IDisposable
{
    /// <summary>More distinct statements than the store has: a bound, not a working-set size.</summary>
    private const int Capacity = 512;

    private readonly Dictionary<string, SqliteCommand> _idle = new(StringComparer.Ordinal);

    /// <summary>Statements kept (tests).</summary>
    internal int Count => _idle.Count;

    public SqliteCommand Rent(SqliteConnection connection, string sql)
    {
        // The text is set once per command: setting it again would throw the compiled statement away.
        if (_idle.Remove(sql, out var command) && ReferenceEquals(command.Connection, connection))
        {
            return command;
        }

        command?.Dispose();
        return Db.NewCommand(connection, sql);
    }

    public void Return(string sql, SqliteCommand command)
    {
        if (_idle.Count < Capacity && _idle.TryAdd(sql, command))
        {
            command.Parameters.Clear();
            return;
        }

        command.Dispose();
    }

    public void Dispose()
    {
        foreach (var command in _idle.Values)
        {
            command.Dispose();
        }

        _idle.Clear();
    }
}

/// <summary>Conversions between the stored column forms and the records.</summary>
internal static class Columns
{
    public static long Time(DateTimeOffset value) => value.ToUnixTimeMilliseconds();

    public static DateTimeOffset Time(long value) => DateTimeOffset.FromUnixTimeMilliseconds(value);

    public static string? NullableString(this SqliteDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);

    public static long? NullableLong(this SqliteDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : reader.GetInt64(ordinal);

    /// <summary>A JSON array for <c>json_each(@ids)</c>: one parameter however long the UID set.</summary>
    public static string JsonArray(IEnumerable<long> values) =>
        "[" + string.Join(',', values.Select(v => v.ToString(CultureInfo.InvariantCulture))) + "]";
}
