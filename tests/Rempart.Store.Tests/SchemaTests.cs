using Microsoft.Data.Sqlite;
using Rempart.Store.Sqlite;

namespace Rempart.Store.Tests;

public sealed class SchemaTests
{
    [Fact]
    public async Task Schema_created_by_migrations_matches_the_committed_snapshot()
    {
        await using var t = await TempStore.CreateAsync();
        Assert.Equal(3, t.Store.SchemaVersion);
        var actual = await ReadSchemaAsync(t.DatabasePath);
        await AssertSnapshotAsync("schema-v3.sql", actual);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public async Task Each_schema_version_matches_its_committed_snapshot(int version)
    {
        var root = Path.Combine(Path.GetTempPath(), "rempart-store-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        try
        {
            var path = Path.Combine(root, "v.db");
            using (var raw = new SqliteConnection($"Data Source={path};Pooling=False"))
            {
                raw.Open();
                SqliteSchema.Migrate(raw, path, version);
                Assert.Equal(version, SqliteSchema.ReadVersion(raw));
            }

            await AssertSnapshotAsync($"schema-v{version}.sql", await ReadSchemaAsync(path));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task A_v1_database_built_from_the_v1_fixture_migrates_to_the_current_version_with_its_data()
    {
        await using var t = await TempStore.CreateAsync();
        var blob = await t.PutAsync(Messages.Plain("kept", "body"));
        await t.Store.DisposeAsync();
        File.Delete(t.DatabasePath);
        File.Delete(t.DatabasePath + "-wal");
        File.Delete(t.DatabasePath + "-shm");

        // The v1 snapshot as a v1 Rempart wrote it; FTS5 creates its own shadow tables, so those lines are skipped.
        var fixture = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Fixtures", "schema-v1.sql"));
        var statements = fixture.Split(";\n", StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(st => st.TrimEnd(';'))
            .Where(st => st.Length > 0 && !st.StartsWith("CREATE TABLE 'message_text_", StringComparison.Ordinal));
        using (var raw = new SqliteConnection($"Data Source={t.DatabasePath};Pooling=False"))
        {
            raw.Open();
            foreach (var statement in statements.Append("PRAGMA user_version = 1"))
            {
                using var command = raw.CreateCommand();
                command.CommandText = statement;
                command.ExecuteNonQuery();
            }

            using var insert = raw.CreateCommand();
            insert.CommandText =
                """
                INSERT INTO domains(id, name, catch_all, created) VALUES(1, 'example.com', NULL, 0);
                INSERT INTO accounts(id, domain_id, address, address_key, password_hash, created) VALUES(1, 1, 'keep@example.com', 'keep@example.com', '$argon2id$test', 0);
                INSERT INTO blobs(id, hash, size, refcount) VALUES(1, @h, @s, 1);
                INSERT INTO queue(domain, sender, recipients, blob_id, created, next_attempt, expires) VALUES('remote.example', 'keep@example.com', '[{"A":"x@remote.example"}]', 1, 0, 0, 1);
                """;
            insert.Parameters.AddWithValue("@h", blob.Hash);
            insert.Parameters.AddWithValue("@s", blob.Size);
            insert.ExecuteNonQuery();
        }

        await using var store = await t.OpenAsync();
        Assert.Equal(SqliteMailStore.CurrentSchemaVersion, store.SchemaVersion);
        Assert.NotNull(await store.Directory.GetAccountAsync("keep@example.com"));
        Assert.Equal(blob, (await store.Queue.ListAsync()).Single().Blob);
        Assert.Empty(await store.Protection.ListQuarantineAsync(new QuarantineQuery()));
        Assert.Empty(await store.CheckIntegrityAsync());

        // The migrated database is the same as a new one.
        await store.DisposeAsync();
        await AssertSnapshotAsync($"schema-v{SqliteMailStore.CurrentSchemaVersion}.sql", await ReadSchemaAsync(t.DatabasePath));

        // Leave a store the fixture can dispose.
        await t.ReopenAsync();
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
            command.CommandText = $"PRAGMA user_version = {SqliteMailStore.CurrentSchemaVersion}";
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

    internal static Task<string> ReadSchemaAsync(TempStore t) => ReadSchemaAsync(t.DatabasePath);

    internal static async Task<string> ReadSchemaAsync(string databasePath)
    {
        using var raw = new SqliteConnection($"Data Source={databasePath};Mode=ReadOnly;Pooling=False");
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

    /// <summary>Compares with a committed snapshot; REMPART_UPDATE_SNAPSHOTS=1 rewrites it (review the diff).</summary>
    private static async Task AssertSnapshotAsync(string name, string actual)
    {
        if (Environment.GetEnvironmentVariable("REMPART_UPDATE_SNAPSHOTS") == "1")
        {
            await File.WriteAllTextAsync(SourceFixture(name), actual);
        }

        var expected = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "Fixtures", name));
        Assert.Equal(Normalize(expected), Normalize(actual));
    }

    private static string Normalize(string sql) =>
        string.Join('\n', sql.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n').Select(l => l.TrimEnd()).Where(l => l.Length > 0));

    private static string SourceFixture(string name, [System.Runtime.CompilerServices.CallerFilePath] string source = "") =>
        Path.Combine(Path.GetDirectoryName(source)!, "Fixtures", name);
}
