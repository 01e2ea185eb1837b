using System.Net;
using System.Text.Json.Nodes;
using Rempart.SenderAuth.Tests;
using Rempart.Monitoring.Tests.Alerting;

namespace Rempart.Integration.Tests.Monitoring;

/// <summary>
/// Alerting end to end: a real server whose health model watches a real clamd; killing clamd must send exactly one
/// firing notification to each channel (webhook and SMS gateway on a real HTTP receiver, email into a real local
/// mailbox read over IMAP), starting it again exactly one resolution; acknowledging works from the CLI and by the
/// link (GET shows a confirmation page, POST acknowledges, a bad token gets 403).
/// </summary>
[Collection("interop")]
public sealed class AlertingEndToEndTests
{
    private const string Key = "mx1/protection/antivirus";

    [Fact]
    public async Task Killing_clamd_sends_one_alert_per_channel_and_restarting_it_one_resolution()
    {
        ExternalTool.Require("dnsmasq", "dnsmasq-base");
        using var clamd = new AlertingClamd();
        await clamd.StartAsync();
        using var rx = new AlertingReceiver();
        using var dns = await Dnsmasq.StartAsync([]);
        const string ops = "ops@example.test";
        const string opsPassword = "Ops-password-1234";

        await using var server = ServerProcess.Create(c =>
        {
            c["dns"] = new JsonObject { ["servers"] = new JsonArray(dns.Endpoint), ["timeout"] = "00:00:03" };
            c["protection"] = new JsonObject { ["antivirus"] = new JsonObject { ["clamd"] = "unix:" + clamd.SocketPath, ["timeout"] = "00:00:03" } };
            var http = (int)c["listeners"]!["http"]!["port"]!;
            c["monitoring"] = new JsonObject
            {
                ["serverName"] = "mx1",
                ["health"] = new JsonObject
                {
                    ["interval"] = "00:00:01",
                    ["grace"] = "00:00:02",
                    ["failuresBeforeUnhealthy"] = 2,
                    ["probeDeadline"] = "00:00:03",
                    ["service"] = new JsonObject { ["enabled"] = false },
                    ["workers"] = new JsonObject { ["enabled"] = false },
                    ["mailFlow"] = new JsonObject { ["enabled"] = false },
                    ["store"] = new JsonObject { ["enabled"] = false },
                    ["platform"] = new JsonObject { ["enabled"] = false },
                },
                ["alerting"] = new JsonObject
                {
                    ["groupWait"] = "00:00:01",
                    ["repeatInterval"] = "04:00:00",
                    ["publicUrl"] = $"http://127.0.0.1:{http}",
                    ["channels"] = new JsonArray(
                        new JsonObject { ["name"] = "hook", ["type"] = "webhook", ["url"] = rx.Url + "/hook" },
                        new JsonObject
                        {
                            ["name"] = "sms", ["type"] = "sms", ["preset"] = "twilio", ["url"] = rx.Url, ["accountSid"] = "AC1",
                            ["authToken"] = "secret-token", ["from"] = "+15550001", ["to"] = new JsonArray("+15550002"),
                        },
                        new JsonObject { ["name"] = "mail", ["type"] = "email", ["to"] = new JsonArray(ops) }),
                },
            };
        });
        await server.StartAsync();
        await server.AddUserAsync(ops, opsPassword);

        // Healthy first: the antivirus monitor must have been evaluated before we break it.
        await WaitAsync(async () => (await server.CliAsync(null, "alert", "list")).ExitCode == 0, "alert list answering", 30);
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Empty(Notifications(rx, "/hook", "firing"));

        clamd.Kill();
        await WaitAsync(() => Task.FromResult(Notifications(rx, "/hook", "firing").Count > 0), "firing webhook", 60);
        await WaitAsync(() => Task.FromResult(Sms(rx, "[FIRING").Count > 0), "firing SMS", 30);
        var firingMail = await MailProbe.WaitForSubjectAsync(server, ops, opsPassword, "[FIRING:1] " + Key, TimeSpan.FromSeconds(30));
        Assert.Contains("clamd", firingMail.TextBody, StringComparison.Ordinal);
        Assert.Equal("auto-generated", firingMail.Headers["Auto-Submitted"]);

        var firing = Assert.Single(Notifications(rx, "/hook", "firing"));
        var alert = firing["alerts"]!.AsArray().Single(a => (string)a!["key"]! == Key)!;
        Assert.Equal("Unhealthy", (string)alert["state"]!);
        var ackUrl = (string)alert["ackUrl"]!;

        // The CLI sees it; a wrong key is a clear error.
        var list = (await server.CliAsync(null, "alert", "list")).EnsureSuccess();
        Assert.Contains(Key, list.Stdout, StringComparison.Ordinal);
        var wrong = await server.CliAsync(null, "alert", "ack", "mx1/nope/nope");
        Assert.NotEqual(0, wrong.ExitCode);
        Assert.Contains("no alert", wrong.Stderr, StringComparison.Ordinal);

        // The link: GET only shows a page; a bad token gets 403; POST acknowledges.
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(15) })
        {
            var page = await http.GetAsync(new Uri(ackUrl));
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Contains("<form method=\"post\"", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);

            // A link previewer's GET must not have acknowledged anything.
            using var api = new HttpRequestMessage(HttpMethod.Get, new Uri(new Uri(ackUrl), "/api/alerts"));
            api.Headers.Authorization = new("Bearer", (await File.ReadAllTextAsync(Path.Combine(server.DataDir, "admin-api.token"))).Trim());
            var state = JsonNode.Parse(await (await http.SendAsync(api)).Content.ReadAsStringAsync())!;
            Assert.Null(state["alerts"]!.AsArray().Single(a => (string)a!["key"]! == Key)!["ackedBy"]);

            var bad = await http.GetAsync(new Uri(ackUrl + "x"));
            Assert.Equal(HttpStatusCode.Forbidden, bad.StatusCode);
            var query = System.Web.HttpUtility.ParseQueryString(new Uri(ackUrl).Query);
            var badPost = await http.PostAsync(new Uri(new Uri(ackUrl), "/alerts/ack"),
                new FormUrlEncodedContent([new("key", query["key"]!), new("t", "forged")]));
            Assert.Equal(HttpStatusCode.Forbidden, badPost.StatusCode);

            var post = await http.PostAsync(new Uri(new Uri(ackUrl), "/alerts/ack"),
                new FormUrlEncodedContent([new("key", query["key"]!), new("t", query["t"]!)]));
            Assert.Equal(HttpStatusCode.OK, post.StatusCode);
        }

        var acked = (await server.CliAsync(null, "alert", "list")).EnsureSuccess();
        Assert.Contains("link", acked.Stdout, StringComparison.Ordinal);
        (await server.CliAsync(null, "alert", "ack", Key)).EnsureSuccess();

        // Silences and the test notification through the CLI.
        var silenced = (await server.CliAsync(null, "alert", "silence", "mx1/store/*", "--for", "2h", "--comment", "disk swap")).EnsureSuccess();
        var silenceId = silenced.Stdout.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1];
        Assert.Contains("disk swap", (await server.CliAsync(null, "alert", "silences")).EnsureSuccess().Stdout, StringComparison.Ordinal);
        (await server.CliAsync(null, "alert", "unsilence", silenceId)).EnsureSuccess();
        Assert.Contains("no silences", (await server.CliAsync(null, "alert", "silences")).EnsureSuccess().Stdout, StringComparison.Ordinal);
        (await server.CliAsync(null, "alert", "test", "hook")).EnsureSuccess();
        Assert.Contains(rx.Requests, r => r.Path == "/hook" && r.Body.Contains("mx1/test/notification", StringComparison.Ordinal));

        // Back up: exactly one resolution on each channel, and no second firing anywhere.
        await clamd.StartAsync();
        await WaitAsync(() => Task.FromResult(Notifications(rx, "/hook", "resolved").Count > 0), "resolved webhook", 60);
        await WaitAsync(() => Task.FromResult(Sms(rx, "[RESOLVED").Count > 0), "resolved SMS", 30);
        await MailProbe.WaitForSubjectAsync(server, ops, opsPassword, "[RESOLVED:1] " + Key, TimeSpan.FromSeconds(30));
        await Task.Delay(TimeSpan.FromSeconds(4));

        Assert.Single(Notifications(rx, "/hook", "firing"));
        Assert.Single(Notifications(rx, "/hook", "resolved"));
        Assert.Single(Sms(rx, "[FIRING"));
        Assert.Single(Sms(rx, "[RESOLVED"));
        var mails = await MailProbe.InboxAsync(server, ops, opsPassword);
        Assert.Single(mails, m => (m.Subject ?? "").StartsWith("[FIRING", StringComparison.Ordinal) && (m.Subject ?? "").Contains(Key, StringComparison.Ordinal));
        Assert.Single(mails, m => (m.Subject ?? "").StartsWith("[RESOLVED", StringComparison.Ordinal) && (m.Subject ?? "").Contains(Key, StringComparison.Ordinal));
        Assert.DoesNotContain(Key, (await server.CliAsync(null, "alert", "list")).EnsureSuccess().Stdout, StringComparison.Ordinal);

        // The Twilio token is a secret: never in the server's log.
        Assert.DoesNotContain("secret-token", server.Output, StringComparison.Ordinal);
    }

    /// <summary>Webhook bodies with the given status that carry the antivirus alert (the test notification excluded).</summary>
    private static List<JsonNode> Notifications(AlertingReceiver rx, string path, string status) =>
        [.. rx.Requests.Where(r => r.Path == path)
            .Select(r => JsonNode.Parse(r.Body)!)
            .Where(b => (string)b["status"]! == status && b["alerts"]!.AsArray().Any(a => (string)a!["key"]! == Key))];

    private static List<string> Sms(AlertingReceiver rx, string prefix) =>
        [.. rx.Requests.Where(r => r.Path == "/2010-04-01/Accounts/AC1/Messages.json")
            .Select(r => System.Web.HttpUtility.ParseQueryString(r.Body)["Body"] ?? "")
            .Where(b => b.StartsWith(prefix, StringComparison.Ordinal) && b.Contains(Key, StringComparison.Ordinal))];

    private static async Task WaitAsync(Func<Task<bool>> condition, string what, int seconds)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (DateTime.UtcNow < deadline)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(250);
        }

        Assert.Fail($"timed out after {seconds} s waiting for {what}");
    }
}
