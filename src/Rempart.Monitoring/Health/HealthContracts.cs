namespace Rempart.Monitoring.Health;

/// <summary>
/// A monitor's state, in the spirit of Exchange Managed Availability: Degraded while a failure has lasted less than
/// the monitor's grace period, Unhealthy once it has been sustained past it. Unknown when nothing can be measured
/// (a subject not configured, replication before it exists).
/// </summary>
public enum HealthState
{
    Unknown = 0,
    Healthy = 1,
    Degraded = 2,
    Unhealthy = 3,
}

/// <summary>One monitor's current state, as the health model last evaluated it.</summary>
/// <param name="HealthSet">The group it belongs to: service, workers, mailflow, store, replication, protection, platform.</param>
/// <param name="Monitor">Its name within the set, e.g. "imap" or "queue-oldest".</param>
/// <param name="Detail">Human-readable reason for the state (what was measured, against which threshold).</param>
/// <param name="Since">When the monitor entered <paramref name="State"/>.</param>
/// <param name="Value">The measured value, when there is one (latency in seconds, queue length, days left...).</param>
public sealed record MonitorStatus(
    string HealthSet,
    string Monitor,
    HealthState State,
    string Detail,
    DateTimeOffset Since,
    DateTimeOffset CheckedAt,
    double? Value = null);

/// <summary>Every monitor of one server at one moment; the worst state wins for a set and for the server.</summary>
public sealed record HealthReport(string Server, DateTimeOffset At, IReadOnlyList<MonitorStatus> Monitors)
{
    public HealthState Overall => Worst(Monitors);

    /// <summary>Each health set with its worst monitor state, in first-seen order.</summary>
    public IEnumerable<(string HealthSet, HealthState State)> Sets =>
        Monitors.GroupBy(m => m.HealthSet, StringComparer.Ordinal).Select(g => (g.Key, Worst(g)));

    private static HealthState Worst(IEnumerable<MonitorStatus> monitors) =>
        monitors.Select(m => m.State).DefaultIfEmpty(HealthState.Unknown).Max();
}

/// <summary>A monitor changed state. Alerting keys its alerts on <see cref="Key"/>.</summary>
public sealed record HealthTransition(
    string Server,
    string HealthSet,
    string Monitor,
    HealthState From,
    HealthState To,
    string Detail,
    DateTimeOffset At)
{
    /// <summary>The deduplication key: server + health set + monitor.</summary>
    public string Key => Server + "/" + HealthSet + "/" + Monitor;
}

/// <summary>Receives every monitor state change (implemented by alerting). Must not throw and must return quickly.</summary>
public interface IHealthTransitionSink
{
    ValueTask OnTransitionAsync(HealthTransition transition, CancellationToken ct);
}

/// <summary>The latest health report (implemented by the health model; read by /healthz, the CLI and the report page).</summary>
public interface IHealthReportSource
{
    HealthReport Current { get; }
}

/// <summary>A sink that drops transitions, for when alerting is not configured.</summary>
public sealed class NoTransitionSink : IHealthTransitionSink
{
    public static readonly NoTransitionSink Instance = new();

    public ValueTask OnTransitionAsync(HealthTransition transition, CancellationToken ct) => ValueTask.CompletedTask;
}
