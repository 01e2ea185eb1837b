using System.Text;
using Rempart.Smtp.Filters;
using Rempart.Store;

namespace Rempart.Protection.Tests.Pipeline;

/// <summary>Fixture messages through the whole pipeline (real store, rules, quarantine, anti-spam, attachment policy).</summary>
public sealed class PipelineVerdictTests
{
    private const string Gtube = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

    private static string Plain(string subject, string body, string from = "carol@outside.test", string extraHeaders = "") =>
        $"From: Carol <{from}>\nTo: alice@example.com\nSubject: {subject}\nDate: Fri, 27 Nov 2026 10:00:00 +0000\n" +
        $"Message-ID: <{Guid.NewGuid():n}@outside.test>\nMIME-Version: 1.0\n{extraHeaders}Content-Type: text/plain; charset=utf-8\n\n{body}\n";

    private static string WithAttachment(string fileName, byte[] content) =>
        "From: carol@outside.test\nTo: alice@example.com\nSubject: the file\nDate: Fri, 27 Nov 2026 10:00:00 +0000\n" +
        "Message-ID: <att@outside.test>\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"b\"\n\n" +
        "--b\nContent-Type: text/plain\n\nHere it is.\n--b\n" +
        $"Content-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"{fileName}\"\nContent-Transfer-Encoding: base64\n\n" +
        Convert.ToBase64String(content, Base64FormattingOptions.InsertLineBreaks) + "\n--b--\n";

    private static byte[] PeExecutable()
    {
        var pe = new byte[512];
        pe[0] = (byte)'M';
        pe[1] = (byte)'Z';
        pe[0x3C] = 0x80;
        "PE\0\0"u8.CopyTo(pe.AsSpan(0x80));
        return pe;
    }

    [Fact]
    public async Task An_ordinary_message_is_delivered_with_a_spam_header()
    {
        await using var h = await PipelineHarness.CreateAsync();
        var verdict = await h.EndOfDataAsync(Plain("Lunch on Friday", "Shall we meet at noon at the usual place? Regards, Carol"));
        Assert.Equal(FilterAction.Accept, verdict.Action);
        Assert.Null(verdict.Message); // nothing to rewrite: the session stores the bytes it received
        var spam = Assert.Single(verdict.Headers, x => x.Key == "X-Rempart-Spam");
        Assert.Matches("^scl=[0-4];", spam.Value);
    }

    [Fact]
    public async Task Gtube_is_quarantined_and_can_be_found_there()
    {
        await using var h = await PipelineHarness.CreateAsync();
        var verdict = await h.EndOfDataAsync(Plain("test", "This is a test. " + Gtube));
        Assert.Equal(FilterAction.Quarantine, verdict.Action);
        var held = Assert.Single(await h.Store.Protection.ListQuarantineAsync(new QuarantineQuery()));
        Assert.Equal("spam", held.Category);
        Assert.Equal(["alice@example.com"], held.Recipients);
        var stored = Encoding.UTF8.GetString(await h.Store.Blobs.ReadAllAsync(held.Blob.Hash));
        Assert.Contains("X-Rempart-Spam: scl=9", stored, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Gtube_from_an_authenticated_user_is_refused()
    {
        await using var h = await PipelineHarness.CreateAsync();
        var verdict = await h.EndOfDataAsync(Plain("test", Gtube, "alice@example.com"), "alice@example.com", ["someone@far.test"], user: "alice@example.com");
        Assert.Equal(FilterAction.Reject, verdict.Action);
        Assert.Equal(550, verdict.Code);
    }

    [Fact]
    public async Task A_junk_threshold_of_zero_sends_mail_to_junk()
    {
        await using var h = await PipelineHarness.CreateAsync(o => o.Protection.Spam.JunkAtScl = 0);
        var verdict = await h.EndOfDataAsync(Plain("hello", "hello"));
        Assert.Equal(FilterAction.FileInto, verdict.Action);
        Assert.Equal("Junk", verdict.Folder);
    }

    [Fact]
    public async Task An_executable_renamed_to_txt_is_refused_by_the_attachment_policy()
    {
        await using var h = await PipelineHarness.CreateAsync();
        var verdict = await h.EndOfDataAsync(WithAttachment("report.txt", PeExecutable()));
        Assert.Equal(FilterAction.Reject, verdict.Action);
        Assert.Equal(554, verdict.Code);
        Assert.Contains("attachment policy", verdict.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rule_reject_answers_with_its_own_text()
    {
        await using var h = await PipelineHarness.CreateAsync();
        await h.AddRuleAsync("no-invoices", 10, """{"conditions": {"subjectMatches": "invoice"}, "actions": {"reject": {"text": "Invoices go to the portal"}}}""");
        var verdict = await h.EndOfDataAsync(Plain("Your invoice 42", "see attached"));
        Assert.Equal(FilterAction.Reject, verdict.Action);
        Assert.Equal("Invoices go to the portal", verdict.Text);
        Assert.Equal("5.7.1", verdict.Enhanced);

        var other = await h.EndOfDataAsync(Plain("Lunch", "noon?"));
        Assert.Equal(FilterAction.Accept, other.Action);
    }

    [Fact]
    public async Task A_rule_with_a_temporary_code_tempfails()
    {
        await using var h = await PipelineHarness.CreateAsync();
        await h.AddRuleAsync("later", 10, """{"conditions": {"subjectMatches": "later"}, "actions": {"reject": {"code": 451, "enhanced": "4.7.1", "text": "Try later"}}}""");
        var verdict = await h.EndOfDataAsync(Plain("later please", "x"));
        Assert.Equal(FilterAction.TempFail, verdict.Action);
        Assert.Equal(451, verdict.Code);
    }

    [Fact]
    public async Task A_rule_quarantine_holds_the_message()
    {
        await using var h = await PipelineHarness.CreateAsync();
        await h.AddRuleAsync("review", 10, """{"conditions": {"bodyMatches": "wire transfer"}, "actions": {"quarantine": {"reason": "payment request"}}}""");
        var verdict = await h.EndOfDataAsync(Plain("urgent", "Please make a wire transfer today."));
        Assert.Equal(FilterAction.Quarantine, verdict.Action);
        var held = Assert.Single(await h.Store.Protection.ListQuarantineAsync(new QuarantineQuery()));
        Assert.Equal("rule", held.Category);
        Assert.Contains("payment request", held.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rules_rewrite_the_message_and_change_recipients_and_route()
    {
        await using var h = await PipelineHarness.CreateAsync();
        await h.AddRuleAsync("tag-external", 10, """{"conditions": {"fromScope": "outside"}, "actions": [{"prefixSubject": "[EXT] "}, {"bcc": "bob@example.com"}, {"routeVia": "relay"}]}""");
        var verdict = await h.EndOfDataAsync(Plain("Hello", "hi"));
        Assert.Equal(FilterAction.Accept, verdict.Action);
        Assert.NotNull(verdict.Message);
        Assert.Contains("Subject: [EXT] Hello", Encoding.UTF8.GetString(verdict.Message.Value.Span), StringComparison.Ordinal);
        Assert.Equal(["bob@example.com"], verdict.AddRecipients);
        Assert.Equal("relay", verdict.Route);
    }

    [Fact]
    public async Task A_rule_can_lower_the_spam_level_but_never_let_malware_in()
    {
        await using var h = await PipelineHarness.CreateAsync();
        await h.AddRuleAsync("trust-partner", 10, """{"conditions": {"senderDomainIs": "partner.test"}, "actions": {"setScl": -1}}""");
        var gtube = await h.EndOfDataAsync(Plain("test", Gtube, "x@partner.test"), "x@partner.test");
        Assert.Equal(FilterAction.Accept, gtube.Action);

        var exe = await h.EndOfDataAsync(WithAttachment("a.txt", PeExecutable()).Replace("carol@outside.test", "x@partner.test", StringComparison.Ordinal), "x@partner.test");
        Assert.Equal(FilterAction.Reject, exe.Action);
    }

    [Fact]
    public async Task Forged_authentication_results_for_our_host_are_removed()
    {
        await using var h = await PipelineHarness.CreateAsync();
        var verdict = await h.EndOfDataAsync(Plain("hi", "hello", extraHeaders: "Authentication-Results: mx.example.com; dmarc=pass header.from=bank.test\nX-Rempart-Spam: scl=0\n"));
        Assert.Equal(FilterAction.Accept, verdict.Action);
        var stored = Encoding.UTF8.GetString(verdict.Message!.Value.Span);
        Assert.DoesNotContain("Authentication-Results", stored, StringComparison.Ordinal);
        Assert.DoesNotContain("X-Rempart-Spam", stored, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_user_whose_own_model_learned_a_kind_of_mail_gets_it_in_junk_alone()
    {
        // Few distinct words in these short training messages: let a small personal model count.
        await using var h = await PipelineHarness.CreateAsync(o => o.Protection.Spam.MinTokensForUserModel = 20);
        var alice = (await h.Store.Directory.GetAccountAsync("alice@example.com"))!;
        for (var i = 0; i < 30; i++)
        {
            // Everyone's model knows other kinds of spam and ham; only Alice taught it that crypto digests are spam.
            await h.Spam.LearnAsync(Encoding.UTF8.GetBytes(Plain("Cheap meds " + i, "Discount pharmacy pills without prescription, order cheap meds online.").ReplaceLineEndings("\r\n")), true, null, CancellationToken.None);
            await h.Spam.LearnAsync(Encoding.UTF8.GetBytes(Plain("Team lunch " + i, "The team lunch is on Thursday at the canteen near the office.").ReplaceLineEndings("\r\n")), false, null, CancellationToken.None);
            await h.Spam.LearnAsync(Encoding.UTF8.GetBytes(Plain("Weekly crypto yield digest " + i, "Stake your tokens now for guaranteed crypto yield, airdrop bonus, moonshot staking rewards.").ReplaceLineEndings("\r\n")), true, alice.Id, CancellationToken.None);
            await h.Spam.LearnAsync(Encoding.UTF8.GetBytes(Plain("Project status " + i, "The quarterly project report and meeting minutes are attached for review.").ReplaceLineEndings("\r\n")), false, alice.Id, CancellationToken.None);
        }

        var verdict = await h.EndOfDataAsync(Plain("Crypto yield digest", "Stake your tokens now for guaranteed crypto yield and airdrop bonus staking rewards."), recipients: ["alice@example.com", "bob@example.com"]);
        Assert.Equal(FilterAction.Accept, verdict.Action);
        var alices = Assert.Single(verdict.PerRecipient);
        Assert.Equal("alice@example.com", alices.Recipient);
        Assert.NotEqual(verdict.Action, alices.Action);
        Assert.True(alices.Action is FilterAction.FileInto or FilterAction.Quarantine);
    }

    [Fact]
    public async Task Blocked_addresses_are_refused_at_connect_and_allowed_ones_skip_limits()
    {
        await using var h = await PipelineHarness.CreateAsync(o =>
        {
            o.Protection.Connection.Block = ["198.51.100.0/24"];
            o.Protection.Connection.Allow = ["192.0.2.0/24"];
            o.Protection.Connection.MaxMessagesPerMinutePerIp = 1;
        });
        var blocked = await h.Filter.OnConnectAsync(PipelineHarness.Context("a@b.test", [], ip: "198.51.100.9"), CancellationToken.None);
        Assert.Equal(FilterAction.Reject, blocked.Action);
        Assert.Equal(554, blocked.Code);

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(FilterAction.Accept, (await h.Filter.OnMailFromAsync(PipelineHarness.Context("a@b.test", [], ip: "192.0.2.7"), CancellationToken.None)).Action);
        }

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(FilterAction.Accept, (await h.Filter.OnMailFromAsync(PipelineHarness.Context("a@b.test", [], ip: "127.0.0.1"), CancellationToken.None)).Action);
        }

        Assert.Equal(FilterAction.Accept, (await h.Filter.OnMailFromAsync(PipelineHarness.Context("a@b.test", [], ip: "203.0.113.7"), CancellationToken.None)).Action);
        var limited = await h.Filter.OnMailFromAsync(PipelineHarness.Context("c@b.test", [], ip: "203.0.113.7"), CancellationToken.None);
        Assert.Equal(FilterAction.TempFail, limited.Action);
        Assert.StartsWith("4.", limited.Enhanced, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sending_limits_apply_per_authenticated_user()
    {
        await using var h = await PipelineHarness.CreateAsync(o =>
        {
            o.Protection.Outbound.MaxMessagesPerHourPerUser = 2;
            o.Protection.Outbound.MaxRecipientsPerDayPerUser = 3;
        });
        var ctx = PipelineHarness.Context("alice@example.com", [], user: "alice@example.com");
        Assert.Equal(FilterAction.Accept, (await h.Filter.OnMailFromAsync(ctx, CancellationToken.None)).Action);
        Assert.Equal(FilterAction.Accept, (await h.Filter.OnMailFromAsync(ctx, CancellationToken.None)).Action);
        Assert.Equal(FilterAction.TempFail, (await h.Filter.OnMailFromAsync(ctx, CancellationToken.None)).Action);

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(FilterAction.Accept, (await h.Filter.OnRcptToAsync(ctx, $"r{i}@far.test", CancellationToken.None)).Action);
        }

        Assert.Equal(FilterAction.TempFail, (await h.Filter.OnRcptToAsync(ctx, "r9@far.test", CancellationToken.None)).Action);
    }

    [Fact]
    public async Task A_poor_reputation_refuses_the_connection()
    {
        await using var h = await PipelineHarness.CreateAsync();
        var ip = "203.0.113.66";
        for (var i = 0; i < 12; i++)
        {
            await h.Filter.OnRecipientRefusedAsync(PipelineHarness.Context("x@y.test", [], ip: ip), "nobody@example.com", "5.1.1", CancellationToken.None);
        }

        // Only unknown recipients were seen from there: directory harvesting.
        var verdict = await h.Filter.OnConnectAsync(PipelineHarness.Context("x@y.test", [], ip: ip), CancellationToken.None);
        Assert.Equal(FilterAction.Reject, verdict.Action);
        Assert.Contains("reputation", verdict.Text, StringComparison.Ordinal);
    }
}
