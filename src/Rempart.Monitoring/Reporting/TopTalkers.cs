using Rempart.Store;

namespace Rempart.Monitoring.Reporting;

/// <summary>One row of a top table: an address and how many messages.</summary>
public sealed record TopEntry(string Address, int Messages);

/// <summary>The busiest senders and recipients of a window, as the message trace saw them.</summary>
public sealed record TopTalkersReport(DateTimeOffset At, TimeSpan Window, IReadOnlyList<TopEntry> Senders, IReadOnlyList<TopEntry> Recipients, bool Truncated)
{
    public static readonly TopTalkersReport Empty = new(DateTimeOffset.MinValue, TimeSpan.Zero, [], [], false);
}

/// <summary>
/// Top senders and recipients from the message trace: one bounded trace query per refresh (the newest
/// <c>topScanLimit</c> events of the window), counted in memory. A message counts once per sender (its trace id)
/// and once per recipient, whatever number of events it left (queued, relayed, deferred...).
/// </summary>
public static class TopTalkers
{
    public static async Task<TopTalkersReport> ComputeAsync(IProtectionStore store, DateTimeOffset now, TimeSpan window, int top, int scanLimit, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(store);
        var events = await store.QueryTraceAsync(new TraceQuery(Since: now - window, Until: now, Limit: scanLimit), ct);
        return Count(events, now, window, top, events.Count >= scanLimit);
    }

    /// <summary>The counting part, separate so it is tested without a store.</summary>
    public static TopTalkersReport Count(IReadOnlyList<TraceEvent> events, DateTimeOffset now, TimeSpan window, int top, bool truncated)
    {
        ArgumentNullException.ThrowIfNull(events);
        var senders = new HashSet<(string Sender, string TraceId)>();
        var recipients = new HashSet<(string Recipient, string TraceId)>();
        foreach (var e in events)
        {
            senders.Add((e.Sender.Length == 0 ? "<>" : e.Sender.ToLowerInvariant(), e.TraceId));
            if (!string.IsNullOrEmpty(e.Recipient))
            {
                recipients.Add((e.Recipient.ToLowerInvariant(), e.TraceId));
            }
        }

        static List<TopEntry> Rank(IEnumerable<string> addresses, int top) =>
        [
            .. addresses.GroupBy(a => a, StringComparer.Ordinal)
                .Select(g => new TopEntry(g.Key, g.Count()))
                .OrderByDescending(e => e.Messages)
                .ThenBy(e => e.Address, StringComparer.Ordinal)
                .Take(top),
        ];

        return new TopTalkersReport(now, window, Rank(senders.Select(s => s.Sender), top), Rank(recipients.Select(r => r.Recipient), top), truncated);
    }
}
