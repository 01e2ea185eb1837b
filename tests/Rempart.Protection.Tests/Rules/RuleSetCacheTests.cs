using System.Text;
using MimeKit;
using Rempart.Protection.Rules;
using Rempart.Store;

namespace Rempart.Protection.Tests.Rules;

/// <summary>The server's view of the stored rules, and building a rule message from MIME.</summary>
public sealed class RuleSetCacheTests
{
    private static TransportRuleRecord Record(string name, int priority, string json, bool enabled = true) =>
        new(name, priority, enabled, json, DateTimeOffset.UnixEpoch);

    [Fact]
    public async Task Reloads_only_when_the_rules_version_changes()
    {
        var store = new InMemoryRuleStore();
        await store.SaveRuleAsync(Record("a", 1, """{"actions": {"setScl": 1}}"""));
        var log = new ListLogger();
        using var cache = new RuleSetCache(store, log);

        var first = await cache.GetAsync();
        var again = await cache.GetAsync();
        Assert.Same(first, again);
        Assert.Equal(1, store.ListCalls);
        Assert.Equal(["a"], first.Rules.Select(r => r.Name));

        await store.SaveRuleAsync(Record("b", 0, """{"actions": {"setScl": 2}}"""));
        var reloaded = await cache.GetAsync();
        Assert.NotSame(first, reloaded);
        Assert.Equal(2, store.ListCalls);
        Assert.Equal(["b", "a"], reloaded.Rules.Select(r => r.Name));
    }

    [Fact]
    public async Task Invalid_and_disabled_rules_are_skipped_with_an_error_log()
    {
        var store = new InMemoryRuleStore();
        await store.SaveRuleAsync(Record("good", 1, """{"actions": {"setScl": 1}}"""));
        await store.SaveRuleAsync(Record("broken", 2, """{"conditions": {"subjectMatches": "("}, "actions": {"setScl": 1}}"""));
        await store.SaveRuleAsync(Record("off", 3, """{"actions": {"setScl": 1}}""", enabled: false));
        var log = new ListLogger();
        using var cache = new RuleSetCache(store, log);

        var engine = await cache.GetAsync();
        Assert.Equal(["good"], engine.Rules.Select(r => r.Name));
        Assert.Contains(log.Entries, e => e.Id.Id == (int)Rempart.Telemetry.EventIds.RuleInvalid && e.Message.Contains("rule 'broken': conditions.subjectMatches"));
    }

    [Fact]
    public async Task A_failing_store_keeps_the_previous_rules()
    {
        var store = new InMemoryRuleStore();
        await store.SaveRuleAsync(Record("a", 1, """{"actions": {"setScl": 1}}"""));
        var log = new ListLogger();
        using var cache = new RuleSetCache(store, log);
        var before = await cache.GetAsync();

        store.Fail = true;
        Assert.Same(before, await cache.GetAsync());
        Assert.Contains(log.Entries, e => e.Id.Id == (int)Rempart.Telemetry.EventIds.RulesReloadFailed);

        // Before anything was ever loaded, a failing store means no rules rather than no mail.
        using var cold = new RuleSetCache(store, log);
        Assert.Empty((await cold.GetAsync()).Rules);
    }

    [Fact]
    public void A_rule_message_is_built_from_mime()
    {
        const string raw =
            "From: Carol <carol@partner.org>\r\n" +
            "To: bob@example.com\r\n" +
            "Subject: =?utf-8?q?Facture_=C3=A9t=C3=A9?=\r\n" +
            "X-Mailer: Test 1.0\r\n" +
            "MIME-Version: 1.0\r\n" +
            "Content-Type: multipart/mixed; boundary=\"b\"\r\n" +
            "\r\n" +
            "--b\r\n" +
            "Content-Type: text/html; charset=utf-8\r\n" +
            "\r\n" +
            "<p>Please pay &amp; confirm</p>\r\n" +
            "--b\r\n" +
            "Content-Type: application/octet-stream; name=\"invoice.pdf\"\r\n" +
            "Content-Disposition: attachment; filename=\"invoice.pdf\"\r\n" +
            "Content-Transfer-Encoding: base64\r\n" +
            "\r\n" +
            "TVqQAAMAAAAEAAAA//8AALgAAAAAAAAAQAAAAAAAAAA=\r\n" +
            "--b--\r\n";
        var message = MimeMessage.Load(new MemoryStream(Encoding.ASCII.GetBytes(raw)));
        var m = RuleMessageBuilder.FromMime(message, "bounce@partner.org", ["bob@example.com"], raw.Length, 3, a => a.EndsWith("@example.com", StringComparison.Ordinal));

        Assert.Equal("carol@partner.org", m.FromHeader);
        Assert.Equal("Facture été", m.Subject);
        Assert.Contains("Please pay & confirm", m.BodyText);
        Assert.Contains(new KeyValuePair<string, string>("X-Mailer", "Test 1.0"), m.Headers);
        var attachment = Assert.Single(m.Attachments);
        Assert.Equal("invoice.pdf", attachment.FileName);
        Assert.Equal("exe", attachment.DetectedType);

        // The rule sees the real type, not the name.
        var rule = RuleTestSupport.Rule("exe", """{"conditions": {"attachmentTypeIs": "exe", "senderDomainIs": "partner.org", "toScope": "inside"}, "actions": {"quarantine": true}}""");
        Assert.Equal(["exe"], new RuleEngine([rule], new ListLogger()).Evaluate(m).Hits);
    }
}
