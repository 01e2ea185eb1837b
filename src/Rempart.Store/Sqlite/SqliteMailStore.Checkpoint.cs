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
/// <para>
/// SQLite starts the WAL over from its beginning only when a write transaction begins with every frame copied; while
/// writes keep coming, commits land during each pass, so that moment never comes and the WAL grows for as long as the
/// load lasts (240 MB after the smtp benchmark's warm-up; none of 53,000 commits in 20 s started it over in the test).
/// Appending past the end of the file costs every commit's fsync the file's new size as well: 0.5 ms a commit instead
/// of 0.28 ms when the WAL is reused (a probe on the benchmark machine), and a crash leaves a longer WAL to recover.
/// So when a pass finds the WAL longer than <see cref="WalRestartFrames"/> with little left to copy, it asks the writer
/// to copy the rest itself between two batches (<see cref="FinishCheckpointOnWriter"/>); its next transaction then
/// starts the WAL over. <c>journal_size_limit</c> trims the file back after a burst.
/// </para>
/// </summary>
public sealed partial class SqliteMailStore
{
    /// <summary>How often the checkpointer looks for commits to copy into the database file.</summary>
    internal static readonly TimeSpan CheckpointInterval = TimeSpan.FromMilliseconds(500);

    /// <summary>
    /// WAL length (in frames of one 4 KiB page) past which the writer finishes a checkpoint so the WAL starts over: 16 MB,
    /// a quarter to half a second of the smtp benchmark's commits (it writes 30–60 MB of WAL a second).
    /// </summary>
    internal const int DefaultWalRestartFrames = 4096;

    /// <summary>A pass that leaves more frames than this uncopied runs again at once (up to <see cref="MaxCatchUpPasses"/>).</summary>
    private const int CatchUpFrames = 256;

    private const int MaxCatchUpPasses = 3;

    /// <summary>Passes that found the WAL too long but could not catch up before the writer is asked all the same.</summary>
    private const int MaxPassesOverLimit = 4;

    private readonly CancellationTokenSource _checkpointerStop = new();
    private Task _checkpointer = Task.CompletedTask;
    private long _checkpointCount;
    private long _writerCheckpointCount;
    private int _walRestartWanted;

    /// <summary><see cref="DefaultWalRestartFrames"/>; tests shorten it.</summary>
    internal int WalRestartFrames { get; set; } = DefaultWalRestartFrames;

    /// <summary>Checkpoints the background checkpointer has run (tests).</summary>
    internal long CheckpointCount => Interlocked.Read(ref _checkpointCount);

    /// <summary>Checkpoints the writer finished so that the WAL could start over (tests).</summary>
    internal long WriterCheckpointCount => Interlocked.Read(ref _writerCheckpointCount);

    private async Task CheckpointerLoopAsync()
    {
        var stop = _checkpointerStop.Token;
        var seen = Interlocked.Read(ref _commitCount);
        var passesOverLimit = 0;
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
                    var (frames, copied) = Checkpoint(connection);
                    for (var pass = 1; pass < MaxCatchUpPasses && frames - copied > CatchUpFrames; pass++)
                    {
                        (frames, copied) = Checkpoint(connection);
                    }

                    Interlocked.Increment(ref _checkpointCount);
                    RempartMetrics.StoreWalFrames.Set(frames);
                    // Only when little is left to copy: the writer's share must be a moment, not a second checkpoint;
                    // but when the passes never catch up (a slow disk), after a few of them anyway, or the WAL would
                    // grow without end.
                    if (frames < WalRestartFrames)
                    {
                        passesOverLimit = 0;
                    }
                    else if (frames - copied <= CatchUpFrames || ++passesOverLimit >= MaxPassesOverLimit)
                    {
                        passesOverLimit = 0;
                        Volatile.Write(ref _walRestartWanted, 1);
                    }
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

    /// <summary>
    /// On the writer loop, between two batches, when the checkpointer asked for it: copies the frames committed since
    /// its pass (few: it just ran), so the writer's next transaction finds every frame copied and starts the WAL over.
    /// Readers that are still reading older frames can prevent that; the next pass asks again.
    /// </summary>
    private void FinishCheckpointOnWriter()
    {
        if (Interlocked.Exchange(ref _walRestartWanted, 0) == 0)
        {
            return;
        }

        try
        {
            Checkpoint(_writer);
            Interlocked.Increment(ref _writerCheckpointCount);
        }
        catch (SqliteException ex)
        {
            LogCheckpointFailed(_logger, ex);
        }
    }

    /// <summary>A PASSIVE checkpoint: frames in the WAL, and how many of them are now in the database file.</summary>
    private static (long Frames, long Copied) Checkpoint(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA wal_checkpoint(PASSIVE)";
        using var row = command.ExecuteReader();
        return row.Read() ? (row.GetInt64(1), row.GetInt64(2)) : (0, 0);
    }

    [LoggerMessage(EventId = (int)EventIds.StoreWriteFailed, Level = LogLevel.Warning, Message = "WAL checkpoint failed; the write-ahead log grows until the next one succeeds")]
    private static partial void LogCheckpointFailed(ILogger logger, Exception exception);
}
