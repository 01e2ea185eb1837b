using Rempart.Protection.Rules;
using Rempart.Store;
using static Rempart.Protection.Tests.Rules.RuleTestSupport;

namespace Rempart.Protection.Tests.Rules;

/// <summary>Conditions, actions and evaluation order, driven by fixture tables.</summary>
public sealed class RuleEngineTests
{
    /// <summary>
    /// Each condition: its JSON, a message it must match and one it must not. The "miss" message differs from the
    /// "hit" in the one property the condition looks at.
    /// </summary>
    public static TheoryData<string, string, RuleMessage, RuleMessage> Conditions => new()
    {
        { "senderMatches wildcard", """{"senderMatches": "*@example.com"}""", Message(sender: "carol@example.com"), Message(sender: "carol@example.net") },
        { "senderMatches list", """{"senderMatches": ["x@y.org", "carol@*"]}""", Message(sender: "Carol@Example.net"), Message(sender: "dave@example.net") },
        { "senderMatches regex", """{"senderMatches": "/^ceo@/"}""", Message(sender: "ceo@example.com"), Message(sender: "theceo@example.com") },
        { "senderMatches From header", """{"senderMatches": "boss@*"}""", Message(sender: "bounce-1@lists.example.net", from: "boss@example.net"), Message(sender: "bounce-1@lists.example.net", from: "clerk@example.net") },
        { "recipientMatches any recipient", """{"recipientMatches": "sales@*"}""", Message(recipients: ["bob@example.org", "sales@example.com"]), Message(recipients: ["bob@example.org"]) },
        { "senderDomainIs with subdomains", """{"senderDomainIs": ["partner.org"]}""", Message(sender: "a@mail.partner.org"), Message(sender: "a@notpartner.org") },
        { "recipientDomainIs", """{"recipientDomainIs": "Example.ORG"}""", Message(recipients: ["x@example.org"]), Message(recipients: ["x@example.com"]) },
        { "fromScope inside", """{"fromScope": "inside"}""", Message(sender: "a@example.com"), Message(sender: "a@elsewhere.net") },
        { "fromScope outside", """{"fromScope": "outside"}""", Message(sender: "a@elsewhere.net", from: "a@elsewhere.net"), Message(sender: "a@example.com") },
        { "fromScope outside null sender", """{"fromScope": "outside"}""", Message(sender: ""), Message(sender: "a@sub.example.com") },
        { "toScope outside", """{"toScope": "outside"}""", Message(recipients: ["a@example.com", "b@other.net"]), Message(recipients: ["a@example.com"]) },
        { "toScope inside", """{"toScope": "inside"}""", Message(recipients: ["b@other.net", "a@example.com"]), Message(recipients: ["b@other.net"]) },
        { "headerMatches", """{"headerMatches": {"name": "X-Mailer", "pattern": "^Bulk"}}""", Message(headers: [("x-mailer", "BulkSender 2.0")]), Message(headers: [("X-Other", "BulkSender"), ("X-Mailer", "Outlook")]) },
        { "subjectMatches", """{"subjectMatches": "invoice\\s+\\d+"}""", Message(subject: "Your INVOICE 1234"), Message(subject: "Your invoice") },
        { "bodyMatches list", """{"bodyMatches": ["wire transfer", "gift card"]}""", Message(body: "Please buy a Gift Card today"), Message(body: "Lunch?") },
        { "subjectOrBodyMatches subject", """{"subjectOrBodyMatches": "urgent"}""", Message(subject: "URGENT"), Message(subject: "later", body: "not now") },
        { "subjectOrBodyMatches body", """{"subjectOrBodyMatches": "urgent"}""", Message(body: "this is urgent"), Message(body: "relax") },
        { "attachmentTypeIs", """{"attachmentTypeIs": ["exe", "DOCM"]}""", Message(attachments: [new("a.pdf", "pdf", 10), new("report.doc", "docm", 10)]), Message(attachments: [new("a.exe.pdf", "pdf", 10)]) },
        { "attachmentNameMatches", """{"attachmentNameMatches": "*.iso"}""", Message(attachments: [new("Setup.ISO", "iso", 10)]), Message(attachments: [new("iso.txt", "txt", 10), new(null, "bin", 5)]) },
        { "attachmentNameMatches regex", """{"attachmentNameMatches": "/\\.(js|vbs)$/"}""", Message(attachments: [new("run.vbs", "vbs", 10)]), Message(attachments: [new("run.vbs.txt", "txt", 10)]) },
        { "sizeOver bytes", """{"sizeOver": 5000}""", Message(size: 5001), Message(size: 5000) },
        { "sizeOver with unit", """{"sizeOver": "1MB"}""", Message(size: 1024 * 1024 + 1), Message(size: 1024 * 1024) },
        { "sclAtLeast", """{"sclAtLeast": 5}""", Message(scl: 5), Message(scl: 4) },
        { "two conditions in one group", """{"fromScope": "outside", "subjectMatches": "pay"}""", Message(sender: "x@evil.test", from: "x@evil.test", subject: "pay now"), Message(sender: "x@example.com", subject: "pay now") },
        { "list of groups", """[{"fromScope": "outside"}, {"subjectMatches": "pay"}]""", Message(sender: "x@evil.test", from: "x@evil.test", subject: "pay now"), Message(sender: "x@evil.test", from: "x@evil.test", subject: "hello") },
    };

    [Theory]
    [MemberData(nameof(Conditions))]
    public void Each_condition_matches_and_misses(string name, string conditions, RuleMessage hit, RuleMessage miss)
    {
        var engine = new RuleEngine([Rule("c", "{\"conditions\": " + conditions + ", \"actions\": {\"setScl\": 9}}")], new ListLogger());

        var matched = engine.Evaluate(hit);
        Assert.True(matched.Hits.SequenceEqual(["c"]), $"{name}: expected a match; {matched.Evaluations[0].Detail}");
        Assert.Equal(9, matched.SetScl);

        var missed = engine.Evaluate(miss);
        Assert.True(missed.IsEmpty, $"{name}: expected no match");
        Assert.Equal(RuleResult.NotMatched, missed.Evaluations[0].Result);
        Assert.Contains("did not match", missed.Evaluations[0].Detail);
    }

    /// <summary>Each action: its JSON and what the outcome must hold.</summary>
    public static TheoryData<string, string, Func<RuleOutcome, bool>> Actions => new()
    {
        { "reject default code", """{"reject": {"text": "Policy says no"}}""", o => o.Reject == new RuleReject(550, "5.7.1", "Policy says no") },
        { "reject custom code", """{"reject": {"code": 554, "enhanced": "5.7.0", "text": "No"}}""", o => o.Reject is { Code: 554, Enhanced: "5.7.0", Text: "No" } },
        { "reject temporary", """{"reject": {"code": 451, "enhanced": "4.7.1", "text": "Later"}}""", o => o.Reject is { Code: 451, Enhanced: "4.7.1" } },
        { "quarantine reason", """{"quarantine": {"reason": "held for review"}}""", o => o.Quarantine && o.QuarantineReason == "held for review" },
        { "quarantine true", """{"quarantine": true}""", o => o.Quarantine && o.QuarantineReason == "mail-flow rule 'r'" },
        { "redirectTo", """{"redirectTo": ["legal@example.com"]}""", o => o.RedirectTo.SequenceEqual(["legal@example.com"]) },
        { "addRecipients", """{"addRecipients": "audit@example.com"}""", o => o.AddRecipients.SequenceEqual(["audit@example.com"]) },
        { "bcc", """{"bcc": ["archive@example.com", "ARCHIVE@example.com"]}""", o => o.Bcc.SequenceEqual(["archive@example.com"]) },
        { "addHeader", """[{"addHeader": {"name": "X-A", "value": "1"}}, {"addHeader": {"name": "X-B", "value": "2"}}]""", o => o.AddHeaders.Select(h => h.Key + "=" + h.Value).SequenceEqual(["X-A=1", "X-B=2"]) },
        { "removeHeader", """{"removeHeader": ["X-Spam-Flag", "X-Internal"]}""", o => o.RemoveHeaders.SequenceEqual(["X-Spam-Flag", "X-Internal"]) },
        { "prefixSubject", """{"prefixSubject": "[EXTERNAL]"}""", o => o.SubjectPrefix == "[EXTERNAL]" && o.ChangesContent },
        { "appendDisclaimer", """{"appendDisclaimer": {"text": "Confidential.\r\nDo not forward."}}""", o => o.Disclaimer == "Confidential.\nDo not forward." },
        { "routeVia", """{"routeVia": "smarthost"}""", o => o.RouteName == "smarthost" },
        { "setScl", """{"setScl": -1}""", o => o.SetScl == -1 },
        { "stopProcessing", """{"stopProcessing": true, "setScl": 3}""", o => o.SetScl == 3 && !o.ChangesContent },
    };

    [Theory]
    [MemberData(nameof(Actions))]
    public void Each_action_reaches_the_outcome(string name, string actions, Func<RuleOutcome, bool> check)
    {
        var outcome = Outcome(actions);
        Assert.True(check(outcome), name);
        Assert.Equal(["r"], outcome.Hits);
    }

    [Fact]
    public void Rules_run_in_priority_order_then_name()
    {
        var engine = new RuleEngine(
            [
                Rule("zeta", """{"actions": {"prefixSubject": "[Z]"}}""", priority: 5),
                Rule("late", """{"actions": {"routeVia": "second", "prefixSubject": "[L]"}}""", priority: 20),
                Rule("alpha", """{"actions": {"routeVia": "first", "prefixSubject": "[A]"}}""", priority: 5),
            ],
            new ListLogger());
        var o = engine.Evaluate(Message());
        Assert.Equal(["alpha", "zeta", "late"], o.Hits);

        // Single-valued actions: the first rule to set one wins.
        Assert.Equal("first", o.RouteName);
        Assert.Equal("[A][Z][L]", o.SubjectPrefix);
    }

    [Fact]
    public void Stop_processing_skips_later_rules()
    {
        var engine = new RuleEngine(
            [
                Rule("one", """{"conditions": {"subjectMatches": "stop"}, "actions": [{"addHeader": {"name": "X-One", "value": "1"}}, {"stopProcessing": true}]}""", priority: 1),
                Rule("two", """{"actions": {"addHeader": {"name": "X-Two", "value": "2"}}}""", priority: 2),
            ],
            new ListLogger());

        var stopped = engine.Evaluate(Message(subject: "please stop"));
        Assert.Equal(["one"], stopped.Hits);
        Assert.Equal(RuleResult.NotReached, stopped.Evaluations[1].Result);

        // When the stopping rule does not match, later rules still run.
        Assert.Equal(["two"], engine.Evaluate(Message(subject: "go on")).Hits);
    }

    [Fact]
    public void Reject_ends_evaluation()
    {
        var engine = new RuleEngine(
            [
                Rule("block", """{"actions": {"reject": "Blocked by policy"}}""", priority: 1),
                Rule("after", """{"actions": {"bcc": "archive@example.com"}}""", priority: 2),
            ],
            new ListLogger());
        var o = engine.Evaluate(Message());
        Assert.Equal(["block"], o.Hits);
        Assert.Equal("550 5.7.1 Blocked by policy", o.Reject!.ToString());
        Assert.Empty(o.Bcc);
    }

    [Fact]
    public void Exceptions_stop_a_matching_rule()
    {
        var rule = Rule("ext", """
            {
              "conditions": [{"fromScope": "outside"}],
              "exceptIf": [{"senderDomainIs": "partner.org"}, {"headerMatches": {"name": "X-Trusted", "pattern": "^yes$"}}],
              "actions": {"prefixSubject": "[EXT]"}
            }
            """);
        var engine = new RuleEngine([rule], new ListLogger());

        Assert.Equal(["ext"], engine.Evaluate(Message(sender: "x@stranger.net")).Hits);

        var partner = engine.Evaluate(Message(sender: "x@partner.org"));
        Assert.True(partner.IsEmpty);
        Assert.Equal(RuleResult.Excepted, partner.Evaluations[0].Result);
        Assert.Equal("exceptIf[0] matched", partner.Evaluations[0].Detail);

        // Any one exception group is enough.
        var trusted = engine.Evaluate(Message(sender: "x@stranger.net", headers: [("X-Trusted", "yes")]));
        Assert.Equal("exceptIf[1] matched", trusted.Evaluations[0].Detail);
    }

    [Fact]
    public void Disabled_rules_are_skipped()
    {
        var engine = new RuleEngine([Rule("off", """{"actions": {"setScl": 9}}""", enabled: false)], new ListLogger());
        var o = engine.Evaluate(Message());
        Assert.True(o.IsEmpty);
        Assert.Equal(RuleResult.Disabled, o.Evaluations[0].Result);
    }

    [Fact]
    public void A_later_rule_sees_the_spam_score_an_earlier_rule_set()
    {
        var engine = new RuleEngine(
            [
                Rule("score", """{"conditions": {"subjectMatches": "viagra"}, "actions": {"setScl": 8}}""", priority: 1),
                Rule("hold", """{"conditions": {"sclAtLeast": 7}, "actions": {"quarantine": {"reason": "spam"}}}""", priority: 2),
            ],
            new ListLogger());
        var o = engine.Evaluate(Message(subject: "cheap viagra", scl: 1));
        Assert.Equal(["score", "hold"], o.Hits);
        Assert.True(o.Quarantine);
    }

    [Fact]
    public void Regex_timeout_counts_as_no_match_and_is_logged()
    {
        // Catastrophic backtracking: (a+)+ against a long run of a's with no match at the end.
        var log = new ListLogger();
        var engine = new RuleEngine([Rule("slow", """{"conditions": {"bodyMatches": "^(a+)+$"}, "actions": {"setScl": 9}}""")], log);
        var o = engine.Evaluate(Message(body: new string('a', 5000) + "!"));
        Assert.True(o.IsEmpty);
        Assert.Contains(log.Entries, e => e.Id.Id == (int)Rempart.Telemetry.EventIds.RuleRegexTimeout && e.Message.Contains("conditions.bodyMatches"));
    }

    [Fact]
    public void An_empty_rule_set_changes_nothing()
    {
        var o = RuleEngine.Empty.Evaluate(Message());
        Assert.True(o.IsEmpty);
        Assert.False(o.ChangesContent);
        Assert.Null(o.Reject);
    }

    [Fact]
    public void Parse_keeps_name_priority_and_enabled_from_the_record()
    {
        var rule = RuleParser.Parse(new TransportRuleRecord("Keep-1", 42, false, """{"actions": {"stopProcessing": true}}""", DateTimeOffset.UnixEpoch));
        Assert.Equal(("Keep-1", 42, false, true), (rule.Name, rule.Priority, rule.Enabled, rule.StopProcessing));
    }
}
