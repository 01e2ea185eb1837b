namespace Rempart.Common.Configuration;

/// <summary>
/// monitoring.health: the health model, its checks and their thresholds (docs/monitoring/health.md lists every key).
/// A failing check makes its monitor Degraded; once the failure has lasted <see cref="Grace"/> (and at least
/// <see cref="FailuresBeforeUnhealthy"/> runs in a row failed) the monitor is Unhealthy.
/// </summary>
public sealed class HealthOptions
{
    /// <summary>Whether this part runs at all.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How often each check runs unless its section sets its own interval.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long a failure must be sustained before its monitor is Unhealthy.</summary>
    public TimeSpan Grace { get; set; } = TimeSpan.FromMinutes(3);

    /// <summary>Consecutive failing runs needed (as well as <see cref="Grace"/>) before Unhealthy.</summary>
    public int FailuresBeforeUnhealthy { get; set; } = 2;

    /// <summary>Longest one check run may take; an overrun is a failure of every monitor the check reports.</summary>
    public TimeSpan CheckDeadline { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Longest one protocol probe (connect, greeting, command) may take.</summary>
    public TimeSpan ProbeDeadline { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Per-monitor overrides, keyed "set/monitor" (e.g. "mailflow/queue-oldest").</summary>
    public Dictionary<string, HealthMonitorOverride> Monitors { get; set; } = [];

    public HealthServiceOptions Service { get; set; } = new();

    public HealthWorkerOptions Workers { get; set; } = new();

    public HealthMailFlowOptions MailFlow { get; set; } = new();

    public HealthStoreOptions Store { get; set; } = new();

    public HealthProtectionOptions Protection { get; set; } = new();

    public HealthPlatformOptions Platform { get; set; } = new();

    /// <summary>The grace of one monitor, with its override applied.</summary>
    public TimeSpan GraceFor(string healthSet, string monitor) =>
        Monitors.TryGetValue(healthSet + "/" + monitor, out var o) && o.Grace is { } g ? g : Grace;

    /// <summary>The consecutive failures one monitor needs before Unhealthy, with its override applied.</summary>
    public int FailuresFor(string healthSet, string monitor) =>
        Monitors.TryGetValue(healthSet + "/" + monitor, out var o) && o.FailuresBeforeUnhealthy is { } f ? f : FailuresBeforeUnhealthy;

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

        void Interval(TimeSpan? value, string key)
        {
            if (value is { } v)
            {
                Check(v >= TimeSpan.FromMilliseconds(100) && v <= TimeSpan.FromDays(1), key, "must be between 00:00:00.1 and 1.00:00:00.");
            }
        }

        Interval(this.Interval, "interval");
        Check(Grace >= TimeSpan.Zero && Grace <= TimeSpan.FromDays(1), "grace", "must be between 00:00:00 and 1.00:00:00.");
        Check(FailuresBeforeUnhealthy is >= 1 and <= 100, "failuresBeforeUnhealthy", "must be between 1 and 100.");
        Check(CheckDeadline >= TimeSpan.FromMilliseconds(100) && CheckDeadline <= TimeSpan.FromHours(1), "checkDeadline", "must be between 00:00:00.1 and 01:00:00.");
        Check(ProbeDeadline >= TimeSpan.FromMilliseconds(100) && ProbeDeadline <= CheckDeadline, "probeDeadline", "must be at least 00:00:00.1 and at most checkDeadline.");
        foreach (var (key, o) in Monitors)
        {
            Check(key.Split('/') is [{ Length: > 0 }, { Length: > 0 }], "monitors." + key, "keys are \"set/monitor\", e.g. \"mailflow/queue-oldest\".");
            Check(o.Grace is null || (o.Grace >= TimeSpan.Zero && o.Grace <= TimeSpan.FromDays(1)), $"monitors.{key}.grace", "must be between 00:00:00 and 1.00:00:00.");
            Check(o.FailuresBeforeUnhealthy is null or (>= 1 and <= 100), $"monitors.{key}.failuresBeforeUnhealthy", "must be between 1 and 100.");
        }

        Interval(Service.Interval, "service.interval");
        Check(Service.ProbeUser is null || Service.ProbeUser.Contains('@', StringComparison.Ordinal), "service.probeUser", "must be an address (local@domain).");
        Interval(Workers.Interval, "workers.interval");
        Check(Workers.StallFactor is >= 1 and <= 100, "workers.stallFactor", "must be between 1 and 100.");
        Check(Workers.StallFloor >= TimeSpan.Zero && Workers.StallFloor <= TimeSpan.FromDays(1), "workers.stallFloor", "must be between 00:00:00 and 1.00:00:00.");
        Check(Workers.BacklogWarn >= 0, "workers.backlogWarn", "must be 0 (off) or more.");
        var m = MailFlow;
        Interval(m.Interval, "mailFlow.interval");
        Check(m.QueueLengthWarn >= 0 && (m.QueueLengthFail == 0 || m.QueueLengthFail >= m.QueueLengthWarn), "mailFlow.queueLengthFail", "must be 0 (off) or at least queueLengthWarn.");
        Check(m.OldestAgeWarn >= TimeSpan.Zero && m.OldestAgeFail >= m.OldestAgeWarn, "mailFlow.oldestAgeFail", "must be at least mailFlow.oldestAgeWarn (both non-negative).");
        Check(m.DeferralRateWarn is >= 0 and <= 1 && m.DeferralRateFail >= m.DeferralRateWarn && m.DeferralRateFail <= 1, "mailFlow.deferralRateFail", "rates are between 0 and 1, fail at least warn.");
        Check(m.BounceRateWarn is >= 0 and <= 1 && m.BounceRateFail >= m.BounceRateWarn && m.BounceRateFail <= 1, "mailFlow.bounceRateFail", "rates are between 0 and 1, fail at least warn.");
        Check(m.RateMinimumAttempts >= 1, "mailFlow.rateMinimumAttempts", "must be at least 1.");
        Interval(m.ProbeInterval, "mailFlow.probeInterval");
        Check(m.ProbeDeadline >= TimeSpan.FromSeconds(1) && m.ProbeDeadline <= TimeSpan.FromMinutes(30), "mailFlow.probeDeadline", "must be between 00:00:01 and 00:30:00.");
        Check(m.ProbeLatencyWarn > TimeSpan.Zero && m.ProbeLatencyWarn <= m.ProbeDeadline, "mailFlow.probeLatencyWarn", "must be positive and at most mailFlow.probeDeadline.");
        Interval(Store.Interval, "store.interval");
        Check(Store.SampleSize is >= 0 and <= 1_000_000, "store.sampleSize", "must be between 0 and 1000000.");
        Check(Store.OrphanMinAge >= TimeSpan.Zero, "store.orphanMinAge", "must not be negative.");
        Interval(Protection.Interval, "protection.interval");
        Check(Protection.SignatureAgeWarn > TimeSpan.Zero && Protection.SignatureAgeFail >= Protection.SignatureAgeWarn, "protection.signatureAgeFail", "must be at least protection.signatureAgeWarn (both positive).");
        Check(!string.IsNullOrWhiteSpace(Protection.DnsProbeName), "protection.dnsProbeName", "must be a host name.");
        var p = Platform;
        Interval(p.Interval, "platform.interval");
        Check(p.CertificateWarn > TimeSpan.Zero && p.CertificateFail >= TimeSpan.Zero && p.CertificateFail <= p.CertificateWarn, "platform.certificateFail", "must be non-negative and at most platform.certificateWarn.");
        Check(p.DiskFreeWarnPercent is >= 0 and <= 100 && p.DiskFreeFailPercent >= 0 && p.DiskFreeFailPercent <= p.DiskFreeWarnPercent, "platform.diskFreeFailPercent", "percentages are between 0 and 100, fail at most warn.");
        Check(p.MemoryWarnMb >= 0 && (p.MemoryFailMb == 0 || p.MemoryFailMb >= p.MemoryWarnMb), "platform.memoryFailMb", "must be 0 (off) or at least platform.memoryWarnMb.");
        return errors;
    }
}

/// <summary>monitoring.health.monitors["set/monitor"]: one monitor's own grace and failure count.</summary>
public sealed class HealthMonitorOverride
{
    public TimeSpan? Grace { get; set; }

    public int? FailuresBeforeUnhealthy { get; set; }
}

/// <summary>monitoring.health.service: protocol probes of every enabled listener.</summary>
public sealed class HealthServiceOptions
{
    public bool Enabled { get; set; } = true;

    /// <summary>Overrides health.interval for this set.</summary>
    public TimeSpan? Interval { get; set; }

    /// <summary>
    /// The account the IMAP, POP3, submission and mail-flow probes log in as; created at start when missing, its
    /// random password kept in DATA/monitoring/probe.secret. Default health-probe@HOSTNAME.
    /// </summary>
    public string? ProbeUser { get; set; }
}

/// <summary>monitoring.health.workers: heartbeats of the background workers.</summary>
public sealed class HealthWorkerOptions
{
    public bool Enabled { get; set; } = true;

    public TimeSpan? Interval { get; set; }

    /// <summary>A worker is stalled after max(stallFactor x its expected interval, stallFloor) without a beat.</summary>
    public int StallFactor { get; set; } = 3;

    public TimeSpan StallFloor { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>A backlog above this is a warning (0: off).</summary>
    public long BacklogWarn { get; set; } = 10_000;
}

/// <summary>monitoring.health.mailFlow: the outbound queue, delivery rates and the end-to-end probe.</summary>
public sealed class HealthMailFlowOptions
{
    public bool Enabled { get; set; } = true;

    public TimeSpan? Interval { get; set; }

    /// <summary>Queue entries above which the queue-length monitor warns / fails (0: off).</summary>
    public int QueueLengthWarn { get; set; } = 500;

    public int QueueLengthFail { get; set; } = 5000;

    /// <summary>Age of the oldest queued entry (any destination) above which queue-oldest warns / fails.</summary>
    public TimeSpan OldestAgeWarn { get; set; } = TimeSpan.FromMinutes(30);

    public TimeSpan OldestAgeFail { get; set; } = TimeSpan.FromHours(2);

    /// <summary>Share of queued entries that have been deferred at least once, between 0 and 1.</summary>
    public double DeferralRateWarn { get; set; } = 0.5;

    public double DeferralRateFail { get; set; } = 0.9;

    /// <summary>Share of bounces among deliveries and bounces since the previous run, between 0 and 1.</summary>
    public double BounceRateWarn { get; set; } = 0.2;

    public double BounceRateFail { get; set; } = 0.5;

    /// <summary>Rates are only judged over at least this many entries or deliveries (fewer: Pass, "too few").</summary>
    public int RateMinimumAttempts { get; set; } = 20;

    /// <summary>Whether the end-to-end probe (submission to the probe mailbox over IMAP) runs.</summary>
    public bool Probe { get; set; } = true;

    public TimeSpan? ProbeInterval { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long the end-to-end probe waits for its message; not arriving is a failure.</summary>
    public TimeSpan ProbeDeadline { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>End-to-end latency above which the probe warns.</summary>
    public TimeSpan ProbeLatencyWarn { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>monitoring.health.store: store integrity checks (SQLite, blobs).</summary>
public sealed class HealthStoreOptions
{
    public bool Enabled { get; set; } = true;

    public TimeSpan? Interval { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Blobs hash-checked per run (a rolling sample; the full pass is on demand).</summary>
    public int SampleSize { get; set; } = 200;

    /// <summary>A blob file nothing refers to counts as an orphan once this old (younger: a delivery in progress).</summary>
    public TimeSpan OrphanMinAge { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Run SQLite's full integrity_check each time instead of the faster quick_check.</summary>
    public bool FullIntegrityCheck { get; set; }
}

/// <summary>monitoring.health.protection: antivirus daemon, classifier, DNS resolver.</summary>
public sealed class HealthProtectionOptions
{
    public bool Enabled { get; set; } = true;

    public TimeSpan? Interval { get; set; }

    /// <summary>clamd signatures older than this warn / fail.</summary>
    public TimeSpan SignatureAgeWarn { get; set; } = TimeSpan.FromDays(3);

    public TimeSpan SignatureAgeFail { get; set; } = TimeSpan.FromDays(7);

    /// <summary>The name the resolver is asked for (any answer, NXDOMAIN included, means it answers).</summary>
    public string DnsProbeName { get; set; } = "localhost";
}

/// <summary>monitoring.health.platform: certificate, disk and memory.</summary>
public sealed class HealthPlatformOptions
{
    public bool Enabled { get; set; } = true;

    public TimeSpan? Interval { get; set; }

    /// <summary>Certificate validity left under which certificate warns / fails.</summary>
    public TimeSpan CertificateWarn { get; set; } = TimeSpan.FromDays(30);

    public TimeSpan CertificateFail { get; set; } = TimeSpan.FromDays(7);

    /// <summary>Free space of the data folder's file system under which disk warns / fails, in percent.</summary>
    public double DiskFreeWarnPercent { get; set; } = 10;

    public double DiskFreeFailPercent { get; set; } = 5;

    /// <summary>Process working set above which memory warns / fails, in MiB (0: off).</summary>
    public long MemoryWarnMb { get; set; } = 2048;

    public long MemoryFailMb { get; set; } = 4096;
}
