using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Rempart.Common.Configuration;
using Rempart.Telemetry;

namespace Rempart.Monitoring.Health;

/// <summary>
/// The health model: runs every check on its interval under <see cref="HealthOptions.CheckDeadline"/>, and turns
/// what they measured into monitor states the way Exchange Managed Availability does. Pass is Healthy, Warn is
/// Degraded, Fail is Degraded until it has been sustained for the monitor's grace period (and failed
/// <see cref="HealthOptions.FailuresBeforeUnhealthy"/> runs in a row), then Unhealthy; one Pass makes it Healthy
/// again. Every state change (and only a change) goes to the transition sink, so a monitor that keeps failing
/// raises one alert, not one per run.
/// </summary>
public sealed partial class HealthModel : IHealthReportSource, IAsyncDisposable
{
    private readonly string _server;
    private readonly HealthOptions _options;
    private readonly IReadOnlyList<IHealthCheck> _checks;
    private readonly IHealthTransitionSink _sink;
    private readonly Func<bool> _active;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<(string Set, string Monitor), Tracked> _monitors = [];
    private readonly Dictionary<IHealthCheck, List<string>> _reported = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = [];
    private HealthReport _current;

    /// <summary>How soon a check skipped while the server was not ready is tried again.</summary>
    private static readonly TimeSpan NotReadyRetry = TimeSpan.FromSeconds(1);

    /// <param name="active">False while the server is starting or stopping: checks are then neither run nor judged.</param>
    public HealthModel(string server, HealthOptions options, IEnumerable<IHealthCheck> checks, IHealthTransitionSink sink, Func<bool> active, TimeProvider time, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(checks);
        _server = server;
        _options = options;
        _checks = [.. checks];
        _sink = sink ?? NoTransitionSink.Instance;
        _active = active;
        _time = time;
        _logger = logger;
        _current = new HealthReport(server, time.GetUtcNow(), []);
    }

    public HealthReport Current => Volatile.Read(ref _current);

    public IReadOnlyList<IHealthCheck> Checks => _checks;

    /// <summary>Registers the monitors a check is known to report as Unknown, so the report lists them before their first run.</summary>
    public void Declare(string healthSet, string monitor, string detail = "not checked yet")
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (!_monitors.ContainsKey((healthSet, monitor)))
            {
                _monitors[(healthSet, monitor)] = new Tracked(healthSet, monitor, now) { Detail = detail };
                RempartMetrics.HealthMonitorState.WithLabels(healthSet, monitor).Set(0);
            }

            Publish(now);
        }
    }

    /// <summary>Starts one loop per check; each runs at once, then every interval.</summary>
    public void Start()
    {
        foreach (var check in _checks)
        {
            _loops.Add(Task.Run(() => LoopAsync(check, _stop.Token)));
        }
    }

    private async Task LoopAsync(IHealthCheck check, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            var judged = true;
            try
            {
                judged = await RunOnceAsync(check, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                // A bug in the model itself must not end this check's loop for the rest of the server's life.
                LogCheckFailed(_logger, check.HealthSet, ex);
            }

            try
            {
                // Not judged (server starting): look again soon rather than a whole interval later.
                await Task.Delay(judged || check.Interval < NotReadyRetry ? check.Interval : NotReadyRetry, _time, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Runs one check under the deadline and applies its results; returns false (nothing judged) while the server
    /// is not ready. A check that throws or overruns fails every monitor it reported before.
    /// </summary>
    public async Task<bool> RunOnceAsync(IHealthCheck check, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(check);
        if (!_active())
        {
            return false;
        }

        var started = Stopwatch.GetTimestamp();
        IReadOnlyList<CheckResult> results;
        using (var deadline = new CancellationTokenSource(_options.CheckDeadline, _time))
        using (var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, deadline.Token))
        {
            try
            {
                // WaitAsync as well as the token: a check that ignores its token still cannot hold the loop.
                results = await check.RunAsync(linked.Token).WaitAsync(_options.CheckDeadline, _time, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
            {
                results = FailAll(check, $"check did not finish within {_options.CheckDeadline.TotalSeconds:0.###} s");
            }
            catch (Exception ex)
            {
                LogCheckFailed(_logger, check.HealthSet, ex);
                results = FailAll(check, "check failed: " + ex.GetType().Name + ": " + ex.Message);
            }
        }

        RempartMetrics.HealthCheckDuration.WithLabels(check.HealthSet).Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);

        // Re-test: the server may have started stopping while the check ran (listeners closing are not failures).
        if (!_active())
        {
            return false;
        }

        await ApplyAsync(check, results, ct);
        return true;
    }

    private List<CheckResult> FailAll(IHealthCheck check, string detail)
    {
        List<string> monitors;
        lock (_gate)
        {
            monitors = _reported.TryGetValue(check, out var known) && known.Count > 0 ? [.. known] : [DefaultMonitor(check)];
        }

        return [.. monitors.Select(m => new CheckResult(m, CheckOutcome.Fail, detail))];
    }

    /// <summary>The monitor a check that never reported is known by: its type name without "Check", lower-case.</summary>
    private static string DefaultMonitor(IHealthCheck check)
    {
        var name = check.GetType().Name;
        if (name.EndsWith("Check", StringComparison.Ordinal) && name.Length > 5)
        {
            name = name[..^5];
        }

        return name.ToLowerInvariant();
    }

    /// <summary>Applies one run's results: state machine per monitor, then transitions to the sink.</summary>
    internal async ValueTask ApplyAsync(IHealthCheck check, IReadOnlyList<CheckResult> results, CancellationToken ct)
    {
        var now = _time.GetUtcNow();
        var transitions = new List<HealthTransition>();
        lock (_gate)
        {
            if (!_reported.TryGetValue(check, out var known))
            {
                _reported[check] = known = [];
            }

            foreach (var r in results)
            {
                if (!known.Contains(r.Monitor))
                {
                    known.Add(r.Monitor);
                }

                var key = (check.HealthSet, r.Monitor);
                if (!_monitors.TryGetValue(key, out var m))
                {
                    _monitors[key] = m = new Tracked(check.HealthSet, r.Monitor, now);
                }

                var before = m.State;
                Evaluate(m, r, now);
                if (m.State != before)
                {
                    m.Since = now;
                    transitions.Add(new HealthTransition(_server, m.Set, m.Monitor, before, m.State, m.Detail, now));
                }

                RempartMetrics.HealthMonitorState.WithLabels(m.Set, m.Monitor).Set((int)m.State);
            }

            Publish(now);
        }

        foreach (var t in transitions)
        {
            LogTransition(_logger, t.HealthSet, t.Monitor, t.From, t.To, t.Detail);
            try
            {
                await _sink.OnTransitionAsync(t, ct);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // The sink must not throw; if it does, the model goes on (a lost alert beats a dead model).
                LogCheckFailed(_logger, "alerting sink", ex);
            }
        }
    }

    private void Evaluate(Tracked m, CheckResult r, DateTimeOffset now)
    {
        m.Detail = r.Detail;
        m.Value = r.Value;
        m.CheckedAt = now;
        if (r.Outcome != CheckOutcome.Fail)
        {
            m.FailingSince = null;
            m.ConsecutiveFailures = 0;
        }

        switch (r.Outcome)
        {
            case CheckOutcome.Pass:
                m.State = HealthState.Healthy;
                break;
            case CheckOutcome.Warn:
                m.State = HealthState.Degraded;
                break;
            case CheckOutcome.Fail:
                m.FailingSince ??= now;
                m.ConsecutiveFailures++;
                var grace = _options.GraceFor(m.Set, m.Monitor);
                var sustained = now - m.FailingSince.Value >= grace && m.ConsecutiveFailures >= _options.FailuresFor(m.Set, m.Monitor);
                m.State = sustained || m.State == HealthState.Unhealthy ? HealthState.Unhealthy : HealthState.Degraded;
                if (m.State == HealthState.Degraded)
                {
                    m.Detail = r.Detail + $" (failing for {(now - m.FailingSince.Value).TotalSeconds:0} s, grace {grace.TotalSeconds:0} s)";
                }

                break;
            default:
                m.State = HealthState.Unknown;
                break;
        }
    }

    private void Publish(DateTimeOffset now)
    {
        var list = _monitors.Values
            .OrderBy(m => SetOrder(m.Set)).ThenBy(m => m.Set, StringComparer.Ordinal).ThenBy(m => m.Monitor, StringComparer.Ordinal)
            .Select(m => new MonitorStatus(m.Set, m.Monitor, m.State, m.Detail, m.Since, m.CheckedAt, m.Value))
            .ToList();
        Volatile.Write(ref _current, new HealthReport(_server, now, list));
    }

    /// <summary>The documented order of the health sets (docs/monitoring/health.md).</summary>
    public static readonly IReadOnlyList<string> SetNames = ["service", "workers", "mailflow", "store", "replication", "protection", "platform"];

    private static int SetOrder(string set)
    {
        for (var i = 0; i < SetNames.Count; i++)
        {
            if (SetNames[i] == set)
            {
                return i;
            }
        }

        return SetNames.Count;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try
        {
            await Task.WhenAll(_loops);
        }
        catch (OperationCanceledException)
        {
        }

        _stop.Dispose();
        foreach (var check in _checks.OfType<IAsyncDisposable>())
        {
            await check.DisposeAsync();
        }
    }

    private sealed class Tracked(string set, string monitor, DateTimeOffset since)
    {
        public string Set { get; } = set;

        public string Monitor { get; } = monitor;

        public HealthState State { get; set; } = HealthState.Unknown;

        public string Detail { get; set; } = "not checked yet";

        public double? Value { get; set; }

        public DateTimeOffset Since { get; set; } = since;

        public DateTimeOffset CheckedAt { get; set; } = since;

        public DateTimeOffset? FailingSince { get; set; }

        public int ConsecutiveFailures { get; set; }
    }

    [LoggerMessage(EventId = (int)EventIds.HealthTransition, Level = LogLevel.Warning, Message = "Health {HealthSet}/{Monitor}: {From} -> {To}: {Detail}")]
    private static partial void LogTransition(ILogger logger, string healthSet, string monitor, HealthState from, HealthState to, string detail);

    [LoggerMessage(EventId = (int)EventIds.HealthCheckFailed, Level = LogLevel.Warning, Message = "Health check {HealthSet} threw")]
    private static partial void LogCheckFailed(ILogger logger, string healthSet, Exception ex);
}
