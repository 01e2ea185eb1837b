using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Rempart.Common.Configuration;
using Rempart.Monitoring.Alerting;
using Rempart.Monitoring.Health;

namespace Rempart.Monitoring.Tests.Alerting;

public sealed class AlertManagerTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rempart-alert-" + Guid.NewGuid().ToString("N"));
    private readonly AlertingReceiver _rx = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 28, 3, 0, 0, TimeSpan.Zero));

    public AlertManagerTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        _rx.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private string StateFile => Path.Combine(_dir, "monitoring", "alerts.json");

    private AlertingOptions Options(Action<AlertingOptions>? configure = null)
    {
        var o = new AlertingOptions
        {
            GroupWait = TimeSpan.FromSeconds(5),
            RepeatInterval = TimeSpan.FromHours(4),
            PublicUrl = "http://127.0.0.1:8080",
            RetryDelay = TimeSpan.FromSeconds(2),
            MaxAttempts = 4,
            Channels =
            [
                new AlertChannelOptions { Name = "hook", Type = "webhook", Url = _rx.Url + "/hook" },
                new AlertChannelOptions { Name = "sms", Type = "sms", Preset = "twilio", Url = _rx.Url, AccountSid = "AC1", AuthToken = "secret", From = "+15550001", To = ["+15550002"] },
            ],
            Tiers =
            [
                new AlertTierOptions { Channels = ["hook"] },
                new AlertTierOptions { After = TimeSpan.FromMinutes(15), Channels = ["sms"] },
            ],
        };
        configure?.Invoke(o);
        return o;
    }

    private AlertManager Manager(AlertingOptions? options = null, IAlertEmailSender? email = null) =>
        new(options ?? Options(), "mx1", email, StateFile, _time, NullLogger.Instance, http: null, runLoop: false);

    private HealthTransition T(string set, string monitor, HealthState from, HealthState to, string detail = "broken") =>
        new("mx1", set, monitor, from, to, detail, _time.GetUtcNow());

    private async Task AdvanceAndTick(AlertManager m, TimeSpan by)
    {
        _time.Advance(by);
        await m.TickAsync();
    }

    private JsonObject Hook(int index) => JsonNode.Parse(_rx.At("/hook")[index].Body)!.AsObject();

    [Fact]
    public async Task FiresOnceWhenAMonitorFlapsAndRepeatsWithinTheGroupWindow()
    {
        await using var m = Manager();
        await m.OnTransitionAsync(T("store", "blobs", HealthState.Healthy, HealthState.Degraded), default);
        await m.TickAsync();
        await m.OnTransitionAsync(T("store", "blobs", HealthState.Degraded, HealthState.Unhealthy), default);
        await m.OnTransitionAsync(T("store", "blobs", HealthState.Unhealthy, HealthState.Healthy), default);
        await m.OnTransitionAsync(T("store", "blobs", HealthState.Healthy, HealthState.Unhealthy), default);
        await m.OnTransitionAsync(T("store", "blobs", HealthState.Unhealthy, HealthState.Unhealthy, "still broken"), default);
        await AdvanceAndTick(m, TimeSpan.FromSeconds(1));
        Assert.Empty(_rx.Requests);

        await AdvanceAndTick(m, TimeSpan.FromSeconds(5));
        for (var i = 0; i < 10; i++)
        {
            await m.OnTransitionAsync(T("store", "blobs", HealthState.Degraded, HealthState.Unhealthy), default);
            await AdvanceAndTick(m, TimeSpan.FromSeconds(30));
        }

        var hooks = _rx.At("/hook");
        Assert.Single(hooks);
        var body = Hook(0);
        Assert.Equal(1, (int)body["version"]!);
        Assert.Equal("firing", (string)body["status"]!);
        Assert.Equal("mx1", (string)body["server"]!);
        var alert = Assert.Single(body["alerts"]!.AsArray())!;
        Assert.Equal("mx1/store/blobs", (string)alert["key"]!);
        Assert.Equal("store", (string)alert["healthSet"]!);
        Assert.Equal("blobs", (string)alert["monitor"]!);
        Assert.Equal("Unhealthy", (string)alert["state"]!);
        Assert.Equal("firing", (string)alert["status"]!);
        Assert.Null(alert["endsAt"]);
        Assert.StartsWith("http://127.0.0.1:8080/alerts/ack?key=mx1%2Fstore%2Fblobs&t=", (string)alert["ackUrl"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DegradedAloneFiresNothing()
    {
        await using var m = Manager();
        await m.OnTransitionAsync(T("service", "imap", HealthState.Healthy, HealthState.Degraded), default);
        await AdvanceAndTick(m, TimeSpan.FromMinutes(30));
        Assert.Empty(_rx.Requests);
        Assert.Empty(m.Alerts);
    }

    [Fact]
    public async Task FlapThatHealsWithinTheGroupWindowSendsNothing()
    {
        await using var m = Manager();
        await m.OnTransitionAsync(T("service", "imap", HealthState.Healthy, HealthState.Unhealthy), default);
        await AdvanceAndTick(m, TimeSpan.FromSeconds(2));
        await m.OnTransitionAsync(T("service", "imap", HealthState.Unhealthy, HealthState.Healthy), default);
        await AdvanceAndTick(m, TimeSpan.FromMinutes(20));
        Assert.Empty(_rx.Requests);
    }

    [Fact]
    public async Task TransitionsWithinTheGroupWaitGoOutAsOneNotification()
    {
        await using var m = Manager();
        await m.OnTransitionAsync(T("service", "imap", HealthState.Healthy, HealthState.Unhealthy), default);
        await AdvanceAndTick(m, TimeSpan.FromSeconds(3));
        await m.OnTransitionAsync(T("service", "smtp", HealthState.Healthy, HealthState.Unhealthy), default);
        await AdvanceAndTick(m, TimeSpan.FromSeconds(2));
        var body = Hook(0);
        Assert.Single(_rx.At("/hook"));
        Assert.Equal(["mx1/service/imap", "mx1/service/smtp"], body["alerts"]!.AsArray().Select(a => (string)a!["key"]!));
    }

    [Fact]
    public async Task RepeatsEveryRepeatIntervalUntilAcknowledged()
    {
        await using var m = Manager(Options(o => o.Tiers.RemoveAt(1)));
        await m.OnTransitionAsync(T("mailflow", "queue-oldest", HealthState.Healthy, HealthState.Unhealthy), default);
        await AdvanceAndTick(m, TimeSpan.FromSeconds(5));
        await AdvanceAndTick(m, TimeSpan.FromHours(3));
        Assert.Single(_rx.At("/hook"));
        await AdvanceAndTick(m, TimeSpan.FromHours(1));
        Assert.Equal(2, _rx.At("/hook").Count);

        Assert.NotNull(await m.AcknowledgeAsync("mx1/mailflow/queue-oldest", "ops", default));
        await AdvanceAndTick(m, TimeSpan.FromHours(9));
        Assert.Equal(2, _rx.At("/hook").Count);

        // Acknowledging stops repeats, not the resolution.
        await m.OnTransitionAsync(T("mailflow", "queue-oldest", HealthState.Unhealthy, HealthState.Healthy, "ok"), default);
        await AdvanceAndTick(m, TimeSpan.FromSeconds(5));
        Assert.Equal(3, _rx.At("/hook").Count);
        Assert.Equal("resolved", (string)Hook(2)["status"]!);
    }

    [Fact]
    public async Task ResolutionSendsOneResolvedNotification()
    {
        await using var m = Manager();
        await m.OnTransitionAsync(T("protection", "clamd", HealthState.Healthy, HealthState.Unhealthy), default);
        await AdvanceAndTick(m, TimeSpan.FromSeconds(5));
        await m.OnTransitionAsync(T("protection", "clamd", HealthState.Unhealthy, HealthState.Healthy, "PONG"), default);
        await AdvanceAndTick(m, TimeSpan.FromSeconds(5));
        await AdvanceAndTick(m, TimeSpan.FromHours(10));
        var hooks = _rx.At("/hook");
        Assert.Equal(2, hooks.Count);
        var resolved = Hook(1);
        Assert.Equal("resolved", (string)resolved["status"]!);
        var a = Assert.Single(resolved["alerts"]!.AsArray())!;
        Assert.Equal("resolved", (string)a["status"]!);
        Assert.NotNull(a["endsAt"]);
        Assert.Empty(m.Alerts);

        // The SMS tier was never reached, so it gets no resolution either.
        Assert.DoesNotContain(_rx.Requests, r => r.Path.Contains("Messages", StringComparison.Ordinal));
    }

    [Fact]
    public async Task SilenceMutesFiringAndResolutionAndExpires()
    {
        await using var m = Manager();
        var s = await m.AddSilenceAsync("mx1/store/*", TimeSpan.FromMinutes(10), "disk swap", "ops", default);
        await m.OnTransitionAsync(T("store", "blobs", HealthState.Healthy, HealthState.Unhealthy), default);
        await m.OnTransitionAsync(T("store", "sqlite", HealthState.Healthy, HealthState.Unhealthy), default);
        await AdvanceAndTick(m, TimeSpan.FromMinutes(5));
        Assert.Empty(_rx.Requests);
        Assert.All(m.Alerts, a => Assert.True(a.Silenced));

        await m.OnTransitionAsync(T("store", "sqlite", HealthState.Unhealthy, HealthState.Healthy), default);
        await AdvanceAndTick(m, TimeSpan.FromMinutes(1));
        Assert.Empty(_rx.Requests);
        Assert.Single(m.Silences);
        Assert.Equal(s.Id, m.Silences[0].Id);

        // Expired: the still-firing alert is now notified.
        await AdvanceAndTick(m, TimeSpan.FromMinutes(5));
        await AdvanceAndTick(m, TimeSpan.FromSeconds(5));
        Assert.Empty(m.Silences);
        var body = Hook(0);
        Assert.Equal("mx1/store/blobs", (string)Assert.Single(body["alerts"]!.AsArray())!["key"]!);
    }

    [Fact]
    public async Task RemovedSilenceLetsTheAlertThrough()
    {
        await using var m = Manager();
        var s = await m.AddSilenceAsync("mx1/service/imap", TimeSpan.FromHours(1), "", "ops", default);
        await m.OnTransitionAsync(T("service", "imap", HealthState.Healthy, HealthState.Unhealthy), default);
        await AdvanceAndTick(m, TimeSpan.FromMinutes(1));
        Assert.Empty(_rx.Requests);
        Assert.False(await m.RemoveSilenceAsync("nope", default));
        Assert.True(await m.RemoveSilenceAsync(s.Id, default));
        await AdvanceAndTick(m, TimeSpan.FromSeconds(1));
        Assert.Single(_rx.At("/hook"));
    }

    [Fact]
    public async Task EscalatesToTierOneOnlyWhenNotAcknowledged()
    {
        await using var m = Manager();
        await m.OnTransitionAsync(T("service", "imap", HealthState.Healthy, HealthState.Unhealthy, "no greeting"), default);
        await m.OnTransitionAsync(T("service", "smtp", HealthState.Healthy, HealthState.Unhealthy, "refused"), default);
        await AdvanceAndTick(m, TimeSpan.FromSeconds(5));
        Assert.NotNull(await m.AcknowledgeAsync("mx1/service/smtp", "ops", default));
        await AdvanceAndTick(m, TimeSpan.FromMinutes(14));
        Assert.DoesNotContain(_rx.Requests, r => r.Path.EndsWith("Messages.json", StringComparison.Ordinal));

        await AdvanceAndTick(m, TimeSpan.FromMinutes(1));
        var sms = Assert.Single(_rx.Requests, r => r.Path.EndsWith("Messages.json", StringComparison.Ordinal));
        Assert.Equal("/2010-04-01/Accounts/AC1/Messages.json", sms.Path);
        Assert.Equal("POST", sms.Method);
        Assert.StartsWith("application/x-www-form-urlencoded", sms.ContentType, StringComparison.Ordinal);
        Assert.Equal("Basic " + Convert.ToBase64String("AC1:secret"u8.ToArray()), sms.Authorization);
        var form = System.Web.HttpUtility.ParseQueryString(sms.Body);
        Assert.Equal("+15550002", form["To"]);
        Assert.Equal("+15550001", form["From"]);
        Assert.StartsWith("[FIRING] mx1/service/imap: no greeting ack: http://127.0.0.1:8080/alerts/ack?key=", form["Body"], StringComparison.Ordinal);

        // Resolution goes to every tier that was told.
        await m.OnTransitionAsync(T("service", "imap", HealthState.Unhealthy, HealthState.Healthy), default);
        await AdvanceAndTick(m, TimeSpan.FromSeconds(5));
        Assert.Equal(2, _rx.Requests.Count(r => r.Path.EndsWith("Messages.json", StringComparison.Ordinal)));
        Assert.Equal("resolved", (string)Hook(1)["status"]!);
    }

    [Fact]
    public async Task StateSurvivesARestartWithoutNotifyingAgain()
    {
        var m = Manager();
        await m.OnTransitionAsync(T("store", "blobs", HealthState.Healthy, HealthState.Unhealthy), default);
        await AdvanceAndTick(m, TimeSpan.FromSeconds(5));
        await m.AcknowledgeAsync("mx1/store/blobs", "ops", default);
        var silence = await m.AddSilenceAsync("mx1/platform/*", TimeSpan.FromHours(2), "cert swap", "ops", default);
        await m.DisposeAsync();
        Assert.Single(_rx.At("/hook"));
        Assert.False(File.Exists(StateFile + ".tmp"));

        await using var again = Manager();
        await AdvanceAndTick(again, TimeSpan.FromMinutes(30));
        Assert.Single(_rx.At("/hook"));
        var view = Assert.Single(again.Alerts);
        Assert.Equal("ops", view.AckedBy);
        Assert.Equal(silence.Id, Assert.Single(again.Silences).Id);
        Assert.DoesNotContain(_rx.Requests, r => r.Path.EndsWith("Messages.json", StringComparison.Ordinal));

        await again.OnTransitionAsync(T("store", "blobs", HealthState.Unhealthy, HealthState.Healthy), default);
        await AdvanceAndTick(again, TimeSpan.FromSeconds(5));
        Assert.Equal(2, _rx.At("/hook").Count);
        Assert.Equal("resolved", (string)Hook(1)["status"]!);
    }

    [Fact]
    public async Task PendingFirstNotificationIsSentAfterARestart()
    {
        var m = Manager();
        await m.OnTransitionAsync(T("store", "blobs", HealthState.Healthy, HealthState.Unhealthy), default);
        await m.DisposeAsync();
        await using var again = Manager();
        await AdvanceAndTick(again, TimeSpan.FromSeconds(5));
        Assert.Single(_rx.At("/hook"));
    }

    [Fact]
    public async Task ChannelDownThenUpIsRetriedWithBackoff()
    {
        _rx.FailNext(2);
        await using var m = Manager();
        await m.OnTransitionAsync(T("store", "blobs", HealthState.Healthy, HealthState.Unhealthy), default);
        await AdvanceAndTick(m, TimeSpan.FromSeconds(5));
        Assert.Equal(1, m.PendingDeliveries);
        await AdvanceAndTick(m, TimeSpan.FromSeconds(1));
        Assert.Single(_rx.At("/hook"));
        await AdvanceAndTick(m, TimeSpan.FromSeconds(1));
        await AdvanceAndTick(m, TimeSpan.FromSeconds(4));
        var hooks = _rx.At("/hook");
        Assert.Equal([true, true, false], hooks.Select(h => h.Failed));
        Assert.Equal(hooks[0].Body, hooks[2].Body);
        Assert.Equal(0, m.PendingDeliveries);
    }

    [Fact]
    public async Task ChannelThatStaysDownIsGivenUpAfterMaxAttempts()
    {
        _rx.FailNext(100);
        await using var m = Manager();
        await m.OnTransitionAsync(T("store", "blobs", HealthState.Healthy, HealthState.Unhealthy), default);
        for (var i = 0; i < 10; i++)
        {
            await AdvanceAndTick(m, TimeSpan.FromSeconds(30));
        }

        Assert.Equal(4, _rx.At("/hook").Count);
        Assert.Equal(0, m.PendingDeliveries);
    }

    [Fact]
    public async Task AlertmanagerBodyFollowsTheReceiverFormat()
    {
        await using var m = Manager(Options(o =>
        {
            o.Channels = [new AlertChannelOptions { Name = "am", Type = "alertmanager", Url = _rx.Url + "/am" }];
            o.Tiers = [];
        }));
        await m.OnTransitionAsync(T("store", "blobs", HealthState.Healthy, HealthState.Unhealthy, "3 blobs fail their hash"), default);
        await m.OnTransitionAsync(T("store", "sqlite", HealthState.Healthy, HealthState.Unhealthy, "integrity_check"), default);
        await AdvanceAndTick(m, TimeSpan.FromSeconds(5));
        var body = JsonNode.Parse(Assert.Single(_rx.At("/am")).Body)!;
        Assert.Equal("4", (string)body["version"]!);
        Assert.Equal("firing", (string)body["status"]!);
        Assert.Equal("am", (string)body["receiver"]!);
        Assert.Equal("{}:{server=\"mx1\"}", (string)body["groupKey"]!);
        Assert.Equal("mx1", (string)body["groupLabels"]!["server"]!);
        Assert.Equal("store", (string)body["commonLabels"]!["healthset"]!);
        Assert.Null(body["commonLabels"]!["monitor"]);
        Assert.Equal("http://127.0.0.1:8080", (string)body["externalURL"]!);
        var alerts = body["alerts"]!.AsArray();
        Assert.Equal(2, alerts.Count);
        var a = alerts[0]!;
        Assert.Equal("firing", (string)a["status"]!);
        Assert.Equal("RempartMonitorUnhealthy", (string)a["labels"]!["alertname"]!);
        Assert.Equal("blobs", (string)a["labels"]!["monitor"]!);
        Assert.Equal("critical", (string)a["labels"]!["severity"]!);
        Assert.Equal("3 blobs fail their hash", (string)a["annotations"]!["description"]!);
        Assert.Equal("mx1/store/blobs is Unhealthy", (string)a["annotations"]!["summary"]!);
        Assert.Equal("0001-01-01T00:00:00Z", (string)a["endsAt"]!);
        Assert.Equal("2026-11-28T03:00:00.000Z", (string)a["startsAt"]!);
        Assert.Equal(16, ((string)a["fingerprint"]!).Length);
        Assert.Equal("http://127.0.0.1:8080/report", (string)a["generatorURL"]!);
    }

    [Fact]
    public async Task SmsGatewayTemplateEscapesValuesForJson()
    {
        await using var m = Manager(Options(o =>
        {
            o.Channels =
            [
                new AlertChannelOptions
                {
                    Name = "sms2", Type = "sms", Url = _rx.Url + "/send", ContentType = "application/json",
                    Body = "{\"to\":\"{{to}}\",\"text\":\"{{message}}\",\"k\":\"{{key}}\",\"s\":\"{{status}}\"}",
                    To = ["+1555", "+1666"], Headers = new() { ["X-Api-Key"] = "k1" },
                },
            ];
            o.Tiers = [];
        }));
        await m.OnTransitionAsync(T("mailflow", "e2e", HealthState.Healthy, HealthState.Unhealthy, "probe \"lost\" after 60 s"), default);
        await AdvanceAndTick(m, TimeSpan.FromSeconds(5));
        var sent = _rx.At("/send");
        Assert.Equal(2, sent.Count);
        var body = JsonNode.Parse(sent[0].Body)!;
        Assert.Equal("+1555", (string)body["to"]!);
        Assert.Equal("mx1/mailflow/e2e", (string)body["k"]!);
        Assert.Equal("firing", (string)body["s"]!);
        Assert.StartsWith("[FIRING] mx1/mailflow/e2e: probe \"lost\" after 60 s ack: http://127.0.0.1:8080/alerts/ack?", (string)body["text"]!, StringComparison.Ordinal);
        Assert.Equal("+1666", (string)JsonNode.Parse(sent[1].Body)!["to"]!);
    }

    [Fact]
    public async Task EmailChannelGetsSubjectAndBody()
    {
        var email = new RecordingEmail();
        await using var m = Manager(Options(o =>
        {
            o.Channels = [new AlertChannelOptions { Name = "mail", Type = "email", To = ["ops@example.test"] }];
            o.Tiers = [];
            o.FromAddress = "alerts@example.test";
        }), email);
        await m.OnTransitionAsync(T("platform", "certificate", HealthState.Healthy, HealthState.Unhealthy, "expires in 3 days"), default);
        await AdvanceAndTick(m, TimeSpan.FromSeconds(5));
        var (from, to, subject, body) = Assert.Single(email.Sent);
        Assert.Equal("alerts@example.test", from);
        Assert.Equal(["ops@example.test"], to);
        Assert.Equal("[FIRING:1] mx1/platform/certificate", subject);
        Assert.Contains("expires in 3 days", body, StringComparison.Ordinal);
        Assert.Contains("acknowledge: http://127.0.0.1:8080/alerts/ack?key=", body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AckLinkTokenIsCheckedAndBoundToTheAlert()
    {
        await using var m = Manager();
        await m.OnTransitionAsync(T("store", "blobs", HealthState.Healthy, HealthState.Unhealthy), default);
        await AdvanceAndTick(m, TimeSpan.FromSeconds(5));
        var url = new Uri((string)Hook(0)["alerts"]![0]!["ackUrl"]!);
        var q = System.Web.HttpUtility.ParseQueryString(url.Query);
        Assert.True(m.CheckAckToken(q["key"], q["t"]));
        Assert.False(m.CheckAckToken(q["key"], q["t"] + "x"));
        Assert.False(m.CheckAckToken("mx1/store/sqlite", q["t"]));
        Assert.False(m.CheckAckToken(q["key"], null));
        Assert.True(File.Exists(Path.Combine(_dir, "monitoring", "alert.key")));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, "monitoring", "alert.key")));
        }

        // A new instance of the same key (after resolution) gets a new token: old links stop working.
        await m.OnTransitionAsync(T("store", "blobs", HealthState.Unhealthy, HealthState.Healthy), default);
        await AdvanceAndTick(m, TimeSpan.FromSeconds(5));
        await m.OnTransitionAsync(T("store", "blobs", HealthState.Healthy, HealthState.Unhealthy), default);
        Assert.False(m.CheckAckToken(q["key"], q["t"]));
    }

    [Fact]
    public async Task TestNotificationGoesToTheNamedChannel()
    {
        await using var m = Manager();
        await m.SendTestAsync("hook", default);
        Assert.Equal("mx1/test/notification", (string)Hook(0)["alerts"]![0]!["key"]!);
        await Assert.ThrowsAsync<KeyNotFoundException>(() => m.SendTestAsync("nope", default));
        _rx.FailNext(1);
        var ex = await Assert.ThrowsAsync<AlertChannelException>(() => m.SendTestAsync("hook", default));
        Assert.Contains("503", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DamagedStateFileIsSetAsideNotFatal()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(StateFile)!);
        await File.WriteAllTextAsync(StateFile, "{ not json");
        await using var m = Manager();
        Assert.Empty(m.Alerts);
        Assert.True(File.Exists(StateFile + ".bad"));
    }

    private sealed class RecordingEmail : IAlertEmailSender
    {
        public List<(string? From, IReadOnlyList<string> To, string Subject, string Body)> Sent { get; } = [];

        public Task SendAsync(string? from, IReadOnlyList<string> to, string subject, string body, CancellationToken ct)
        {
            Sent.Add((from, to, subject, body));
            return Task.CompletedTask;
        }
    }
}
