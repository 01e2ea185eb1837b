using System.Globalization;
using Rempart.Common.Configuration;
using Rempart.Monitoring.Health;
using Rempart.Store;
using Rempart.Telemetry;

namespace Rempart.Monitoring.Checks;

/// <summary>
/// Mail flow from the outbound queue: its length, the age of its oldest entry (the detail names the destinations
/// with the oldest mail, the value is the oldest age in seconds), the share of queued entries already deferred,
/// and the share of bounces among remote deliveries since the previous run.
/// </summary>
public sealed class MailFlowCheck(IMailStore store, HealthOptions options, TimeProvider time) : IHealthCheck
{
    private double _lastBounces = BounceCount();
    private double _lastDelivered = RempartMetrics.MessagesDelivered.WithLabels("remote").Value;

    public string HealthSet => "mailflow";

    public TimeSpan Interval => options.MailFlow.Interval ?? options.Interval;

    public async Task<IReadOnlyList<CheckResult>> RunAsync(CancellationToken ct)
    {
        var o = options.MailFlow;
        var now = time.GetUtcNow();
        var entries = await store.Queue.ListAsync(ct);
        var results = new List<CheckResult>(4);

        var count = entries.Count;
        var lengthOutcome = o.QueueLengthFail > 0 && count >= o.QueueLengthFail ? CheckOutcome.Fail
            : o.QueueLengthWarn > 0 && count >= o.QueueLengthWarn ? CheckOutcome.Warn : CheckOutcome.Pass;
        results.Add(new CheckResult("queue-length", lengthOutcome,
            string.Create(CultureInfo.InvariantCulture, $"{count} entries queued (warn {o.QueueLengthWarn}, fail {o.QueueLengthFail})"), count));

        if (count == 0)
        {
            RempartMetrics.QueueOldestAge.Set(0);
            results.Add(new CheckResult("queue-oldest", CheckOutcome.Pass, "queue empty", 0));
        }
        else
        {
            var byDomain = entries.GroupBy(e => e.Domain, StringComparer.OrdinalIgnoreCase)
                .Select(g => (Domain: g.Key, Count: g.Count(), Age: now - g.Min(e => e.Created)))
                .OrderByDescending(d => d.Age).ToList();
            var oldest = byDomain[0].Age;
            RempartMetrics.QueueOldestAge.Set(Math.Max(0, oldest.TotalSeconds));
            var worst = string.Join(", ", byDomain.Take(3).Select(d => string.Create(CultureInfo.InvariantCulture, $"{d.Domain}: {d.Count} entries, oldest {Format(d.Age)}")));
            var outcome = oldest >= o.OldestAgeFail ? CheckOutcome.Fail : oldest >= o.OldestAgeWarn ? CheckOutcome.Warn : CheckOutcome.Pass;
            results.Add(new CheckResult("queue-oldest", outcome,
                $"oldest {Format(oldest)} (warn {Format(o.OldestAgeWarn)}, fail {Format(o.OldestAgeFail)}); {worst}", oldest.TotalSeconds));
        }

        var deferred = entries.Count(e => e.Attempts > 0);
        results.Add(Rate("deferral-rate", deferred, count, o.DeferralRateWarn, o.DeferralRateFail, "queued entries deferred at least once"));

        var bounces = BounceCount();
        var delivered = RempartMetrics.MessagesDelivered.WithLabels("remote").Value;
        var newBounces = bounces - _lastBounces;
        var attempts = newBounces + (delivered - _lastDelivered);
        _lastBounces = bounces;
        _lastDelivered = delivered;
        results.Add(Rate("bounce-rate", newBounces, attempts, o.BounceRateWarn, o.BounceRateFail, "bounces among remote deliveries since the last run"));
        return results;
    }

    private CheckResult Rate(string monitor, double part, double total, double warn, double fail, string what)
    {
        if (total < options.MailFlow.RateMinimumAttempts)
        {
            return new CheckResult(monitor, CheckOutcome.Pass,
                string.Create(CultureInfo.InvariantCulture, $"{part:0} of {total:0} {what}: too few to judge (minimum {options.MailFlow.RateMinimumAttempts})"), total == 0 ? 0 : part / total);
        }

        var rate = part / total;
        var outcome = rate >= fail ? CheckOutcome.Fail : rate >= warn ? CheckOutcome.Warn : CheckOutcome.Pass;
        return new CheckResult(monitor, outcome,
            string.Create(CultureInfo.InvariantCulture, $"{rate:P0} of {total:0} {what} (warn {warn:P0}, fail {fail:P0})"), rate);
    }

    private static double BounceCount() => RempartMetrics.Bounces.WithLabels("failure").Value;

    internal static string Format(TimeSpan t) =>
        t.TotalSeconds < 120 ? string.Create(CultureInfo.InvariantCulture, $"{t.TotalSeconds:0} s")
        : t.TotalMinutes < 120 ? string.Create(CultureInfo.InvariantCulture, $"{t.TotalMinutes:0} min")
        : t.TotalHours < 48 ? string.Create(CultureInfo.InvariantCulture, $"{t.TotalHours:0.#} h")
        : string.Create(CultureInfo.InvariantCulture, $"{t.TotalDays:0.#} days");
}
