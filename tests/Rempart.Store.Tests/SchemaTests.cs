using Microsoft.Data.Sqlite;
using Rempart.Store.Sqlite;

namespace Rempart.Store.Tests;

public sealed class SchemaTests
{
    [Fact]
    public async Task Schema_created_by_migrations_matches_the_committed_snapshot()
    {
        await using var t = await TempStore.CreateAsync();
        Assert.Equal(1, t.Store.SchemaVersion);
        var actual = await ReadSchemaAsync(t);

        var snapshotPath = Path.Combine(AppContext.BaseDirectory, "Fixtures", "schema-v1.sql");
        if (Environment.GetEnvironmentVariable("REMPART_UPDATE_SNAPSHOTS") == "1")
        {
            await File.WriteAllTextAsync(SourceFixture("schema-v1.sql"), actual);
        }

        var expected = await File.ReadAllTextAsync(snapshotPath);
        Assert.Equal(Normalize(expected), Normalize(actual));
    }

    [Fact]
    public async Task A_v1_database_reopens_with_its_data()
    {
        await using var t = await TempStore.CreateAsync();
        await t.AddAccountAsync("keep@example.com");
        await t.ReopenAsync();
        Assert.Equal(SqliteMailStore.CurrentSchemaVersion, t.Store.SchemaVersion);
        Assert.NotNull(await t.Store.Directory.GetAccountAsync("keep@example.com"));
        Assert.Empty(await t.Store.CheckIntegrityAsync());
    }

    [Fact]
    public async Task A_database_from_a_newer_version_is_refused_clearly()
    {
        await using var t = await TempStore.CreateAsync();
        await t.Store.DisposeAsync();
        using (var raw = new SqliteConnection($"Data Source={t.DatabasePath};Pooling=False"))
        {
            raw.Open();
            using var command = raw.CreateCommand();
            command.CommandText = "PRAGMA user_version = 99";
            command.ExecuteNonQuery();
        }

        var ex = await Assert.ThrowsAsync<StoreException>(t.OpenAsync);
        Assert.Contains("schema version 99", ex.Message, StringComparison.Ordinal);
        Assert.Contains("newer", ex.Message, StringComparison.Ordinal);

        // Leave a store the fixture can dispose.
        using (var raw = new SqliteConnection($"Data Source={t.DatabasePath};Pooling=False"))
        {
            raw.Open();
            using var command = raw.CreateCommand();
            command.CommandText = "PRAGMA user_version = 1";
            command.ExecuteNonQuery();
        }

        await t.ReopenAsync();
    }

    [Fact]
    public async Task A_file_that_is_not_a_database_is_refused_clearly()
    {
        await using var t = await TempStore.CreateAsync();
        var path = Path.Combine(t.Root, "garbage.db");
        await File.WriteAllTextAsync(path, new string('x', 8192));
        var ex = await Assert.ThrowsAsync<StoreException>(() => SqliteMailStore.OpenAsync(path, t.BlobsPath, t.Options, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance));
        Assert.Contains(path, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Database_runs_in_wal_mode()
    {
        await using var t = await TempStore.CreateAsync();
        await t.AddAccountAsync("a@example.com");
        using var raw = new SqliteConnection($"Data Source={t.DatabasePath};Pooling=False");
        raw.Open();
        using var command = raw.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", command.ExecuteScalar());
    }

    internal static async Task<string> ReadSchemaAsync(TempStore t)
    {
        using var raw = new SqliteConnection($"Data Source={t.DatabasePath};Mode=ReadOnly;Pooling=False");
        await raw.OpenAsync();
        using var command = raw.CreateCommand();
        command.CommandText = "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name";
        using var reader = await command.ExecuteReaderAsync();
        var statements = new List<string>();
        while (await reader.ReadAsync())
        {
            statements.Add(reader.GetString(0).Trim() + ";");
        }

        return string.Join("\n\n", statements) + "\n";
    }

    private static string Normalize(string sql) =>
        string.Join('\n', sql.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0));

    private static string SourceFixture(string name, [System.Runtime.CompilerServices.CallerFilePath] string source = "") =>
        Path.Combine(Path.GetDirectoryName(source)!, "Fixtures", name);
}
