using Rempart.Common.Configuration;
using Rempart.Monitoring.Reporting;

namespace Rempart.Monitoring.Tests.Reporting;

public sealed class ReportSamplerTests
{
    private static readonly SeriesDefinition[] Two =
    [
        new("in", "in", SeriesKind.Counter),
        new("queue", "queue", SeriesKind.Gauge),
    ];

    private static readonly DateTimeOffset T0 = new(2026, 11, 28, 4, 0, 0, TimeSpan.Zero);

    private static ReportOptions Options(int fineSeconds = 20, int coarseSeconds = 10, int coarseRetentionSeconds = 30) => new()
    {
        SampleInterval = TimeSpan.FromSeconds(2),
        FineRetention = TimeSpan.FromSeconds(fineSeconds),
        CoarseInterval = TimeSpan.FromSeconds(coarseSeconds),
        CoarseRetention = TimeSpan.FromSeconds(coarseRetentionSeconds),
    };

    [Fact]
    public void RingBuffer_keeps_the_newest_items_in_order()
    {
        var ring = new RingBuffer<int>(3);
        for (var i = 1; i <= 7; i++)
        {
            ring.Add(i);
        }

        Assert.Equal(3, ring.Count);
        Assert.Equal([5, 6, 7], ring.Last(10));
        Assert.Equal([6, 7], ring.Last(2));
        Assert.Empty(ring.Last(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => ring[3]);
        Assert.Throws<ArgumentOutOfRangeException>(() => new RingBuffer<int>(0));
    }

    [Fact]
    public void Counters_become_events_per_point_and_gauges_keep_their_value()
    {
        var sampler = new ReportSampler(Options(), () => [0, 0], series: Two);
        sampler.Record(T0, [100, 3]);
        sampler.Record(T0.AddSeconds(2), [104, 5]);
        sampler.Record(T0.AddSeconds(4), [104, 1]);

        var fine = sampler.Fine(100);
        // The first sample starts the series at 0 rather than charting everything since the process started.
        Assert.Equal([0, 4, 0], fine.V[0]);
        Assert.Equal([3, 5, 1], fine.V[1]);
        Assert.Equal(T0.ToUnixTimeMilliseconds(), fine.T[0]);
        Assert.Equal(2, fine.StepSeconds);

        var totals = sampler.Totals();
        Assert.Equal(4, totals["in"]);
        Assert.Equal(1, totals["queue"]);
    }

    [Fact]
    public void Fine_series_is_bounded_by_retention_over_interval()
    {
        var sampler = new ReportSampler(Options(fineSeconds: 20), () => [0, 0], series: Two);
        Assert.Equal(10, sampler.FineCapacity);
        for (var i = 0; i < 1000; i++)
        {
            sampler.Record(T0.AddSeconds(2 * i), [i, i]);
        }

        var fine = sampler.Fine(int.MaxValue);
        Assert.Equal(10, fine.T.Length);
        Assert.Equal(T0.AddSeconds(2 * 999).ToUnixTimeMilliseconds(), fine.T[^1]);
        Assert.All(fine.V[0], v => Assert.Equal(1, v));
        Assert.Equal(3, sampler.Coarse(int.MaxValue).T.Length);
    }

    [Fact]
    public void Coarse_points_sum_counters_and_keep_the_highest_gauge()
    {
        var sampler = new ReportSampler(Options(coarseSeconds: 10), () => [0, 0], series: Two);
        // Bucket [0 s, 10 s): samples at 0, 2, 4, 6, 8; then 10 opens the next bucket.
        double total = 0;
        for (var i = 0; i <= 5; i++)
        {
            total += i;
            sampler.Record(T0.AddSeconds(2 * i), [total, 10 - i]);
        }

        var coarse = sampler.Coarse(10);
        Assert.Equal(2, coarse.T.Length);
        Assert.Equal(1 + 2 + 3 + 4, coarse.V[0][0]);
        Assert.Equal(10, coarse.V[1][0]);
        Assert.Equal(5, coarse.V[0][1]);
        Assert.Equal(10, coarse.StepSeconds);
    }

    [Fact]
    public void Sample_reads_through_the_reader_and_rejects_a_wrong_shape()
    {
        var value = 0.0;
        var sampler = new ReportSampler(Options(), () => [value, 2], series: Two);
        sampler.Sample();
        value = 7;
        sampler.Sample();
        Assert.Equal(7, sampler.Totals()["in"]);
        Assert.Throws<ArgumentException>(() => sampler.Record(T0, [1]));
    }

    [Fact]
    public void Real_metrics_reader_matches_the_series_list()
    {
        var values = ReportSeries.ReadMetrics();
        Assert.Equal(ReportSeries.All.Count, values.Length);
        Rempart.Telemetry.RempartMetrics.MessagesReceived.WithLabels("smtp").Inc();
        Assert.True(ReportSeries.ReadMetrics()[ReportSeries.IndexOf("mailIn")] >= values[ReportSeries.IndexOf("mailIn")] + 1);
        Assert.Throws<ArgumentException>(() => ReportSeries.IndexOf("nope"));
    }

    [Fact]
    public void Options_defaults_are_valid_and_bad_values_name_their_key()
    {
        Assert.Empty(new ReportOptions().Validate("monitoring.report"));
        var bad = new ReportOptions { SampleInterval = TimeSpan.Zero, TopCount = 0, SessionLifetime = TimeSpan.FromMinutes(1), MaxSessions = 0 };
        var errors = bad.Validate("monitoring.report").ToList();
        Assert.Contains(errors, e => e.Contains("'monitoring.report.sampleInterval'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("'monitoring.report.topCount'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("'monitoring.report.sessionLifetime'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.Contains("'monitoring.report.maxSessions'", StringComparison.Ordinal));
        Assert.Empty(new ReportOptions { Enabled = false, TopCount = 0 }.Validate("x"));
    }
}
