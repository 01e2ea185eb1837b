using System.Globalization;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using Rempart.Common.Configuration;

namespace Rempart.Monitoring.Alerting;

/// <summary>A channel refused or could not take a notification; the message never holds a secret.</summary>
public sealed class AlertChannelException : Exception
{
    public AlertChannelException()
    {
    }

    public AlertChannelException(string message)
        : base(message)
    {
    }

    public AlertChannelException(string message, Exception inner)
        : base(message, inner)
    {
    }
}

/// <summary>Where a notification goes.</summary>
public interface IAlertChannel
{
    string Name { get; }

    Task SendAsync(AlertNotification notification, CancellationToken ct);
}

/// <summary>Builds the channels of <see cref="AlertingOptions.Channels"/>.</summary>
internal static class AlertChannelFactory
{
    public static IAlertChannel Create(AlertChannelOptions o, HttpClient http, IAlertEmailSender? email, string? fromAddress) => o.Type switch
    {
        "webhook" => new WebhookChannel(o, http),
        "alertmanager" => new AlertmanagerChannel(o, http),
        "sms" => new SmsChannel(o, http),
        "email" => new EmailChannel(o, email, fromAddress),
        _ => throw new ArgumentException($"unknown channel type '{o.Type}'", nameof(o)),
    };
}

/// <summary>Texts and formats shared by the channels.</summary>
public static class AlertFormat
{
    /// <summary>Longest SMS text we aim for: one GSM segment.</summary>
    public const int SmsLength = 160;

    public static string Iso(DateTimeOffset d) =>
        d.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", CultureInfo.InvariantCulture);

    /// <summary>"[FIRING] mx1/store/blobs: detail … ack: URL", cut to fit one SMS where the link allows.</summary>
    public static string ShortText(AlertNotification n)
    {
        ArgumentNullException.ThrowIfNull(n);
        var first = n.Alerts[0];
        var status = n.Status.ToUpperInvariant();
        var head = n.Alerts.Count == 1 ? $"[{status}] {first.Key}" : $"[{status}:{n.Alerts.Count}] {first.Key} +{n.Alerts.Count - 1}";
        var detail = first.Status == "resolved" ? "back to Healthy" : first.Detail;
        var tail = first.Status == "firing" && first.AckUrl is not null ? " ack: " + first.AckUrl : "";
        var budget = Math.Max(20, SmsLength - head.Length - 2 - tail.Length);
        if (detail.Length > budget)
        {
            detail = detail[..(budget - 1)].TrimEnd() + "…";
        }

        return $"{head}: {detail}{tail}";
    }

    /// <summary>Subject of an alert email.</summary>
    public static string Subject(AlertNotification n)
    {
        ArgumentNullException.ThrowIfNull(n);
        var keys = string.Join(", ", n.Alerts.Take(3).Select(a => a.Key)) + (n.Alerts.Count > 3 ? ", …" : "");
        return $"[{n.Status.ToUpperInvariant()}:{n.Alerts.Count}] {keys}";
    }

    /// <summary>Plain-text body of an alert email: one paragraph per alert.</summary>
    public static string EmailBody(AlertNotification n)
    {
        ArgumentNullException.ThrowIfNull(n);
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"Rempart alerting on {n.Server}: {n.Alerts.Count} alert(s), {n.Status}.\n\n");
        foreach (var a in n.Alerts)
        {
            sb.Append(CultureInfo.InvariantCulture, $"{a.Status.ToUpperInvariant()}  {a.Key}\n");
            sb.Append(CultureInfo.InvariantCulture, $"  state:   {a.State}\n");
            sb.Append(CultureInfo.InvariantCulture, $"  detail:  {a.Detail}\n");
            sb.Append(CultureInfo.InvariantCulture, $"  since:   {Iso(a.StartsAt)}\n");
            if (a.EndsAt is { } end)
            {
                sb.Append(CultureInfo.InvariantCulture, $"  ended:   {Iso(end)}\n");
            }

            if (a.Status == "firing" && a.AckUrl is not null)
            {
                sb.Append(CultureInfo.InvariantCulture, $"  acknowledge: {a.AckUrl}\n");
            }

            sb.Append('\n');
        }

        sb.Append("Acknowledge from the server with: rempart alert ack KEY\n");
        return sb.ToString();
    }

    /// <summary>The generic webhook body (docs/monitoring/alerting.md).</summary>
    public static JsonObject Webhook(AlertNotification n)
    {
        ArgumentNullException.ThrowIfNull(n);
        var alerts = new JsonArray();
        foreach (var a in n.Alerts)
        {
            alerts.Add(new JsonObject
            {
                ["key"] = a.Key,
                ["healthSet"] = a.HealthSet,
                ["monitor"] = a.Monitor,
                ["state"] = a.State.ToString(),
                ["status"] = a.Status,
                ["detail"] = a.Detail,
                ["startsAt"] = Iso(a.StartsAt),
                ["endsAt"] = a.EndsAt is { } e ? Iso(e) : null,
                ["ackUrl"] = a.AckUrl,
            });
        }

        return new JsonObject
        {
            ["version"] = 1,
            ["status"] = n.Status,
            ["server"] = n.Server,
            ["groupKey"] = n.GroupKey,
            ["alerts"] = alerts,
        };
    }

    /// <summary>The Prometheus Alertmanager webhook receiver body (version 4).</summary>
    public static JsonObject Alertmanager(AlertNotification n, string receiver)
    {
        ArgumentNullException.ThrowIfNull(n);
        var alerts = new JsonArray();
        var labelSets = new List<Dictionary<string, string>>();
        var annotationSets = new List<Dictionary<string, string>>();
        foreach (var a in n.Alerts)
        {
            var labels = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["alertname"] = "RempartMonitorUnhealthy",
                ["server"] = a.Server,
                ["healthset"] = a.HealthSet,
                ["monitor"] = a.Monitor,
                ["severity"] = "critical",
            };
            var annotations = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["summary"] = $"{a.Key} is {a.State}",
                ["description"] = a.Detail,
            };
            if (a.AckUrl is not null)
            {
                annotations["ackUrl"] = a.AckUrl;
            }

            labelSets.Add(labels);
            annotationSets.Add(annotations);
            alerts.Add(new JsonObject
            {
                ["status"] = a.Status,
                ["labels"] = ToJson(labels),
                ["annotations"] = ToJson(annotations),
                ["startsAt"] = Iso(a.StartsAt),

                // Alertmanager's own receivers send the zero time while an alert fires.
                ["endsAt"] = a.EndsAt is { } e ? Iso(e) : "0001-01-01T00:00:00Z",
                ["generatorURL"] = n.ExternalUrl is null ? "" : n.ExternalUrl.TrimEnd('/') + "/report",
                ["fingerprint"] = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(a.Key)))[..16],
            });
        }

        return new JsonObject
        {
            ["version"] = "4",
            ["groupKey"] = n.GroupKey,
            ["truncatedAlerts"] = 0,
            ["status"] = n.Status,
            ["receiver"] = receiver,
            ["groupLabels"] = new JsonObject { ["server"] = n.Server },
            ["commonLabels"] = ToJson(Common(labelSets)),
            ["commonAnnotations"] = ToJson(Common(annotationSets)),
            ["externalURL"] = n.ExternalUrl ?? "",
            ["alerts"] = alerts,
        };
    }

    /// <summary>Fills {{to}}, {{message}}, {{key}}, {{status}}, each value escaped with <paramref name="escape"/>.</summary>
    public static string Render(string template, IReadOnlyDictionary<string, string> values, Func<string, string> escape)
    {
        ArgumentNullException.ThrowIfNull(template);
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(escape);
        var sb = new StringBuilder(template.Length + 64);
        var i = 0;
        while (i < template.Length)
        {
            var open = template.IndexOf("{{", i, StringComparison.Ordinal);
            var close = open < 0 ? -1 : template.IndexOf("}}", open + 2, StringComparison.Ordinal);
            if (close < 0)
            {
                sb.Append(template, i, template.Length - i);
                break;
            }

            sb.Append(template, i, open - i);
            var name = template[(open + 2)..close].Trim();
            if (values.TryGetValue(name, out var v))
            {
                sb.Append(escape(v));
            }
            else
            {
                sb.Append(template, open, close + 2 - open);
            }

            i = close + 2;
        }

        return sb.ToString();
    }

    /// <summary>How template values are escaped for a body of <paramref name="contentType"/>.</summary>
    public static Func<string, string> EscaperFor(string? contentType)
    {
        var ct = contentType ?? "";
        if (ct.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return v => JsonEncodedText.Encode(v, JavaScriptEncoder.UnsafeRelaxedJsonEscaping).ToString();
        }

        if (ct.Contains("x-www-form-urlencoded", StringComparison.OrdinalIgnoreCase))
        {
            return Uri.EscapeDataString;
        }

        return v => v;
    }

    private static Dictionary<string, string> Common(List<Dictionary<string, string>> sets)
    {
        var common = new Dictionary<string, string>(sets[0], StringComparer.Ordinal);
        foreach (var s in sets.Skip(1))
        {
            foreach (var k in common.Keys.ToList())
            {
                if (!s.TryGetValue(k, out var v) || v != common[k])
                {
                    common.Remove(k);
                }
            }
        }

        return common;
    }

    private static JsonObject ToJson(Dictionary<string, string> d)
    {
        var o = new JsonObject();
        foreach (var (k, v) in d.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            o[k] = v;
        }

        return o;
    }
}

/// <summary>Shared HTTP sending: headers, basic auth, status check; errors name the channel and status only.</summary>
internal abstract class HttpAlertChannel(AlertChannelOptions options, HttpClient http) : IAlertChannel
{
    public string Name => options.Name;

    protected AlertChannelOptions Options => options;

    public abstract Task SendAsync(AlertNotification notification, CancellationToken ct);

    protected async Task PostAsync(HttpMethod method, string url, HttpContent? content, CancellationToken ct, (string User, string Password)? basic = null)
    {
        using var request = new HttpRequestMessage(method, url) { Content = content };
        foreach (var (k, v) in options.Headers)
        {
            if (!request.Headers.TryAddWithoutValidation(k, v))
            {
                content?.Headers.TryAddWithoutValidation(k, v);
            }
        }

        var auth = basic ?? (options.Username is null ? null : (options.Username, options.Password ?? ""));
        if (auth is { } a)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(a.User + ":" + a.Password)));
        }

        HttpResponseMessage response;
        try
        {
            response = await http.SendAsync(request, ct);
        }
        catch (HttpRequestException ex)
        {
            throw new AlertChannelException($"{Redact(url)}: {ex.Message}", ex);
        }
        catch (TaskCanceledException ex) when (!ct.IsCancellationRequested)
        {
            throw new AlertChannelException($"{Redact(url)}: no answer within {http.Timeout.TotalSeconds} s", ex);
        }

        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                var text = await response.Content.ReadAsStringAsync(ct);
                text = text.Length > 200 ? text[..200] : text;
                throw new AlertChannelException($"{Redact(url)} answered {(int)response.StatusCode} {response.ReasonPhrase}: {text.Trim()}");
            }
        }
    }

    /// <summary>URLs may carry tokens in their query; errors show scheme, host and path only.</summary>
    protected static string Redact(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var u) ? u.GetLeftPart(UriPartial.Path) : "(invalid url)";
}

/// <summary>Generic JSON webhook: one POST per notification.</summary>
internal sealed class WebhookChannel(AlertChannelOptions options, HttpClient http) : HttpAlertChannel(options, http)
{
    public override Task SendAsync(AlertNotification notification, CancellationToken ct) =>
        PostAsync(HttpMethod.Post, Options.Url!, Json(AlertFormat.Webhook(notification)), ct);

    internal static StringContent Json(JsonNode node) => new(node.ToJsonString(), Encoding.UTF8, "application/json");
}

/// <summary>Prometheus Alertmanager webhook receiver format, so existing receivers (and Alertmanager tooling) work.</summary>
internal sealed class AlertmanagerChannel(AlertChannelOptions options, HttpClient http) : HttpAlertChannel(options, http)
{
    public override Task SendAsync(AlertNotification notification, CancellationToken ct) =>
        PostAsync(HttpMethod.Post, Options.Url!, WebhookChannel.Json(AlertFormat.Alertmanager(notification, Options.Name)), ct);
}

/// <summary>SMS through an HTTP gateway: a request template, or the Twilio Messages API preset. One request per number.</summary>
internal sealed class SmsChannel(AlertChannelOptions options, HttpClient http) : HttpAlertChannel(options, http)
{
    public const string DefaultBody = "to={{to}}&message={{message}}";
    public const string TwilioBase = "https://api.twilio.com";

    public override async Task SendAsync(AlertNotification notification, CancellationToken ct)
    {
        var message = AlertFormat.ShortText(notification);
        foreach (var to in Options.To)
        {
            if (Options.IsTwilio)
            {
                var baseUrl = (Options.Url ?? TwilioBase).TrimEnd('/');
                var url = $"{baseUrl}/2010-04-01/Accounts/{Uri.EscapeDataString(Options.AccountSid!)}/Messages.json";
                using var form = new FormUrlEncodedContent([new("To", to), new("From", Options.From!), new("Body", message)]);
                await PostAsync(HttpMethod.Post, url, form, ct, (Options.AccountSid!, Options.AuthToken!));
                continue;
            }

            var values = new Dictionary<string, string>(StringComparer.Ordinal)
            {
                ["to"] = to,
                ["message"] = message,
                ["key"] = string.Join(",", notification.Alerts.Select(a => a.Key)),
                ["status"] = notification.Status,
            };
            var target = AlertFormat.Render(Options.Url!, values, Uri.EscapeDataString);
            var method = new HttpMethod(Options.Method);
            StringContent? content = null;
            if (method != HttpMethod.Get)
            {
                var body = AlertFormat.Render(Options.Body ?? DefaultBody, values, AlertFormat.EscaperFor(Options.ContentType));
                content = new StringContent(body, Encoding.UTF8);
                content.Headers.ContentType = MediaTypeHeaderValue.Parse(Options.ContentType);
            }

            using (content)
            {
                await PostAsync(method, target, content, ct);
            }
        }
    }
}

/// <summary>Email through the server's own delivery.</summary>
internal sealed class EmailChannel(AlertChannelOptions options, IAlertEmailSender? sender, string? from) : IAlertChannel
{
    public string Name => options.Name;

    public Task SendAsync(AlertNotification notification, CancellationToken ct) =>
        sender is null
            ? throw new AlertChannelException("email channels need the server's delivery; none is available here")
            : sender.SendAsync(from, options.To, AlertFormat.Subject(notification), AlertFormat.EmailBody(notification), ct);
}
