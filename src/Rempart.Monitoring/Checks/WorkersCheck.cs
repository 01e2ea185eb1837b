using System.Globalization;
using Rempart.Common.Configuration;
using Rempart.Monitoring.Health;
using Rempart.Telemetry;

namespace Rempart.Monitoring.Checks;

/// <summary>
/// Background workers (the "mailbox assistants"): one monitor per registered heartbeat. Failing when the last
/// iteration threw and none succeeded since (a crash loop); stalled when no beat came for
/// max(stallFactor x the worker's expected interval, stallFloor). The backlog is the monitor's value.
/// </summary>
public sealed class WorkersCheck(WorkerRegistry workers, HealthOptions options, TimeProvider time) : IHealthCheck
{
    public string HealthSet => "workers";

    public TimeSpan Interval => options.Workers.Interval ?? options.Interval;

    public Task<IReadOnlyList<CheckResult>> RunAsync(CancellationToken ct)
    {
        var now = time.GetUtcNow();
        var results = new List<CheckResult>();
        foreach (var w in workers.Snapshot())
        {
            results.Add(Judge(w, now));
        }

        return Task.FromResult<IReadOnlyList<CheckResult>>(results);
    }

    private CheckResult Judge(WorkerHeartbeat w, DateTimeOffset now)
    {
        var backlog = (double)w.Backlog;
        if (w.Stopped)
        {
            return new CheckResult(w.Name, CheckOutcome.Unknown, "stopped", backlog);
        }

        var stallAfter = TimeSpan.FromTicks(Math.Max(w.ExpectedInterval.Ticks * options.Workers.StallFactor, options.Workers.StallFloor.Ticks));
        var silent = now - w.LastBeat;
        if (w.LastErrorAt is { } failedAt && failedAt >= w.LastBeat)
        {
            return new CheckResult(w.Name, CheckOutcome.Fail,
                string.Create(CultureInfo.InvariantCulture, $"failing: {w.LastError} ({w.Failures} failures so far, no success for {silent.TotalSeconds:0} s)"), backlog);
        }

        if (silent > stallAfter)
        {
            return new CheckResult(w.Name, CheckOutcome.Fail,
                string.Create(CultureInfo.InvariantCulture, $"stalled: no heartbeat for {silent.TotalSeconds:0} s (limit {stallAfter.TotalSeconds:0} s), backlog {w.Backlog}"), backlog);
        }

        if (options.Workers.BacklogWarn > 0 && w.Backlog > options.Workers.BacklogWarn)
        {
            return new CheckResult(w.Name, CheckOutcome.Warn,
                string.Create(CultureInfo.InvariantCulture, $"backlog {w.Backlog} above {options.Workers.BacklogWarn}"), backlog);
        }

        return new CheckResult(w.Name, CheckOutcome.Pass,
            string.Create(CultureInfo.InvariantCulture, $"last beat {silent.TotalSeconds:0} s ago, backlog {w.Backlog}"), backlog);
    }
}
