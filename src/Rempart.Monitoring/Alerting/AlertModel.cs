using System.Text.Json.Serialization;
using Rempart.Monitoring.Health;

namespace Rempart.Monitoring.Alerting;

/// <summary>One alert as persisted in alerts.json: a monitor that went Unhealthy, until its resolution is sent.</summary>
public sealed class AlertRecord
{
    public string Key { get; set; } = "";

    public string Server { get; set; } = "";

    public string HealthSet { get; set; } = "";

    public string Monitor { get; set; } = "";

    public HealthState State { get; set; }

    public string Detail { get; set; } = "";

    public DateTimeOffset StartsAt { get; set; }

    /// <summary>When the monitor was back to Healthy; null while firing.</summary>
    public DateTimeOffset? EndsAt { get; set; }

    public string? AckedBy { get; set; }

    public DateTimeOffset? AckedAt { get; set; }

    /// <summary>Tier index to when its channels were last sent this alert (firing); absent: never.</summary>
    public Dictionary<int, DateTimeOffset> TiersSent { get; set; } = [];

    [JsonIgnore]
    public bool Firing => EndsAt is null;

    [JsonIgnore]
    public bool Acknowledged => AckedAt is not null;
}

/// <summary>Mutes the alerts whose key matches <see cref="Matcher"/> (exact or glob with * and ?) until it expires.</summary>
public sealed record AlertSilence(string Id, string Matcher, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, string Comment, string CreatedBy)
{
    public bool Matches(string key) => Glob.IsMatch(Matcher, key);
}

/// <summary>What alerts.json holds.</summary>
internal sealed class AlertStateFile
{
    public int Version { get; set; } = 1;

    public List<AlertRecord> Alerts { get; set; } = [];

    public List<AlertSilence> Silences { get; set; } = [];
}

/// <summary>One alert inside a notification.</summary>
public sealed record NotifiedAlert(
    string Key,
    string Server,
    string HealthSet,
    string Monitor,
    HealthState State,
    string Status,
    string Detail,
    DateTimeOffset StartsAt,
    DateTimeOffset? EndsAt,
    string? AckUrl);

/// <summary>One notification to one channel: several alerts grouped together.</summary>
/// <param name="Status">"firing" when any alert in it fires, else "resolved".</param>
public sealed record AlertNotification(string Status, string Server, string GroupKey, string? ExternalUrl, IReadOnlyList<NotifiedAlert> Alerts);

/// <summary>An alert as `rempart alert list` and /api/alerts show it.</summary>
public sealed record AlertView(
    string Key,
    string Status,
    HealthState State,
    string Detail,
    DateTimeOffset StartsAt,
    DateTimeOffset? EndsAt,
    string? AckedBy,
    DateTimeOffset? AckedAt,
    bool Silenced,
    IReadOnlyList<int> TiersNotified);

/// <summary>Glob matching for silences: * any run of characters (slashes included), ? one character.</summary>
public static class Glob
{
    public static bool IsMatch(string pattern, string text)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        ArgumentNullException.ThrowIfNull(text);
        int p = 0, t = 0, star = -1, mark = 0;
        while (t < text.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || pattern[p] == text[t]))
            {
                p++;
                t++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = t;
            }
            else if (star >= 0)
            {
                p = star + 1;
                t = ++mark;
            }
            else
            {
                return false;
            }
        }

        while (p < pattern.Length && pattern[p] == '*')
        {
            p++;
        }

        return p == pattern.Length;
    }
}

/// <summary>
/// Sends alert email through the server's own delivery (local mailboxes directly, other addresses through the
/// outbound queue). The server implements it; a CLI run without a server may pass null (email channels then fail).
/// </summary>
public interface IAlertEmailSender
{
    /// <param name="from">From address, or null for the sender's default (postmaster@hostName).</param>
    Task SendAsync(string? from, IReadOnlyList<string> to, string subject, string body, CancellationToken ct);
}
