namespace Rempart.Common.Configuration;

/// <summary>monitoring.report: the near-real-time report page (docs/monitoring/report.md).</summary>
public sealed class ReportOptions
{
    /// <summary>Whether the page, its login and /api/report/stats exist at all.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How often the sampler reads the server's counters (the page's finest resolution).</summary>
    public TimeSpan SampleInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How far back the fine series (one point per <see cref="SampleInterval"/>) reaches.</summary>
    public TimeSpan FineRetention { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Width of one point of the coarse series.</summary>
    public TimeSpan CoarseInterval { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>How far back the coarse series reaches.</summary>
    public TimeSpan CoarseRetention { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Window of the top senders and recipients tables (read from the message trace).</summary>
    public TimeSpan TopWindow { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How often the top senders and recipients are recomputed (each pass is one trace query).</summary>
    public TimeSpan TopRefreshInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Rows in each of the top senders and recipients tables.</summary>
    public int TopCount { get; set; } = 10;

    /// <summary>Trace events read per top-senders pass at most (bounds the work on a busy server).</summary>
    public int TopScanLimit { get; set; } = 20000;

    /// <summary>A session ends after this long without a request.</summary>
    public TimeSpan SessionIdleTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>A session ends this long after login whatever happens.</summary>
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromHours(12);

    /// <summary>Sessions kept at once; the oldest goes when a new login would exceed it.</summary>
    public int MaxSessions { get; set; } = 100;

    /// <summary>
    /// Accept the admin password over plain HTTP from any address. Off by default: without TLS a password is only
    /// taken from loopback (the HTTPS listener is the way in from elsewhere).
    /// </summary>
    public bool AllowPlainHttpLogin { get; set; }

    /// <summary>Trace events shown at most for one search on the page.</summary>
    public int TraceSearchLimit { get; set; } = 500;

    /// <summary>Configuration errors, each naming its key under <paramref name="prefix"/>.</summary>
    public IEnumerable<string> Validate(string prefix)
    {
        if (!Enabled)
        {
            return [];
        }

        var errors = new List<string>();
        void Check(bool ok, string key, string message)
        {
            if (!ok)
            {
                errors.Add($"'{prefix}.{key}': {message}");
            }
        }

        Check(SampleInterval >= TimeSpan.FromMilliseconds(200) && SampleInterval <= TimeSpan.FromMinutes(1), "sampleInterval", "must be between 00:00:00.2 and 00:01:00.");
        Check(FineRetention >= SampleInterval && FineRetention / SampleInterval <= 100_000, "fineRetention", "must be at least sampleInterval and at most 100000 samples long.");
        Check(CoarseInterval >= SampleInterval && CoarseInterval <= TimeSpan.FromHours(1), "coarseInterval", "must be at least sampleInterval and at most 01:00:00.");
        Check(CoarseRetention >= CoarseInterval && CoarseRetention / CoarseInterval <= 100_000, "coarseRetention", "must be at least coarseInterval and at most 100000 points long.");
        Check(TopWindow > TimeSpan.Zero && TopWindow <= TimeSpan.FromDays(7), "topWindow", "must be positive and at most 7 days.");
        Check(TopRefreshInterval >= TimeSpan.FromSeconds(1), "topRefreshInterval", "must be at least 1 second.");
        Check(TopCount is >= 1 and <= 100, "topCount", "must be between 1 and 100.");
        Check(TopScanLimit is >= 100 and <= 1_000_000, "topScanLimit", "must be between 100 and 1000000.");
        Check(SessionIdleTimeout > TimeSpan.Zero, "sessionIdleTimeout", "must be positive.");
        Check(SessionLifetime >= SessionIdleTimeout, "sessionLifetime", "must be at least sessionIdleTimeout.");
        Check(MaxSessions is >= 1 and <= 10_000, "maxSessions", "must be between 1 and 10000.");
        Check(TraceSearchLimit is >= 1 and <= 10_000, "traceSearchLimit", "must be between 1 and 10000.");
        return errors;
    }
}
