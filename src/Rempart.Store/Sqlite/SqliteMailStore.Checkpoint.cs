using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using Rempart.Telemetry;

namespace Rempart.Store.Sqlite;

/// <summary>
/// WAL checkpoints off the writer's path. SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL
/// pages: that commit copies about 4 MB into the database file and fsyncs it while every delivery of the next batch
/// waits. The writer therefore runs with <c>wal_autocheckpoint = 0</c>, and this loop checkpoints on its own connection
/// (<c>PASSIVE</c>: it never blocks the writer or the readers) every <see cref="CheckpointInterval"/> when something
/// was committed since its last pass. A clean close still checkpoints once more on the writer.
/// </summary>
public sealed partial class SqliteMailStore
{
    /// <summary>How often the checkpointer looks for commits to copy into the database file.</summary>
    internal static readonly TimeSpan CheckpointInterval = TimeSpan.FromMilliseconds(500);

    private readonly CancellationTokenSource _checkpointerStop = new();
    private Task _checkpointer = Task.CompletedTask;
    private long _checkpointCount;

    /// <summary>Checkpoints the background checkpointer has run (tests).</summary>
    internal long CheckpointCount => Interlocked.Read(ref _checkpointCount);

    private async Task CheckpointerLoopAsync()
    {
        var stop = _checkpointerStop.Token;
        var seen = Interlocked.Read(ref _commitCount);
        try
        {
            using var timer = new PeriodicTimer(CheckpointInterval);
            using var connection = new SqliteConnection(new SqliteConnectionStringBuilder(_readConnectionString) { Pooling = false }.ToString());
            connection.Open();
            Pragmas(connection, "PRAGMA synchronous = FULL;");
            while (await timer.WaitForNextTickAsync(stop))
            {
                var commits = Interlocked.Read(ref _commitCount);
                if (commits == seen)
                {
                    continue;
                }

                seen = commits;
                try
                {
                    Pragmas(connection, "PRAGMA wal_checkpoint(PASSIVE);");
                    Interlocked.Increment(ref _checkpointCount);
                }
                catch (SqliteException ex)
                {
                    // The WAL only grows meanwhile; the next pass (or the close) tries again.
                    LogCheckpointFailed(_logger, ex);
                }
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Closing: the writer checkpoints once more after its last commit.
        }
        catch (SqliteException ex)
        {
            LogCheckpointFailed(_logger, ex);
        }
    }

    [LoggerMessage(EventId = (int)EventIds.StoreWriteFailed, Level = LogLevel.Warning, Message = "WAL checkpoint failed; the write-ahead log grows until the next one succeeds")]
    private static partial void LogCheckpointFailed(ILogger logger, Exception exception);
}
