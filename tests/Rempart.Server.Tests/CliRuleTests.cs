namespace Rempart.Server.Tests;

/// <summary><c>rempart rule ...</c> in-process against a temporary data folder and the real SQLite store.</summary>
public sealed class CliRuleTests : IDisposable
{
    private const string External = """
        {
          "description": "Tag mail from outside",
          "conditions": [{"fromScope": "outside"}],
          "exceptIf": [{"senderDomainIs": "partner.org"}],
          "actions": [{"prefixSubject": "[EXT]"}, {"addHeader": {"name": "X-External", "value": "yes"}}]
        }
        """;

    private const string Message =
        "From: Mallory <mallory@stranger.net>\r\n" +
        "To: alice@example.com\r\n" +
        "Subject: Invoice 1234\r\n" +
        "MIME-Version: 1.0\r\n" +
        "Content-Type: text/plain; charset=us-ascii\r\n" +
        "\r\n" +
        "Please pay.\r\n";

    private readonly CliHarness cli = new();

    public void Dispose() => cli.Dispose();

    private string WriteFile(string name, string content)
    {
        var path = Path.Combine(cli.Root, name);
        File.WriteAllText(path, content);
        return path;
    }

    private static void Expect(int code, CliResult r) => Assert.True(code == r.Code, $"expected exit {code}, got {r.Code}{Environment.NewLine}{r.All}");

    [Fact]
    public async Task Rule_add_list_show_test_remove_lifecycle()
    {
        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        var add = await cli.RunAsync("rule", "add", "tag-external", "--priority", "5", "--file", WriteFile("rule.json", External), "--comment", "first rule");
        Expect(0, add);
        Assert.Contains("Added rule tag-external (priority 5, enabled)", add.Out);

        // Definition from standard input; priority defaults to after the last rule.
        var stdin = await cli.RunWithStdinAsync("""{"conditions": {"sclAtLeast": 7}, "actions": {"quarantine": {"reason": "spam"}}}""", "rule", "add", "hold-spam");
        Expect(0, stdin);
        Assert.Contains("priority 15", stdin.Out);

        var list = await cli.RunAsync("rule", "list");
        Expect(0, list);
        var lines = list.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("tag-external", lines[1]);
        Assert.Contains("fromScope except senderDomainIs", lines[1]);
        Assert.Contains("prefixSubject,addHeader", lines[1]);
        Assert.Contains("first rule", lines[1]);
        Assert.Contains("hold-spam", lines[2]);

        var show = await cli.RunAsync("rule", "show", "TAG-EXTERNAL");
        Expect(0, show);
        Assert.Contains("Priority", show.Out);
        Assert.Contains("\"fromScope\": \"outside\"", show.Out);

        var eml = WriteFile("m.eml", Message);
        var test = await cli.RunAsync("rule", "test", "--all", "--file", eml, "--output", Path.Combine(cli.Root, "out.eml"));
        Expect(0, test);
        Assert.Contains("mallory@stranger.net (outside)", test.Out);
        Assert.Contains("alice@example.com (inside)", test.Out);
        Assert.Contains("Matched: tag-external", test.Out);
        Assert.Contains("subject prefix:  [EXT]", test.Out);
        Assert.Contains("conditions.sclAtLeast did not match", test.Out);
        Assert.Contains("Subject: [EXT] Invoice 1234", File.ReadAllText(Path.Combine(cli.Root, "out.eml")));

        var partner = await cli.RunAsync("rule", "test", "tag-external", "--file", eml, "--sender", "carol@partner.org", "--recipient", "alice@example.com", "--scl", "8");
        Expect(0, partner);
        Assert.Contains("excepted", partner.Out);
        Assert.Contains("No rule matched", partner.Out);

        var spam = await cli.RunAsync("rule", "test", "hold-spam", "--file", eml, "--scl", "8");
        Expect(0, spam);
        Assert.Contains("quarantine:      spam", spam.Out);

        Expect(0, await cli.RunAsync("rule", "remove", "tag-external"));
        list = await cli.RunAsync("rule", "list");
        Assert.DoesNotContain("tag-external", list.Out);
        var again = await cli.RunAsync("rule", "remove", "tag-external");
        Expect(1, again);
        Assert.Contains("rempart rule list", again.Err);
    }

    [Fact]
    public async Task Invalid_rule_exits_2_with_the_path_and_changes_nothing()
    {
        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        var bad = WriteFile("bad.json", """{"conditions": [{"sizeOver": 10}, {"subjectMatches": "(oops"}], "actions": {"setScl": 12}}""");
        var r = await cli.RunAsync("rule", "add", "broken", "--file", bad);
        Expect(2, r);
        Assert.Contains("rule 'broken': conditions[1].subjectMatches: invalid regular expression", r.Err);
        Assert.Contains("rule 'broken': actions.setScl: expected a whole number from -1 to 9, found 12", r.Err);

        var syntax = await cli.RunWithStdinAsync("{\"actions\": ", "rule", "add", "broken");
        Expect(2, syntax);
        Assert.Contains("not valid JSON", syntax.Err);

        Expect(2, await cli.RunAsync("rule", "add", "bad name!", "--file", bad));

        var list = await cli.RunAsync("rule", "list");
        Expect(0, list);
        Assert.DoesNotContain("broken", list.Out);
    }

    [Fact]
    public async Task Duplicate_needs_replace_and_enable_disable_round_trip()
    {
        var file = WriteFile("rule.json", External);
        Expect(0, await cli.RunAsync("rule", "add", "ext", "--priority", "3", "--file", file));
        var dup = await cli.RunAsync("rule", "add", "EXT", "--file", file);
        Expect(1, dup);
        Assert.Contains("--replace", dup.Err);

        var replaced = await cli.RunAsync("rule", "add", "ext", "--file", file, "--replace", "--disabled");
        Expect(0, replaced);
        Assert.Contains("Replaced rule ext (priority 3, disabled)", replaced.Out);

        Assert.Contains("disabled", (await cli.RunAsync("rule", "list")).Out);
        Expect(0, await cli.RunAsync("rule", "enable", "ext"));
        Assert.Contains("enabled", (await cli.RunAsync("rule", "show", "ext")).Out);
        Expect(0, await cli.RunAsync("rule", "disable", "ext"));

        // The store holds what the CLI wrote.
        await using var store = await cli.OpenStoreAsync();
        var stored = Assert.Single(await store.Protection.ListRulesAsync());
        Assert.False(stored.Enabled);
        Assert.Equal(External, stored.Definition);
    }

    [Fact]
    public async Task Route_names_are_checked_when_a_configuration_is_in_use()
    {
        cli.WriteConfig("""{ "routes": [ { "name": "relay", "domains": ["*"], "smartHost": "127.0.0.1:2525" } ] }""");
        var unknown = await cli.RunWithStdinAsync("""{"actions": {"routeVia": "nowhere"}}""", "rule", "add", "r1");
        Expect(2, unknown);
        Assert.Contains("actions.routeVia: no route \"nowhere\" in the configuration; routes are relay", unknown.Err);
        Expect(0, await cli.RunWithStdinAsync("""{"actions": {"routeVia": "relay"}}""", "rule", "add", "r1"));
    }

    [Fact]
    public async Task Test_needs_a_name_or_all()
    {
        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        var eml = WriteFile("m.eml", Message);
        Expect(2, await cli.RunAsync("rule", "test", "--file", eml));
        var missing = await cli.RunAsync("rule", "test", "nope", "--file", eml);
        Expect(1, missing);
        Assert.Contains("no rule nope", missing.Err);
    }
}
