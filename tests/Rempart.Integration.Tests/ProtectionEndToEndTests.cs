using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Rempart.Antivirus.Tests;
using Rempart.SenderAuth.Tests;

namespace Rempart.Integration.Tests;

/// <summary>
/// The protection pipeline end to end: two real servers, a real DNS server (dnsmasq) holding SPF, DKIM and DMARC
/// records, a real clamd with our own signatures. Server A signs its users' outbound mail with a key made by
/// <c>rempart dkim generate</c>; server B checks everything on its MX listener.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed partial class ProtectionEndToEndTests
{
    [Fact]
    public async Task Signed_mail_passes_spoofs_are_refused_malware_is_held_and_released_and_the_trace_tells_it()
    {
        ExternalTool.Require("dnsmasq", "dnsmasq-base");
        using var clamd = new ClamdFixture();

        // A's signing key first (the command works on a stopped server's data folder), so DNS can publish it.
        await using var a = ServerProcess.Create(c => c["hostName"] = "mail.a.test");
        var generated = (await a.CliAsync(null, "dkim", "generate", "a.test")).EnsureSuccess().Stdout;
        var name = DkimLine().Match(generated).Groups["name"].Value;
        var value = DkimValue().Match(generated).Groups["value"].Value.Trim();
        Assert.False(string.IsNullOrEmpty(name) || string.IsNullOrEmpty(value), generated);

        using var dnsmasq = await Dnsmasq.StartAsync(
            [
                Dnsmasq.Mx("b.test", "mx.b.test", 10),
                Dnsmasq.Host("mx.b.test", "127.0.0.1"),
                Dnsmasq.Txt("a.test", "v=spf1 ip4:127.0.0.1 -all"),
                Dnsmasq.Txt("_dmarc.a.test", "v=DMARC1; p=reject"),
                Dnsmasq.Txt(name, value),
                Dnsmasq.Txt("bank.test", "v=spf1 ip4:192.0.2.1 -all"),
                Dnsmasq.Txt("_dmarc.bank.test", "v=DMARC1; p=reject"),
                Dnsmasq.Txt("outside.test", "v=spf1 ip4:127.0.0.1 ~all"),
            ]);
        JsonObject Dns() => new() { ["servers"] = new JsonArray(dnsmasq.Endpoint), ["timeout"] = "00:00:03" };

        await using var b = ServerProcess.Create(c =>
        {
            c["hostName"] = "mx.b.test";
            c["dns"] = Dns();
            c["protection"] = new JsonObject { ["antivirus"] = new JsonObject { ["clamd"] = "unix:" + clamd.SocketPath } };
        });
        await b.StartAsync();
        var (bob, bobPw) = await MailProbe.NewUserAsync(b, "bob", "b.test");
        Assert.Matches(@"Antivirus\s+up: ClamAV", (await b.CliAsync(null, "status")).EnsureSuccess().Stdout);

        // A's ports were picked before B bound its own: pick them again now, so the two cannot collide.
        var fresh = ServerProcess.FreePorts(9);
        var next = 0;
        foreach (var listener in new[] { "smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s", "http", "https" })
        {
            a.Config["listeners"]![listener]!["port"] = fresh[next++];
        }

        a.Config["dns"] = Dns();
        a.Config["queue"] = new JsonObject { ["mxPort"] = b.Port("smtp"), ["connectTimeout"] = "00:00:05" };
        a.WriteConfig();
        await a.StartAsync();
        var (alice, alicePw) = await MailProbe.NewUserAsync(a, "alice", "a.test");

        // 1. Alice's mail leaves A signed and arrives at B authenticated.
        var marker = "signed-" + Guid.NewGuid().ToString("n")[..8];
        await MailProbe.SubmitAsync(a, alice, alicePw, MailProbe.Message(alice, bob, marker, "hello from A"));
        MimeMessage got;
        try
        {
            got = await MailProbe.WaitForSubjectAsync(b, bob, bobPw, marker, TimeSpan.FromSeconds(60));
        }
        catch (TimeoutException ex)
        {
            throw new TimeoutException(ex.Message + "\n--- sending server's queue\n" + await MailProbe.QueueListAsync(a) + "\n--- its log\n" + MailProbe.Tail(a.Output, 30)
                + "\n--- receiving server's trace\n" + (await b.CliAsync(null, "trace", "--limit", "50")).Stdout + "\n--- its log\n" + MailProbe.Tail(b.Output, 30), ex);
        }

        var results = MailProbe.Header(got, "Authentication-Results");
        Assert.StartsWith("mx.b.test;", results, StringComparison.Ordinal);
        Assert.Contains("spf=pass", results, StringComparison.Ordinal);
        Assert.Contains("dkim=pass", results, StringComparison.Ordinal);
        Assert.Contains("header.d=a.test", results, StringComparison.Ordinal);
        Assert.Contains("dmarc=pass", results, StringComparison.Ordinal);
        Assert.Matches("^scl=[0-4];", MailProbe.Header(got, "X-Rempart-Spam"));

        // 2. A spoof of a domain that publishes p=reject is refused at the end of DATA.
        var spoof = MailProbe.Message("ceo@bank.test", bob, "spoof-" + marker, "please wire the money");
        var refused = await Assert.ThrowsAsync<SmtpCommandException>(() => SendMxAsync(b, spoof, "ceo@bank.test", bob));
        Assert.Equal(550, (int)refused.StatusCode);
        Assert.Contains("DMARC", refused.Message, StringComparison.Ordinal);

        // 3. EICAR in an attachment is accepted (250) but held, not delivered; release puts it in the Inbox.
        var infectedSubject = "eicar-" + marker;
        var infected = MailProbe.Message("carol@outside.test", bob, infectedSubject, "see attached");
        var body = new BodyBuilder { TextBody = "see attached" };
        body.Attachments.Add("eicar.txt", TestData.Eicar, new ContentType("application", "octet-stream"));
        infected.Body = body.ToMessageBody();
        await SendMxAsync(b, infected, "carol@outside.test", bob);

        var list = (await b.CliAsync(null, "quarantine", "list")).EnsureSuccess().Stdout;
        var line = list.Split('\n').FirstOrDefault(l => l.Contains("malware", StringComparison.Ordinal));
        Assert.True(line is not null, "quarantine list shows no malware entry:\n" + list);
        Assert.DoesNotContain(await MailProbe.InboxAsync(b, bob, bobPw), m => m.Subject == infectedSubject);

        var id = FirstNumber().Match(line).Value;
        (await b.CliAsync(null, "quarantine", "release", id)).EnsureSuccess();
        await MailProbe.WaitForSubjectAsync(b, bob, bobPw, infectedSubject, TimeSpan.FromSeconds(30));

        // 4. The trace has the whole path of each message, queryable by recipient.
        string trace = "";
        for (var i = 0; i < 50 && !(trace.Contains("quarantine", StringComparison.OrdinalIgnoreCase) && trace.Contains("released", StringComparison.OrdinalIgnoreCase) && trace.Contains("DMARC", StringComparison.Ordinal)); i++)
        {
            await Task.Delay(200);
            trace = (await b.CliAsync(null, "trace", "--recipient", bob, "--limit", "200")).EnsureSuccess().Stdout;
        }

        Assert.Contains("quarantine", trace, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("released", trace, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("delivered", trace, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Blocked_attachments_and_gtube_are_caught_without_a_scanner_and_rules_apply()
    {
        await using var server = ServerProcess.Create(c =>
        {
            c["hostName"] = "mx.c.test";
            c["protection"] = new JsonObject { ["senderAuth"] = new JsonObject { ["enabled"] = false } };
        });
        await server.StartAsync();
        var (dave, davePw) = await MailProbe.NewUserAsync(server, "dave", "c.test");

        // An executable under a harmless name: recognised by content, refused with the policy's reply.
        var exe = MailProbe.Message("carol@outside.test", dave, "exe", "here");
        var body = new BodyBuilder { TextBody = "here" };
        var pe = new byte[512];
        pe[0] = (byte)'M';
        pe[1] = (byte)'Z';
        pe[0x3C] = 0x80;
        "PE\0\0"u8.CopyTo(pe.AsSpan(0x80));
        body.Attachments.Add("invoice.pdf", pe, new ContentType("application", "pdf"));
        exe.Body = body.ToMessageBody();
        var refused = await Assert.ThrowsAsync<SmtpCommandException>(() => SendMxAsync(server, exe, "carol@outside.test", dave));
        Assert.Equal(554, (int)refused.StatusCode);

        // A mail-flow rule added with the CLI takes effect on the running server.
        var rule = """{"conditions": {"fromScope": "outside"}, "actions": {"prefixSubject": "[EXTERNAL] "}}""";
        (await server.CliAsync(rule, "rule", "add", "tag-external", "--priority", "10")).EnsureSuccess();
        var marker = "ruled-" + Guid.NewGuid().ToString("n")[..8];
        await SendMxAsync(server, MailProbe.Message("carol@outside.test", dave, marker, "hello"), "carol@outside.test", dave);
        var tagged = await MailProbe.WaitForSubjectAsync(server, dave, davePw, marker, TimeSpan.FromSeconds(30));
        Assert.StartsWith("[EXTERNAL] ", tagged.Subject, StringComparison.Ordinal);

        // GTUBE is always spam: held in quarantine (SCL 9).
        await SendMxAsync(server, MailProbe.Message("carol@outside.test", dave, "gtube", "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"), "carol@outside.test", dave);
        var list = (await server.CliAsync(null, "quarantine", "list", "--category", "spam")).EnsureSuccess().Stdout;
        Assert.Contains(dave, list, StringComparison.Ordinal);
    }

    private static async Task SendMxAsync(ServerProcess server, MimeMessage message, string sender, string recipient)
    {
        using var smtp = new SmtpClient { ServerCertificateValidationCallback = MailProbe.TrustTestCertificates, Timeout = 60_000 };
        await smtp.ConnectAsync("127.0.0.1", server.Port("smtp"), SecureSocketOptions.None);
        await smtp.SendAsync(message, MailboxAddress.Parse(sender), [MailboxAddress.Parse(recipient)]);
        await smtp.DisconnectAsync(true);
    }

    [GeneratedRegex(@"name:\s+(?<name>\S+)")]
    private static partial Regex DkimLine();

    [GeneratedRegex(@"value:\s+(?<value>.+)")]
    private static partial Regex DkimValue();

    [GeneratedRegex(@"\d+")]
    private static partial Regex FirstNumber();
}
