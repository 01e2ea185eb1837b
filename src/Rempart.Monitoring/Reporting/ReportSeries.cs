using Prometheus;
using Rempart.Telemetry;

namespace Rempart.Monitoring.Reporting;

/// <summary>A counter's series is plotted as events per point; a gauge's as its value at the point.</summary>
public enum SeriesKind
{
    Counter,
    Gauge,
}

/// <summary>One series of the report page.</summary>
/// <param name="Name">Stable JSON name (the page's script knows it).</param>
/// <param name="Label">What the page calls it.</param>
public sealed record SeriesDefinition(string Name, string Label, SeriesKind Kind);

/// <summary>
/// The series the report page charts and how each is read from Rempart's own Prometheus metrics
/// (<see cref="RempartMetrics"/>), in process: no HTTP scrape, no parsing.
/// </summary>
public static class ReportSeries
{
    public static readonly IReadOnlyList<SeriesDefinition> All =
    [
        new("mailIn", "mail in", SeriesKind.Counter),
        new("deliveredLocal", "delivered locally", SeriesKind.Counter),
        new("mailOut", "mail out (relayed)", SeriesKind.Counter),
        new("rejected", "rejected", SeriesKind.Counter),
        new("spam", "spam", SeriesKind.Counter),
        new("malware", "malware", SeriesKind.Counter),
        new("otherDetections", "other detections", SeriesKind.Counter),
        new("authFailures", "auth failures", SeriesKind.Counter),
        new("bans", "bans", SeriesKind.Counter),
        new("queueDepth", "queue depth", SeriesKind.Gauge),
        new("connections", "open connections", SeriesKind.Gauge),
    ];

    /// <summary>Index of a series in <see cref="All"/> and in every sample's values.</summary>
    public static int IndexOf(string name)
    {
        for (var i = 0; i < All.Count; i++)
        {
            if (string.Equals(All[i].Name, name, StringComparison.Ordinal))
            {
                return i;
            }
        }

        throw new ArgumentException("unknown series " + name, nameof(name));
    }

    /// <summary>Reads every series now: counters as their running totals, gauges as their values.</summary>
    public static double[] ReadMetrics()
    {
        var detections = Labelled(RempartMetrics.ProtectionDetections);
        double Detected(string kind) => detections.Where(d => d.Labels[0] == kind).Sum(d => d.Value);
        return
        [
            Sum(RempartMetrics.MessagesReceived, _ => true),
            Sum(RempartMetrics.MessagesDelivered, l => l[0] == "local"),
            Sum(RempartMetrics.MessagesDelivered, l => l[0] == "remote"),
            Sum(RempartMetrics.MessagesRejected, _ => true),
            Detected("spam"),
            Detected("malware"),
            detections.Where(d => d.Labels[0] is not "spam" and not "malware").Sum(d => d.Value),
            Sum(RempartMetrics.AuthAttempts, l => l[1] is "failure" or "throttled"),
            RempartMetrics.Bans.Value,
            RempartMetrics.QueueDepth.Value,
            Sum(RempartMetrics.ConnectionsActive, _ => true),
        ];
    }

    private static double Sum(Counter counter, Func<string[], bool> match) =>
        counter.GetAllLabelValues().Where(match).Sum(l => counter.WithLabels(l).Value);

    private static double Sum(Gauge gauge, Func<string[], bool> match) =>
        gauge.GetAllLabelValues().Where(match).Sum(l => gauge.WithLabels(l).Value);

    private static List<(string[] Labels, double Value)> Labelled(Counter counter) =>
        [.. counter.GetAllLabelValues().Select(l => (l, counter.WithLabels(l).Value))];
}
