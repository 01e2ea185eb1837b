using System.Globalization;
using Microsoft.Data.Sqlite;

namespace Rempart.Store.Sqlite;

/// <summary>Thin helpers over one connection and its open transaction (reads run in a snapshot transaction too).</summary>
internal sealed class Db(SqliteConnection connection, SqliteTransaction transaction)
{
    public SqliteConnection Connection => connection;

    public SqliteTransaction Transaction => transaction;

    public SqliteCommand Command(string sql, params ReadOnlySpan<(string Name, object? Value)> args)
    {
        var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        foreach (var (name, value) in args)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return command;
    }

    public int Exec(string sql, params ReadOnlySpan<(string Name, object? Value)> args)
    {
        using var command = Command(sql, args);
        return command.ExecuteNonQuery();
    }

    /// <summary>First column of the first row, or null when there is no row (or it is NULL).</summary>
    public long? Long(string sql, params ReadOnlySpan<(string Name, object? Value)> args)
    {
        using var command = Command(sql, args);
        var value = command.ExecuteScalar();
        return value is null or DBNull ? null : Convert.ToInt64(value, CultureInfo.InvariantCulture);
    }

    public string? Text(string sql, params ReadOnlySpan<(string Name, object? Value)> args)
    {
        using var command = Command(sql, args);
        var value = command.ExecuteScalar();
        return value is null or DBNull ? null : Convert.ToString(value, CultureInfo.InvariantCulture);
    }

    public List<T> Query<T>(string sql, Func<SqliteDataReader, T> map, params ReadOnlySpan<(string Name, object? Value)> args)
    {
        using var command = Command(sql, args);
        using var reader = command.ExecuteReader();
        var list = new List<T>();
        while (reader.Read())
        {
            list.Add(map(reader));
        }

        return list;
    }

    public T? Single<T>(string sql, Func<SqliteDataReader, T> map, params ReadOnlySpan<(string Name, object? Value)> args)
        where T : class
    {
        using var command = Command(sql, args);
        using var reader = command.ExecuteReader();
        return reader.Read() ? map(reader) : null;
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
