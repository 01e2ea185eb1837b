namespace Rempart.Monitoring.Health;

/// <summary>What one measurement says about one monitor, before the model applies thresholds and grace.</summary>
public enum CheckOutcome
{
    /// <summary>Nothing could be measured (subject not configured or not built yet).</summary>
    Unknown = 0,

    /// <summary>Within limits.</summary>
    Pass = 1,

    /// <summary>A warning level (e.g. a certificate under 30 days): the monitor is Degraded, never escalates by itself.</summary>
    Warn = 2,

    /// <summary>Failing: Degraded at first, Unhealthy once sustained past the monitor's grace period.</summary>
    Fail = 3,
}

/// <summary>One monitor's measurement from a check run.</summary>
/// <param name="Monitor">The monitor name within the check's health set, e.g. "integrity" or "blobs".</param>
/// <param name="Value">The measured number, when there is one (latency s, count, days...).</param>
public sealed record CheckResult(string Monitor, CheckOutcome Outcome, string Detail, double? Value = null);

/// <summary>
/// A probe feeding monitors of one health set. The health model runs each check on its own interval, with a
/// deadline; a check that throws or overruns is a Fail of every monitor it last reported.
/// </summary>
public interface IHealthCheck
{
    /// <summary>service, workers, mailflow, store, replication, protection or platform.</summary>
    string HealthSet { get; }

    /// <summary>How often the model runs it.</summary>
    TimeSpan Interval { get; }

    Task<IReadOnlyList<CheckResult>> RunAsync(CancellationToken ct);
}
