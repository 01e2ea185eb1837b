using Cronos;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Rempart.Backup.Repository;
using Rempart.Backup.Snapshots;
using Rempart.Common.Configuration;
using Rempart.Telemetry;

namespace Rempart.Backup;

/// <summary>
/// Scheduled backups inside the running server: at each occurrence of <see cref="BackupOptions.Schedule"/> (cron, UTC)
/// takes a snapshot of the data folder, then applies the retention policy unless the client is append-only. A failed
/// run is logged and the next occurrence tried; it never stops the server.
/// </summary>
public sealed partial class BackupScheduler(BackupOptions options, string dataDir, string? configPath, ILogger<BackupScheduler> logger, TimeProvider time) : BackgroundService
{
    /// <summary>The next run after <paramref name="after"/>, or null when the schedule is off.</summary>
    public static DateTimeOffset? NextRun(string? schedule, DateTimeOffset after)
    {
        if (string.IsNullOrWhiteSpace(schedule))
        {
            return null;
        }

        CronExpression expression;
        try
        {
            expression = CronExpression.Parse(schedule, CronFormat.Standard);
        }
        catch (CronFormatException ex)
        {
            throw new BackupException($"backup.schedule '{schedule}' is not a valid cron expression: {ex.Message}", ex);
        }

        return expression.GetNextOccurrence(after, TimeZoneInfo.Utc);
    }

    /// <summary>One scheduled run: create, then prune by the configured retention. Returns the snapshot.</summary>
    public async Task<SnapshotManifest> RunOnceAsync(CancellationToken ct)
    {
        var repoPath = options.Repository ?? throw new BackupException("backup.repository is not set");
        var passphrase = BackupSecrets.Resolve(options.KeyFile)
            ?? throw new BackupException($"scheduled backup needs backup.keyFile or {BackupSecrets.EnvironmentVariable} in the server's environment");
        using var repo = BackupRepository.Open(repoPath, passphrase);
        repo.ClientAppendOnly = options.AppendOnly;
        LogStarted(logger, repoPath);
        var snapshot = await new SnapshotCreator(repo, time).CreateAsync(dataDir, configPath, "scheduled", null, ct);
        LogCompleted(logger, snapshot.ShortId, snapshot.Stats.Messages, snapshot.Stats.NewBytes, snapshot.Stats.DeduplicatedBytes, snapshot.Stats.DurationSeconds);
        var policy = new RetentionPolicy(options.KeepLast, options.KeepHourly, options.KeepDaily, options.KeepWeekly, options.KeepMonthly);
        if (!policy.IsEmpty && !repo.AppendOnly)
        {
            // A new repository handle: the shared lock of the create above must not block prune's exclusive one.
            repo.Dispose();
            using var pruneRepo = BackupRepository.Open(repoPath, passphrase);
            var report = new Pruner(pruneRepo).Prune(policy, dryRun: false);
            LogPruned(logger, report.Removed.Count, report.RemovedChunks, report.FreedBytes);
        }

        return snapshot;
    }

    /// <summary>Liveness for the health model (set by the server): beats after each backup, fails when one fails.</summary>
    public WorkerHeartbeat? Liveness { get; set; }

    /// <summary>The time between two scheduled runs from now (the heartbeat's expected interval), or null without a schedule.</summary>
    public TimeSpan? ScheduleInterval()
    {
        var first = NextRun(options.Schedule, time.GetUtcNow());
        return first is { } a && NextRun(options.Schedule, a) is { } b ? b - a : null;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        DateTimeOffset? next;
        try
        {
            next = NextRun(options.Schedule, time.GetUtcNow());
        }
        catch (BackupException ex)
        {
            LogFailed(logger, ex.Message, ex);
            return;
        }

        while (next is { } due && !stoppingToken.IsCancellationRequested)
        {
            var wait = due - time.GetUtcNow();
            if (wait > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(wait, time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }

            try
            {
                await RunOnceAsync(stoppingToken);
                Liveness?.Beat();
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex) when (ex is BackupException or IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException)
            {
                LogFailed(logger, ex.Message, ex);
                Liveness?.Failed(ex);
            }

            next = NextRun(options.Schedule, time.GetUtcNow());
        }
    }

    [LoggerMessage(EventId = (int)EventIds.BackupStarted, Level = LogLevel.Information, Message = "Scheduled backup to {Repository} started")]
    private static partial void LogStarted(ILogger logger, string repository);

    [LoggerMessage(EventId = (int)EventIds.BackupCompleted, Level = LogLevel.Information, Message = "Backup snapshot {Snapshot} done: {Messages} messages, {NewBytes} new bytes, {DedupBytes} deduplicated, {Seconds:0.0} s")]
    private static partial void LogCompleted(ILogger logger, string snapshot, long messages, long newBytes, long dedupBytes, double seconds);

    [LoggerMessage(EventId = (int)EventIds.BackupFailed, Level = LogLevel.Error, Message = "Scheduled backup failed: {Reason}")]
    private static partial void LogFailed(ILogger logger, string reason, Exception ex);

    [LoggerMessage(EventId = (int)EventIds.BackupPruned, Level = LogLevel.Information, Message = "Backup prune removed {Snapshots} snapshots and {Chunks} chunks ({Bytes} bytes)")]
    private static partial void LogPruned(ILogger logger, int snapshots, int chunks, long bytes);
}
