using Rempart.Protection.Rules;
using Rempart.Store;

namespace Rempart.Protection.Tests.Rules;

/// <summary>Invalid definitions get a clear message naming the JSON path at fault.</summary>
public sealed class RuleParserTests
{
    /// <summary>A definition and a piece of the message it must produce.</summary>
    public static TheoryData<string, string> Invalid => new()
    {
        { "", "not valid JSON" },
        { "{\"actions\": {\"setScl\": 1}", "not valid JSON at line 1" },
        { "[]", "(root): expected an object" },
        { """{"conditions": {"subjectMatches": "x"}}""", "actions: missing" },
        { """{"actions": {}}""", "actions: no action given" },
        { """{"actions": [], "conditions": []}""", "actions: no action given" },
        { """{"action": {"setScl": 1}}""", "action: unknown property (did you mean \"actions\"?)" },
        { """{"conditions": [{"subjectMatches": "ok"}, {"subjectMatches": "(unclosed"}], "actions": {"setScl": 1}}""", "conditions[1].subjectMatches: invalid regular expression \"(unclosed\"" },
        { """{"conditions": {"subjectMatch": "x"}, "actions": {"setScl": 1}}""", "conditions.subjectMatch: unknown condition (did you mean \"subjectMatches\"?)" },
        { """{"conditions": [{}], "actions": {"setScl": 1}}""", "conditions[0]: empty condition object" },
        { """{"conditions": ["x"], "actions": {"setScl": 1}}""", "conditions[0]: expected an object" },
        { """{"conditions": {"senderMatches": []}, "actions": {"setScl": 1}}""", "conditions.senderMatches: empty list" },
        { """{"conditions": {"senderMatches": ["a@b.c", 5]}, "actions": {"setScl": 1}}""", "conditions.senderMatches[1]: expected a string, found a number" },
        { """{"conditions": {"senderMatches": "/[/"}, "actions": {"setScl": 1}}""", "conditions.senderMatches: invalid regular expression" },
        { """{"conditions": {"senderDomainIs": ["ok.org", "bad_domain!"]}, "actions": {"setScl": 1}}""", "conditions.senderDomainIs[1]: \"bad_domain!\": not a domain name" },
        { """{"conditions": {"fromScope": "internal"}, "actions": {"setScl": 1}}""", "conditions.fromScope: expected \"inside\" or \"outside\"" },
        { """{"conditions": {"headerMatches": {"name": "X-A"}}, "actions": {"setScl": 1}}""", "conditions.headerMatches.pattern: missing" },
        { """{"conditions": {"headerMatches": {"name": "Bad Name", "pattern": "x"}}, "actions": {"setScl": 1}}""", "conditions.headerMatches.name: \"Bad Name\" is not a header field name" },
        { """{"conditions": {"attachmentTypeIs": ".exe"}, "actions": {"setScl": 1}}""", "conditions.attachmentTypeIs: \".exe\": a file type is 1 to 32 letters or digits" },
        { """{"conditions": {"sizeOver": -1}, "actions": {"setScl": 1}}""", "conditions.sizeOver: expected a size in bytes" },
        { """{"conditions": {"sizeOver": "ten"}, "actions": {"setScl": 1}}""", "conditions.sizeOver: expected a size in bytes" },
        { """{"conditions": {"sclAtLeast": 10}, "actions": {"setScl": 1}}""", "conditions.sclAtLeast: expected a whole number from 0 to 9, found 10" },
        { """{"exceptIf": {"bodyMatches": ""}, "actions": {"setScl": 1}}""", "exceptIf.bodyMatches: empty regular expression" },
        { """{"actions": {"reject": {"code": 250, "text": "x"}}}""", "actions.reject.code: expected an SMTP reply code from 400 to 599" },
        { """{"actions": {"reject": {"code": 550}}}""", "actions.reject.text: missing" },
        { """{"actions": {"reject": {"code": 450, "enhanced": "5.7.1", "text": "x"}}}""", "actions.reject: the enhanced code 5.7.1 and the reply code 450 disagree" },
        { """{"actions": {"reject": {"enhanced": "5.7", "text": "x"}}}""", "actions.reject.enhanced: expected an enhanced status code" },
        { """{"actions": {"reject": "two\nlines"}}""", "actions.reject: the reply text must be 1 to 400 printable ASCII characters" },
        { """{"actions": {"reject": "no", "quarantine": true}}""", "\"reject\" cannot be combined with \"quarantine\"" },
        { """{"actions": {"redirectTo": ["legal@example.com", "not-an-address"]}}""", "actions.redirectTo[1]: \"not-an-address\": not an email address" },
        { """{"actions": {"bcc": "a b@example.com"}}""", "actions.bcc: \"a b@example.com\": not an email address" },
        { """{"actions": [{"addHeader": {"name": "X-A"}}]}""", "actions[0].addHeader.value: missing" },
        { """{"actions": {"addHeader": {"name": "X:A", "value": "1"}}}""", "actions.addHeader.name: \"X:A\" is not a header field name" },
        { """{"actions": {"addHeader": {"name": "X-A", "value": "a\r\nBcc: evil@x.org"}}}""", "actions.addHeader.value: expected one line" },
        { """{"actions": {"removeHeader": ""}}""", "actions.removeHeader: \"\" is not a header field name" },
        { """{"actions": {"prefixSubject": 5}}""", "actions.prefixSubject: expected a string, found a number" },
        { """{"actions": {"appendDisclaimer": {}}}""", "actions.appendDisclaimer: expected {\"text\": \"...\"}" },
        { """{"actions": {"appendDisclaimer": {"text": ""}}}""", "actions.appendDisclaimer.text: expected a text of 1 to 8000 characters" },
        { """{"actions": {"routeVia": ""}}""", "actions.routeVia: expected the name of an outbound route" },
        { """{"actions": {"setScl": 12}}""", "actions.setScl: expected a whole number from -1 to 9, found 12" },
        { """{"actions": {"stopProcessing": "yes"}}""", "actions.stopProcessing: expected true or false, found \"yes\"" },
        { """{"actions": [{"setScl": 1}, {"setScl": 2}]}""", "actions[1].setScl: \"setScl\" is already set at actions[0].setScl" },
        { """{"actions": {"quarantine": {"why": "x"}}}""", "actions.quarantine.why: unknown property; expected reason" },
        { """{"actions": {"frobnicate": 1}}""", "actions.frobnicate: unknown action; actions are reject, quarantine" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void Invalid_definitions_name_the_field(string json, string expected)
    {
        var errors = RuleParser.Validate(json);
        Assert.True(errors.Any(e => e.Contains(expected, StringComparison.Ordinal)), $"expected \"{expected}\" in:{Environment.NewLine}{string.Join(Environment.NewLine, errors)}");
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        var errors = RuleParser.Validate("""{"conditions": {"subjectMatches": "(", "sclAtLeast": 99}, "actions": {"setScl": 42}}""");
        Assert.Equal(3, errors.Count);
    }

    [Fact]
    public void Parse_throws_with_the_rule_name_and_path()
    {
        var record = new TransportRuleRecord("x", 1, true, """{"conditions": [{"sizeOver": 1}, {"subjectMatches": "[a-"}], "actions": {"setScl": 1}}""", DateTimeOffset.UnixEpoch);
        var ex = Assert.Throws<RuleException>(() => RuleParser.Parse(record));
        Assert.StartsWith("rule 'x': conditions[1].subjectMatches: invalid regular expression", ex.Message);
        Assert.Single(ex.Errors);
    }

    [Theory]
    [InlineData("")]
    [InlineData("-lead")]
    [InlineData("has space")]
    [InlineData("semi;colon")]
    public void Bad_rule_names_are_refused(string name)
    {
        Assert.False(RuleParser.IsValidName(name));
        var ex = Assert.Throws<RuleException>(() => RuleParser.Parse(new TransportRuleRecord(name, 1, true, """{"actions": {"setScl": 1}}""", DateTimeOffset.UnixEpoch)));
        Assert.Contains("name:", ex.Message);
    }

    [Fact]
    public void Route_names_are_checked_against_the_configuration_when_given()
    {
        const string json = """{"actions": {"routeVia": "SmartHost"}}""";
        Assert.Empty(RuleParser.Validate(json));
        Assert.Empty(RuleParser.Validate(json, ["smarthost", "backup"]));
        Assert.Contains("actions.routeVia: no route \"SmartHost\" in the configuration; routes are backup", RuleParser.Validate(json, ["backup"])[0]);
        Assert.Contains("the configuration defines no routes", RuleParser.Validate(json, [])[0]);
    }

    [Fact]
    public void A_full_rule_with_comments_and_trailing_commas_is_valid()
    {
        const string json = """
            {
              // Tag mail from outside and keep a copy.
              "description": "external mail",
              "conditions": [{"fromScope": "outside", "toScope": "inside"}],
              "exceptIf": [{"senderDomainIs": ["partner.org"]}],
              "actions": [
                {"prefixSubject": "[EXTERNAL]"},
                {"addHeader": {"name": "X-External", "value": "yes"}},
                {"bcc": ["archive@example.com"]},
                {"stopProcessing": true},
              ],
            }
            """;
        Assert.Empty(RuleParser.Validate(json));
    }

    [Fact]
    public void Oversized_definitions_are_refused()
    {
        var errors = RuleParser.Validate("{\"description\": \"" + new string('x', RuleParser.MaxDefinitionLength) + "\", \"actions\": {\"setScl\": 1}}");
        Assert.Contains("at most", errors.Single());
    }
}
