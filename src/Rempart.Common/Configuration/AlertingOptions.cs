using System.Text.Json.Serialization;

namespace Rempart.Common.Configuration;

/// <summary>
/// monitoring.alerting: who is told when a monitor goes Unhealthy, how, and when again (docs/monitoring/alerting.md).
/// </summary>
public sealed class AlertingOptions
{
    /// <summary>Channel types this version knows.</summary>
    public static readonly IReadOnlyList<string> ChannelTypes = ["webhook", "alertmanager", "sms", "email"];

    /// <summary>Whether this part runs at all (it also needs at least one channel).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>How long to collect transitions before the first notification, so a burst goes out as one.</summary>
    public TimeSpan GroupWait { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often a firing, unacknowledged alert is notified again.</summary>
    public TimeSpan RepeatInterval { get; set; } = TimeSpan.FromHours(4);

    /// <summary>Base URL of this server's HTTP listener as seen by the people alerted (for acknowledge links).</summary>
    public string? PublicUrl { get; set; }

    /// <summary>From address of alert emails; null means postmaster@hostName.</summary>
    public string? FromAddress { get; set; }

    /// <summary>Attempts per notification and channel before it is given up (logged).</summary>
    public int MaxAttempts { get; set; } = 5;

    /// <summary>Delay before the first retry of a failed notification; doubled for each further attempt.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Deadline of one HTTP request to a channel.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Where notifications go.</summary>
    public List<AlertChannelOptions> Channels { get; set; } = [];

    /// <summary>Escalation tiers; empty means every channel is tier 0 (notified at once).</summary>
    public List<AlertTierOptions> Tiers { get; set; } = [];

    /// <summary>Whether alerting has something to do: enabled with at least one channel.</summary>
    [JsonIgnore]
    public bool IsActive => Enabled && Channels.Count > 0;

    /// <summary>The tiers in effect: the configured ones, or one tier with every channel.</summary>
    public IReadOnlyList<AlertTierOptions> EffectiveTiers() =>
        Tiers.Count > 0 ? Tiers : [new AlertTierOptions { Channels = Channels.Select(c => c.Name).ToList() }];

    /// <summary>Configuration errors, each naming its key under <paramref name="prefix"/>.</summary>
    public IEnumerable<string> Validate(string prefix)
    {
        if (!Enabled)
        {
            yield break;
        }

        if (GroupWait < TimeSpan.Zero || GroupWait > TimeSpan.FromHours(1))
        {
            yield return $"'{prefix}.groupWait': must be between 00:00:00 and 01:00:00.";
        }

        if (RepeatInterval < TimeSpan.FromMinutes(1))
        {
            yield return $"'{prefix}.repeatInterval': must be at least 00:01:00.";
        }

        if (PublicUrl is not null && !IsHttpUrl(PublicUrl))
        {
            yield return $"'{prefix}.publicUrl': '{PublicUrl}' is not an http(s) URL such as https://mail.example.com.";
        }

        if (FromAddress is not null && (FromAddress.IndexOf('@', StringComparison.Ordinal) <= 0 || FromAddress.Any(char.IsWhiteSpace)))
        {
            yield return $"'{prefix}.fromAddress': '{FromAddress}' is not a mail address.";
        }

        if (MaxAttempts is < 1 or > 20)
        {
            yield return $"'{prefix}.maxAttempts': must be between 1 and 20.";
        }

        if (RetryDelay < TimeSpan.FromMilliseconds(10) || RetryDelay > TimeSpan.FromHours(1))
        {
            yield return $"'{prefix}.retryDelay': must be between 00:00:00.01 and 01:00:00.";
        }

        if (RequestTimeout < TimeSpan.FromSeconds(1) || RequestTimeout > TimeSpan.FromMinutes(5))
        {
            yield return $"'{prefix}.requestTimeout': must be between 00:00:01 and 00:05:00.";
        }

        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < Channels.Count; i++)
        {
            var c = Channels[i];
            var key = $"{prefix}.channels[{i}]";
            if (string.IsNullOrWhiteSpace(c.Name))
            {
                yield return $"'{key}.name': required (tiers and `rempart alert test` refer to channels by name).";
            }
            else if (!names.Add(c.Name))
            {
                yield return $"'{key}.name': '{c.Name}' is used by another channel.";
            }

            foreach (var e in c.Validate(key))
            {
                yield return e;
            }
        }

        for (var i = 0; i < Tiers.Count; i++)
        {
            var t = Tiers[i];
            var key = $"{prefix}.tiers[{i}]";
            if (t.Channels.Count == 0)
            {
                yield return $"'{key}.channels': a tier needs at least one channel.";
            }

            foreach (var name in t.Channels.Where(n => !names.Contains(n)))
            {
                yield return $"'{key}.channels': no channel is named '{name}'.";
            }

            if (t.After < TimeSpan.Zero)
            {
                yield return $"'{key}.after': must not be negative.";
            }

            if (i > 0 && t.After < Tiers[i - 1].After)
            {
                yield return $"'{key}.after': must be at least the previous tier's after ({Tiers[i - 1].After}).";
            }
        }
    }

    internal static bool IsHttpUrl(string value) =>
        Uri.TryCreate(value, UriKind.Absolute, out var u) && (u.Scheme == Uri.UriSchemeHttp || u.Scheme == Uri.UriSchemeHttps);
}

/// <summary>One escalation tier: its channels are notified once an alert has fired for <see cref="After"/> unacknowledged.</summary>
public sealed class AlertTierOptions
{
    /// <summary>How long after the alert started this tier is notified (tier 0: 00:00:00, at once).</summary>
    public TimeSpan After { get; set; }

    /// <summary>Names of the channels of this tier.</summary>
    public List<string> Channels { get; set; } = [];
}

/// <summary>One notification channel (monitoring.alerting.channels[]).</summary>
public sealed class AlertChannelOptions
{
    /// <summary>Name used by tiers and `rempart alert test`.</summary>
    public string Name { get; set; } = "";

    /// <summary>webhook, alertmanager, sms or email.</summary>
    public string Type { get; set; } = "";

    /// <summary>Target URL (webhook, alertmanager, sms). For the twilio preset: the API base, default https://api.twilio.com.</summary>
    public string? Url { get; set; }

    /// <summary>SMS gateway request method (default POST).</summary>
    public string Method { get; set; } = "POST";

    /// <summary>SMS gateway body content type (default application/x-www-form-urlencoded); decides how values are escaped.</summary>
    public string ContentType { get; set; } = "application/x-www-form-urlencoded";

    /// <summary>Extra request headers (webhook, alertmanager, sms).</summary>
    public Dictionary<string, string> Headers { get; set; } = [];

    /// <summary>SMS body template with {{to}}, {{message}}, {{key}}, {{status}} (default to={{to}}&amp;message={{message}}).</summary>
    public string? Body { get; set; }

    /// <summary>SMS preset: null (the template above) or "twilio".</summary>
    public string? Preset { get; set; }

    /// <summary>Twilio account SID (twilio preset).</summary>
    public string? AccountSid { get; set; }

    /// <summary>Twilio auth token (twilio preset); never logged.</summary>
    public string? AuthToken { get; set; }

    /// <summary>Basic authentication user for webhook, alertmanager and sms gateways.</summary>
    public string? Username { get; set; }

    /// <summary>Basic authentication password; never logged.</summary>
    public string? Password { get; set; }

    /// <summary>SMS sender number (twilio preset).</summary>
    public string? From { get; set; }

    /// <summary>SMS numbers or email addresses.</summary>
    public List<string> To { get; set; } = [];

    [JsonIgnore]
    public bool IsTwilio => string.Equals(Preset, "twilio", StringComparison.OrdinalIgnoreCase);

    /// <summary>Errors for this channel, keys under <paramref name="key"/>.</summary>
    public IEnumerable<string> Validate(string key)
    {
        if (!AlertingOptions.ChannelTypes.Contains(Type))
        {
            yield return $"'{key}.type': '{Type}' is not a channel type; use one of {string.Join(", ", AlertingOptions.ChannelTypes)}.";
            yield break;
        }

        var needsUrl = Type is "webhook" or "alertmanager" || (Type == "sms" && !IsTwilio);
        if (needsUrl && string.IsNullOrWhiteSpace(Url))
        {
            yield return $"'{key}.url': required for a {Type} channel.";
        }
        else if (Url is not null && !AlertingOptions.IsHttpUrl(Url.Replace("{{", "", StringComparison.Ordinal).Replace("}}", "", StringComparison.Ordinal)))
        {
            yield return $"'{key}.url': '{Url}' is not an http(s) URL.";
        }

        if (Type is "sms" or "email" && (To.Count == 0 || To.Any(string.IsNullOrWhiteSpace)))
        {
            yield return $"'{key}.to': a {Type} channel needs at least one recipient.";
        }

        if (Type == "email")
        {
            foreach (var t in To.Where(t => !string.IsNullOrWhiteSpace(t) && t.IndexOf('@', StringComparison.Ordinal) <= 0))
            {
                yield return $"'{key}.to': '{t}' is not a mail address.";
            }
        }

        if (Type == "sms")
        {
            if (Preset is not null && !IsTwilio)
            {
                yield return $"'{key}.preset': '{Preset}' is unknown; the only preset is \"twilio\" (or leave it out and set body).";
            }

            if (IsTwilio)
            {
                if (string.IsNullOrWhiteSpace(AccountSid))
                {
                    yield return $"'{key}.accountSid': required by the twilio preset.";
                }

                if (string.IsNullOrWhiteSpace(AuthToken))
                {
                    yield return $"'{key}.authToken': required by the twilio preset.";
                }

                if (string.IsNullOrWhiteSpace(From))
                {
                    yield return $"'{key}.from': required by the twilio preset (the sending number).";
                }
            }
            else
            {
                if (Method is not ("POST" or "PUT" or "GET"))
                {
                    yield return $"'{key}.method': must be POST, PUT or GET.";
                }

                if (Method != "GET" && string.IsNullOrWhiteSpace(ContentType))
                {
                    yield return $"'{key}.contentType': required for a {Method} request.";
                }
            }
        }

        if (Password is not null && Username is null)
        {
            yield return $"'{key}.username': required when password is set.";
        }

        foreach (var h in Headers.Keys.Where(h => string.IsNullOrWhiteSpace(h) || h.Any(ch => ch <= ' ' || ch == ':')))
        {
            yield return $"'{key}.headers': '{h}' is not a header name.";
        }
    }
}
