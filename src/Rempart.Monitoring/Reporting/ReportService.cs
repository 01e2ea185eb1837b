using Rempart.Common.Configuration;
using Rempart.Monitoring.Health;
using Rempart.Store;

namespace Rempart.Monitoring.Reporting;

/// <summary>A health monitor as /api/report/stats shows it.</summary>
public sealed record HealthMonitorView(string HealthSet, string Monitor, string State, string Detail, DateTimeOffset Since, double? Value);

/// <summary>A health set and its worst monitor state.</summary>
public sealed record HealthSetView(string Name, string State);

/// <summary>The health part of the stats: <see cref="Running"/> is false until the health model runs.</summary>
public sealed record HealthView(bool Running, string Overall, IReadOnlyList<HealthSetView> Sets, IReadOnlyList<HealthMonitorView> Monitors)
{
    public static HealthView From(HealthReport? report) => report is null
        ? new HealthView(false, nameof(HealthState.Unknown), [], [])
        : new HealthView(
            true,
            report.Overall.ToString(),
            [.. report.Sets.Select(s => new HealthSetView(s.HealthSet, s.State.ToString()))],
            [.. report.Monitors.Select(m => new HealthMonitorView(m.HealthSet, m.Monitor, m.State.ToString(), m.Detail, m.Since, m.Value))]);
}

/// <summary>A series' description for the page's legend.</summary>
public sealed record SeriesView(string Name, string Label, string Kind);

/// <summary>What /api/report/stats returns (JSON, camelCase).</summary>
public sealed record ReportStats(
    string Server,
    DateTimeOffset At,
    IReadOnlyList<SeriesView> Series,
    SeriesColumns Points,
    IReadOnlyDictionary<string, double> Totals,
    TopTalkersReport Top,
    HealthView Health);

/// <summary>
/// The report page's live side: the sampler, the top senders cache, sessions and the trace search. The HTTP glue is
/// in Rempart.Server (Http/ReportEndpoints.cs).
/// </summary>
public sealed class ReportService
{
    private readonly IProtectionStore _store;
    private readonly Func<IHealthReportSource?> _health;
    private readonly TimeProvider _time;
    private TopTalkersReport _top = TopTalkersReport.Empty;

    public ReportService(string server, ReportOptions options, IProtectionStore store, Func<IHealthReportSource?> health, Func<double[]>? read = null, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(health);
        Server = server;
        Options = options;
        _store = store;
        _health = health;
        _time = time ?? TimeProvider.System;
        Sampler = new ReportSampler(options, read ?? ReportSeries.ReadMetrics, _time);
        Sessions = new ReportSessions(options, _time);
    }

    public string Server { get; }

    public ReportOptions Options { get; }

    public ReportSampler Sampler { get; }

    public ReportSessions Sessions { get; }

    public TopTalkersReport Top => Volatile.Read(ref _top);

    public HealthReport? Health => _health()?.Current;

    /// <summary>Recomputes the top senders and recipients now.</summary>
    public async Task RefreshTopAsync(CancellationToken ct)
    {
        var top = await TopTalkers.ComputeAsync(_store, _time.GetUtcNow(), Options.TopWindow, Options.TopCount, Options.TopScanLimit, ct);
        Volatile.Write(ref _top, top);
    }

    /// <summary>The stats for the page: the newest <paramref name="points"/> fine points, or coarse ones.</summary>
    public ReportStats Stats(int points, bool coarse)
    {
        var max = Math.Clamp(points, 1, coarse ? Sampler.CoarseCapacity : Sampler.FineCapacity);
        return new ReportStats(
            Server,
            _time.GetUtcNow(),
            [.. Sampler.Series.Select(s => new SeriesView(s.Name, s.Label, s.Kind == SeriesKind.Counter ? "counter" : "gauge"))],
            coarse ? Sampler.Coarse(max) : Sampler.Fine(max),
            Sampler.Totals(),
            Top,
            HealthView.From(Health));
    }

    /// <summary>
    /// Trace search from the page's single box: the text is tried as sender, recipient, Message-ID and trace (queue)
    /// id; each message found is then shown whole (every event of its trace id).
    /// </summary>
    public async Task<(IReadOnlyList<TraceEvent> Events, bool Truncated)> SearchTraceAsync(string q, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(q);
        var text = q.Trim();
        if (text.Length == 0)
        {
            return ([], false);
        }

        var limit = Options.TraceSearchLimit;
        var bare = text.Trim('<', '>');
        var queries = new List<TraceQuery>
        {
            new(Sender: text, Limit: limit),
            new(Recipient: text, Limit: limit),
            new(MessageId: bare, Limit: limit),
            new(TraceId: text, Limit: limit),
        };
        var traceIds = new HashSet<string>(StringComparer.Ordinal);
        var truncated = false;
        foreach (var query in queries)
        {
            var found = await _store.QueryTraceAsync(query, ct);
            truncated |= found.Count >= limit;
            foreach (var e in found)
            {
                traceIds.Add(e.TraceId);
            }
        }

        // The newest messages first when there are too many to show whole.
        const int maxMessages = 50;
        truncated |= traceIds.Count > maxMessages;
        var all = new List<TraceEvent>();
        foreach (var id in traceIds.Take(maxMessages))
        {
            all.AddRange(await _store.QueryTraceAsync(new TraceQuery(TraceId: id, Limit: limit), ct));
        }

        return (all, truncated);
    }

    /// <summary>Samples and refreshes the top tables until cancelled.</summary>
    public async Task RunAsync(Action<Exception>? onTopFailure, CancellationToken ct)
    {
        var sampling = Sampler.RunAsync(ct);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    await RefreshTopAsync(ct);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    onTopFailure?.Invoke(ex);
                }

                await Task.Delay(Options.TopRefreshInterval, _time, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }

        await sampling;
    }
}
