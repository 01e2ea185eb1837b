namespace Rempart.Common.Configuration;

/// <summary>
/// How long held messages and the message trace are kept (docs/protection/quarantine.md, docs/protection/trace.md).
/// Configuration section <c>protection.quarantine</c>.
/// </summary>
public sealed class QuarantineOptions
{
    /// <summary>The longest retention accepted: the sweeper computes times from it, and years of held mail is a mistake.</summary>
    public static readonly TimeSpan MaxRetention = TimeSpan.FromDays(3650);

    /// <summary>How long a quarantined message is held before it is deleted (released or not).</summary>
    public TimeSpan Retention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How long message trace events are kept.</summary>
    public TimeSpan TraceRetention { get; set; } = TimeSpan.FromDays(30);

    /// <summary>How often expired quarantine entries and old trace events are removed.</summary>
    public TimeSpan SweepInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Returns "'key': message" strings for invalid values.</summary>
    public IEnumerable<string> Validate(string prefix)
    {
        if (Retention < TimeSpan.FromHours(1) || Retention > MaxRetention)
        {
            yield return $"'{prefix}.retention': must be between 1 hour and 3650 days (for example \"30.00:00:00\" for 30 days).";
        }

        if (TraceRetention < TimeSpan.FromHours(1) || TraceRetention > MaxRetention)
        {
            yield return $"'{prefix}.traceRetention': must be between 1 hour and 3650 days (for example \"30.00:00:00\" for 30 days).";
        }

        if (SweepInterval < TimeSpan.FromMinutes(1) || SweepInterval > TimeSpan.FromDays(1))
        {
            yield return $"'{prefix}.sweepInterval': must be between 1 minute and 1 day (for example \"01:00:00\").";
        }
    }
}
