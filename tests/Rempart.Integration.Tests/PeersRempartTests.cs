using System.Globalization;
using System.Text.Json.Nodes;
using MimeKit;

namespace Rempart.Integration.Tests;

/// <summary>Rempart talking SMTP to another Rempart: routing, opportunistic TLS, a durable queue and bounces.</summary>
[Collection(InteropCollection.Name)]
public sealed class PeersRempartTests
{
    private static JsonObject Route(string name, string domain, int port, string tls = "opportunistic") => new()
    {
        ["name"] = name,
        ["domains"] = new JsonArray(domain),
        ["smartHost"] = "127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture),
        ["tls"] = tls,
        ["insecureSkipVerify"] = true,
    };

    [Fact]
    public async Task A_user_of_instance_a_reaches_a_user_of_instance_b_through_a_smart_host_route_over_tls()
    {
        await using var b = ServerProcess.Create();
        await b.StartAsync();
        await using var a = ServerProcess.Create(c => c["routes"] = new JsonArray(Route("to-b", "b.test", b.Port("smtp"))));
        await a.StartAsync();
        var (alice, alicePw) = await MailProbe.NewUserAsync(a, "alice", "a.test");
        var (bob, bobPw) = await MailProbe.NewUserAsync(b, "bob", "b.test");

        var marker = "a-to-b-" + Guid.NewGuid().ToString("n")[..8];
        var sent = MailProbe.Message(alice, bob, marker, "across two servers");
        await MailProbe.SubmitAsync(a, alice, alicePw, sent);

        var got = await MailProbe.WaitForSubjectAsync(b, bob, bobPw, marker, TimeSpan.FromSeconds(60));
        Assert.Equal(sent.MessageId, got.MessageId);
        Assert.Contains("across two servers", got.TextBody, StringComparison.Ordinal);
        Assert.Equal("<" + alice + ">", MailProbe.Header(got, "Return-Path"));

        // B's Received header: the hop from A used STARTTLS (opportunistic TLS against B's self-signed certificate).
        var fromA = got.Headers.Where(h => h.Id == HeaderId.Received).Select(h => h.Value).FirstOrDefault() ?? string.Empty;
        Assert.Contains("ESMTPS", fromA, StringComparison.Ordinal);

        // A's queue drains.
        await MailProbe.WaitForQueueAsync(a, l => !l.Contains("b.test", StringComparison.Ordinal), "emptied of b.test", TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task Queued_mail_survives_kill_9_is_delivered_after_retry_and_a_permanent_failure_bounces_exactly_once()
    {
        var receiverPort = ServerProcess.FreePort();
        await using var a = ServerProcess.Create(c =>
        {
            c["routes"] = new JsonArray(Route("later", "later.test", receiverPort), Route("reject", "reject.test", receiverPort));
            c["queue"] = new JsonObject { ["connectTimeout"] = "00:00:05" };
        });
        await a.StartAsync();
        var (alice, alicePw) = await MailProbe.NewUserAsync(a, "alice", "a.test");

        var marker = "durable-" + Guid.NewGuid().ToString("n")[..8];
        var later = MailProbe.Message(alice, "carol@later.test", marker, "waited for the receiver");
        await MailProbe.SubmitAsync(a, alice, alicePw, later);

        // Nothing listens on the route's port: the message stays queued.
        await MailProbe.WaitForQueueAsync(a, l => l.Contains("later.test", StringComparison.Ordinal), "listed later.test", TimeSpan.FromSeconds(30));

        // SIGKILL, restart on the same data: still queued.
        await a.KillAsync();
        await using var a2 = ServerProcess.Reuse(a);
        await a2.StartAsync();
        var afterRestart = await MailProbe.QueueListAsync(a2);
        Assert.Contains("later.test", afterRestart, StringComparison.Ordinal);
        Assert.Contains(alice, afterRestart, StringComparison.OrdinalIgnoreCase);

        // Now a receiver appears on that port: another Rempart serving later.test (and reject.test, without users).
        await using var c = ServerProcess.Create(cfg => cfg["listeners"]!["smtp"]!["port"] = receiverPort);
        await c.StartAsync();
        (await c.CliAsync(null, "domain", "add", "later.test")).EnsureSuccess();
        (await c.CliAsync(null, "domain", "add", "reject.test")).EnsureSuccess();
        const string carolPw = "carol-Secret-1";
        (await c.CliAsync(carolPw + "\n", "user", "add", "carol@later.test", "--password-stdin")).EnsureSuccess();

        (await a2.CliAsync(null, "queue", "retry", "--all")).EnsureSuccess();
        var got = await MailProbe.WaitForSubjectAsync(c, "carol@later.test", carolPw, marker, TimeSpan.FromSeconds(90));
        Assert.Equal(later.MessageId, got.MessageId);
        await MailProbe.WaitForQueueAsync(a2, l => !l.Contains("later.test", StringComparison.Ordinal), "emptied of later.test", TimeSpan.FromSeconds(30));

        // A recipient the receiver refuses with 550: one failure DSN to the sender, nothing left queued.
        var doomedMarker = "doomed-" + Guid.NewGuid().ToString("n")[..8];
        await MailProbe.SubmitAsync(a2, alice, alicePw, MailProbe.Message(alice, "nobody@reject.test", doomedMarker, "nobody reads this"));
        var dsn = await MailProbe.WaitForAsync(a2, alice, alicePw, IsFailureReport, "a delivery-status report", TimeSpan.FromSeconds(90));
        Assert.Contains("nobody@reject.test", ReportText(dsn), StringComparison.OrdinalIgnoreCase);
        Assert.Contains("5.", ReportText(dsn), StringComparison.Ordinal);
        await MailProbe.WaitForQueueAsync(a2, l => !l.Contains("reject.test", StringComparison.Ordinal), "emptied of reject.test", TimeSpan.FromSeconds(30));

        // Give a duplicate bounce time to show up, then count.
        await Task.Delay(TimeSpan.FromSeconds(3));
        var inbox = await MailProbe.InboxAsync(a2, alice, alicePw);
        Assert.Equal(1, inbox.Count(IsFailureReport));
        Assert.Single(inbox);
    }

    private static bool IsFailureReport(MimeMessage m) =>
        m.Body is MultipartReport { ReportType: var t } && string.Equals(t, "delivery-status", StringComparison.OrdinalIgnoreCase);

    private static string ReportText(MimeMessage m)
    {
        using var s = new MemoryStream();
        m.WriteTo(s);
        return System.Text.Encoding.UTF8.GetString(s.ToArray());
    }
}
