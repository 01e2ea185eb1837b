using Microsoft.Extensions.Logging;
using Rempart.Common.Configuration;
using Rempart.Server;
using Rempart.Store;
using Rempart.Store.Sqlite;

namespace Rempart.Cli;

internal static class StoreAccess
{
    /// <summary>The embedded SQLite store of the data folder (WAL mode, so it works while the server runs).</summary>
    public static async Task<IMailStore> OpenDefaultAsync(RempartOptions options, DataFolder data, ILoggerFactory loggers, CancellationToken ct) =>
        await SqliteMailStore.OpenAsync(data.DatabasePath, data.BlobsPath, options.Store, loggers.CreateLogger<SqliteMailStore>(), ct);
}
