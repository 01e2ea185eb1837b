using System.Globalization;
using Rempart.Store;
using Rempart.Store.Auth;

namespace Rempart.Server.Tests;

/// <summary>The <c>rempart</c> command run in-process against temporary data folders and the real SQLite store.</summary>
public sealed class CliTests : IDisposable
{
    private const string Password = "Correct-Horse-Battery-42";

    private readonly CliHarness cli = new();

    public void Dispose() => cli.Dispose();

    [Fact]
    public async Task Domain_add_list_remove_lifecycle()
    {
        var add = await cli.RunAsync("domain", "add", "Example.COM");
        Expect(0, add);
        Assert.Contains("example.com", add.Out);

        var list = await cli.RunAsync("domain", "list");
        Expect(0, list);
        Assert.Contains("example.com", list.Out);

        var remove = await cli.RunAsync("domain", "remove", "example.com");
        Expect(0, remove);

        list = await cli.RunAsync("domain", "list");
        Expect(0, list);
        Assert.DoesNotContain("example.com", list.Out);

        var again = await cli.RunAsync("domain", "remove", "example.com");
        Expect(1, again);
        Assert.Contains("rempart domain list", again.Err);
    }

    [Fact]
    public async Task Global_options_are_accepted_after_the_command()
    {
        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await Rempart.Cli.Program.RunAsync(["domain", "list", "--data", cli.DataDir], new StringReader(""), output, error);
        Assert.Equal(0, code);
        Assert.Contains("example.com", output.ToString());
    }

    [Fact]
    public async Task Serve_with_a_bad_configuration_exits_2()
    {
        cli.WriteConfig("""{ "noSuchKey": 1 }""");
        var r = await cli.RunAsync("serve");
        Expect(2, r);
        Assert.Contains("noSuchKey", r.Err);
    }

    [Fact]
    public async Task Duplicate_domain_exits_1()
    {
        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        var dup = await cli.RunAsync("domain", "add", "example.com");
        Expect(1, dup);
        Assert.Contains("already exists", dup.Err);
    }

    [Theory]
    [InlineData("frobnicate")]
    [InlineData("domain")]
    [InlineData("domain", "add")]
    [InlineData("user", "list", "--bogus")]
    [InlineData("queue", "show", "abc")]
    public async Task Usage_errors_exit_2_and_point_to_help(params string[] args)
    {
        var r = await cli.RunAsync(args);
        Expect(2, r);
        Assert.Contains("--help", r.Err);
        Assert.Equal("", r.Out);
    }

    [Fact]
    public async Task Help_exits_0()
    {
        var r = await cli.RunAsync("user", "add", "--help");
        Expect(0, r);
        Assert.Contains("--password-stdin", r.Out);
    }

    [Fact]
    public async Task Invalid_names_are_usage_errors()
    {
        Expect(2, await cli.RunAsync("domain", "add", "bad_domain!"));
        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        var r = await cli.RunAsync("user", "add", "not-an-address");
        Expect(2, r);
        Assert.Contains("local@domain", r.Err);
        Expect(2, await cli.RunAsync("user", "add", "a..b@example.com"));
    }

    [Fact]
    public async Task User_add_in_missing_domain_exits_1_with_hint()
    {
        // No data folder at all yet.
        var r = await cli.RunAsync("user", "add", "alice@example.com");
        Expect(1, r);
        Assert.Contains("domain example.com is not served; add it with: rempart domain add example.com", r.Err);
        Assert.False(Directory.Exists(cli.DataDir), "a failed command must not create the data folder");

        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        r = await cli.RunAsync("user", "add", "alice@other.org");
        Expect(1, r);
        Assert.Contains("domain other.org is not served; add it with: rempart domain add other.org", r.Err);

        r = await cli.RunAsync("alias", "add", "info@other.org", "alice@example.com");
        Expect(1, r);
        Assert.Contains("rempart domain add other.org", r.Err);
    }

    [Fact]
    public async Task User_add_reads_password_from_stdin_and_never_prints_it()
    {
        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        var r = await cli.RunWithStdinAsync(Password + "\nsecond line is ignored\n", "user", "add", "Alice@Example.com", "--password-stdin", "--name", "Alice Liddell", "--admin");
        Expect(0, r);
        Assert.DoesNotContain(Password, r.All);
        Assert.DoesNotContain("Password:", r.Out);

        var list = await cli.RunAsync("user", "list");
        Assert.DoesNotContain(Password, list.All);
        Assert.Contains("alice@example.com", list.Out);
        Assert.Contains("Alice Liddell", list.Out);

        await using var store = await cli.OpenStoreAsync();
        var account = await store.Directory.GetAccountAsync("alice@example.com");
        Assert.NotNull(account);
        Assert.True(account.IsAdmin);
        Assert.Equal("Alice Liddell", account.DisplayName);
        Assert.DoesNotContain(Password, account.PasswordHash);
        Assert.True(PasswordHasher.Verify(Password, account.PasswordHash));
        Assert.False(PasswordHasher.Verify("second line is ignored", account.PasswordHash));
    }

    [Fact]
    public async Task User_add_without_password_stdin_generates_one_printed_once()
    {
        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        var r = await cli.RunAsync("user", "add", "bob@example.com");
        Expect(0, r);
        var line = r.Out.Split('\n').Single(l => l.StartsWith("Password: ", StringComparison.Ordinal));
        var generated = line["Password: ".Length..].Trim();
        Assert.True(generated.Length >= 16);

        var list = await cli.RunAsync("user", "list");
        Assert.DoesNotContain(generated, list.All);

        await using var store = await cli.OpenStoreAsync();
        var account = await store.Directory.GetAccountAsync("bob@example.com");
        Assert.NotNull(account);
        Assert.True(PasswordHasher.Verify(generated, account.PasswordHash));
    }

    [Fact]
    public async Task Password_stdin_must_not_be_empty_or_short()
    {
        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        var empty = await cli.RunWithStdinAsync("", "user", "add", "carol@example.com", "--password-stdin");
        Expect(2, empty);
        Assert.Contains("no password on stdin", empty.Err);

        var shortOne = await cli.RunWithStdinAsync("abc\n", "user", "add", "carol@example.com", "--password-stdin");
        Expect(2, shortOne);
        Assert.DoesNotContain("abc\n", shortOne.All);

        await using var store = await cli.OpenStoreAsync();
        Assert.Null(await store.Directory.GetAccountAsync("carol@example.com"));
    }

    [Fact]
    public async Task Passwd_changes_the_password()
    {
        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        Expect(0, await cli.RunWithStdinAsync(Password + "\n", "user", "add", "dave@example.com", "--password-stdin"));
        const string NewPassword = "An0ther-Long-Passphrase";
        var r = await cli.RunWithStdinAsync(NewPassword + "\r\n", "user", "passwd", "dave@example.com", "--password-stdin");
        Expect(0, r);
        Assert.DoesNotContain(NewPassword, r.All);

        var missing = await cli.RunWithStdinAsync(NewPassword + "\n", "user", "passwd", "nobody@example.com", "--password-stdin");
        Expect(1, missing);
        Assert.Contains("rempart user list", missing.Err);

        await using var store = await cli.OpenStoreAsync();
        var account = await store.Directory.GetAccountAsync("dave@example.com");
        Assert.NotNull(account);
        Assert.True(PasswordHasher.Verify(NewPassword, account.PasswordHash));
        Assert.False(PasswordHasher.Verify(Password, account.PasswordHash));
    }

    [Fact]
    public async Task Duplicate_user_exits_1()
    {
        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        Expect(0, await cli.RunAsync("user", "add", "erin@example.com"));
        var dup = await cli.RunAsync("user", "add", "erin@example.com");
        Expect(1, dup);
        Assert.Contains("already exists", dup.Err);
    }

    [Fact]
    public async Task Quota_is_set_at_creation_and_changed_keeping_omitted_limits()
    {
        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        Expect(0, await cli.RunAsync("user", "add", "frank@example.com", "--quota-bytes", "10M", "--quota-messages", "500"));
        await AssertQuota("frank@example.com", 10L * 1024 * 1024, 500);

        var r = await cli.RunAsync("user", "quota", "frank@example.com", "--messages", "50");
        Expect(0, r);
        Assert.Contains("50", r.Out);
        await AssertQuota("frank@example.com", 10L * 1024 * 1024, 50);

        Expect(0, await cli.RunAsync("user", "quota", "frank@example.com", "--bytes", "2GiB", "--messages", "unlimited"));
        await AssertQuota("frank@example.com", 2L * 1024 * 1024 * 1024, null);

        Expect(0, await cli.RunAsync("user", "quota", "frank@example.com", "--bytes", "unlimited"));
        await AssertQuota("frank@example.com", null, null);

        var show = await cli.RunAsync("user", "quota", "frank@example.com");
        Expect(0, show);
        Assert.Contains("unlimited", show.Out);

        Expect(2, await cli.RunAsync("user", "quota", "frank@example.com", "--bytes", "lots"));
        Expect(2, await cli.RunAsync("user", "quota", "frank@example.com", "--messages", "-1"));
        Expect(2, await cli.RunAsync("user", "add", "gina@example.com", "--quota-bytes", "0"));
        Expect(1, await cli.RunAsync("user", "quota", "nobody@example.com", "--bytes", "1G"));
    }

    [Fact]
    public async Task Disable_and_enable_flip_the_account()
    {
        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        Expect(0, await cli.RunAsync("user", "add", "hank@example.com"));

        Expect(0, await cli.RunAsync("user", "disable", "hank@example.com"));
        Assert.True(await IsDisabled("hank@example.com"));
        Assert.Contains("disabled", (await cli.RunAsync("user", "list")).Out);

        Expect(0, await cli.RunAsync("user", "enable", "hank@example.com"));
        Assert.False(await IsDisabled("hank@example.com"));

        Expect(1, await cli.RunAsync("user", "disable", "nobody@example.com"));
    }

    [Fact]
    public async Task User_remove_and_sendas()
    {
        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        Expect(0, await cli.RunAsync("user", "add", "ivy@example.com"));
        Expect(0, await cli.RunAsync("user", "sendas", "ivy@example.com", "sales@example.com"));
        Expect(1, await cli.RunAsync("user", "sendas", "nobody@example.com", "sales@example.com"));
        await using (var store = await cli.OpenStoreAsync())
        {
            var ivy = await store.Directory.GetAccountAsync("ivy@example.com");
            Assert.NotNull(ivy);
            Assert.True(await store.Directory.CanSendAsAsync(ivy.Id, "sales@example.com"));
            Assert.False(await store.Directory.CanSendAsAsync(ivy.Id, "ceo@example.com"));
        }

        Expect(0, await cli.RunAsync("user", "remove", "ivy@example.com"));
        Expect(1, await cli.RunAsync("user", "remove", "ivy@example.com"));
        await using (var store = await cli.OpenStoreAsync())
        {
            Assert.Null(await store.Directory.GetAccountAsync("ivy@example.com"));
        }
    }

    [Fact]
    public async Task Alias_and_group_lifecycle()
    {
        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        Expect(0, await cli.RunAsync("user", "add", "jane@example.com"));
        Expect(0, await cli.RunAsync("user", "add", "kim@example.com"));

        Expect(0, await cli.RunAsync("alias", "add", "info@example.com", "jane@example.com"));
        Expect(0, await cli.RunAsync("group", "add", "team@example.com", "jane@example.com", "kim@example.com", "ext@partner.org"));

        var dup = await cli.RunAsync("alias", "add", "jane@example.com", "kim@example.com");
        Expect(1, dup);
        Assert.Contains("already exists", dup.Err);
        Expect(1, await cli.RunAsync("group", "add", "info@example.com", "kim@example.com"));
        Expect(2, await cli.RunAsync("alias", "add", "info2@example.com"));

        var aliases = await cli.RunAsync("alias", "list");
        Assert.Contains("info@example.com", aliases.Out);
        Assert.DoesNotContain("team@example.com", aliases.Out);
        var groups = await cli.RunAsync("group", "list", "--domain", "example.com");
        Assert.Contains("team@example.com", groups.Out);
        Assert.Contains("ext@partner.org", groups.Out);

        await using (var store = await cli.OpenStoreAsync())
        {
            var kim = await store.Directory.GetAccountAsync("kim@example.com");
            var team = await store.Directory.ResolveRecipientAsync("team@example.com");
            Assert.Equal(RecipientStatus.Local, team.Status);
            Assert.Contains(kim!.Id, team.AccountIds);
            Assert.Contains("ext@partner.org", team.ForwardTo);
        }

        var wrongKind = await cli.RunAsync("alias", "remove", "team@example.com");
        Expect(1, wrongKind);
        Assert.Contains("rempart group remove team@example.com", wrongKind.Err);

        Expect(0, await cli.RunAsync("group", "remove", "team@example.com"));
        Expect(0, await cli.RunAsync("alias", "remove", "info@example.com"));
        Expect(1, await cli.RunAsync("alias", "remove", "info@example.com"));
    }

    [Fact]
    public async Task Catchall_set_show_clear()
    {
        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        Expect(0, await cli.RunAsync("user", "add", "liz@example.com"));
        Expect(0, await cli.RunAsync("domain", "catchall", "example.com", "liz@example.com"));
        Assert.Equal("liz@example.com", (await cli.RunAsync("domain", "catchall", "example.com")).Out.Trim());
        Expect(2, await cli.RunAsync("domain", "catchall", "example.com", "liz@example.com", "--clear"));
        Expect(1, await cli.RunAsync("domain", "catchall", "other.org", "liz@example.com"));
        Expect(0, await cli.RunAsync("domain", "catchall", "example.com", "--clear"));
        Assert.Equal("(none)", (await cli.RunAsync("domain", "catchall", "example.com")).Out.Trim());
    }

    [Fact]
    public async Task Read_commands_on_a_missing_data_folder_fail_without_creating_it()
    {
        var r = await cli.RunAsync("user", "list");
        Expect(1, r);
        Assert.Contains("--data", r.Err);
        Assert.False(Directory.Exists(cli.DataDir));
    }

    [Fact]
    public async Task Status_reports_counts_and_a_stopped_server()
    {
        cli.WriteConfig($$"""{ "listeners": { "http": { "port": {{CliHarness.FreePort()}} } } }""");
        var empty = await cli.RunAsync("status");
        Expect(0, empty);
        Assert.Contains("not initialized", empty.Out);

        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        Expect(0, await cli.RunAsync("user", "add", "mia@example.com"));
        Expect(0, await cli.RunAsync("user", "add", "ned@example.com"));
        Expect(0, await cli.RunAsync("user", "disable", "ned@example.com"));

        var r = await cli.RunAsync("status");
        Expect(0, r);
        Assert.Contains(cli.DataDir, r.Out);
        Assert.Contains("rempart.json", r.Out);
        Assert.Matches(@"Schema version\s+\d+", r.Out);
        Assert.Matches(@"Domains\s+1", r.Out);
        Assert.Matches(@"Accounts\s+2 \(1 disabled\)", r.Out);
        Assert.Matches(@"Messages\s+0", r.Out);
        Assert.Matches(@"Search index\s+up to date", r.Out);
        Assert.Matches(@"Queue\s+0 entries", r.Out);
        Assert.Matches(@"Server\s+not running", r.Out);
        Assert.Matches(@"Protection\s+on", r.Out);
        Assert.Matches(@"Antivirus\s+off \(no clamd configured", r.Out);
        Assert.Matches(@"Mail-flow rules\s+0 enabled of 0", r.Out);
        Assert.Matches(@"Quarantine\s+0 messages held", r.Out);
    }

    [Fact]
    public async Task Status_says_when_the_configured_virus_scanner_is_down()
    {
        var socket = Path.Combine(cli.Root, "no-clamd.sock");
        cli.WriteConfig($$"""{ "listeners": { "http": { "port": {{CliHarness.FreePort()}} } }, "protection": { "antivirus": { "clamd": "unix:{{socket}}", "timeout": "00:00:02" } } }""");
        var r = await cli.RunAsync("status");
        Expect(0, r);
        Assert.Matches(@"Antivirus\s+DOWN: .+mail is deferred with 451", r.Out.ReplaceLineEndings(" "));
    }

    [Fact]
    public async Task Status_sees_a_running_server_through_healthz()
    {
        var (port, served) = CliHarness.ServeOneHealthz();
        cli.WriteConfig($$"""{ "listeners": { "http": { "port": {{port}} } } }""");
        var r = await cli.RunAsync("status");
        await served;
        Expect(0, r);
        Assert.Matches(@"Server\s+running \(http://127\.0\.0\.1:\d+/healthz answered 200", r.Out);
    }

    [Fact]
    public async Task Config_check_and_show()
    {
        var ok = await cli.RunAsync("config", "check");
        Expect(0, ok);
        Assert.StartsWith("OK", ok.Out, StringComparison.Ordinal);

        var file = Path.Combine(cli.Root, "custom.json");
        File.WriteAllText(file, """
            {
              "hostName": "mail.example.com",
              "routes": [ { "name": "relay", "domains": ["*.corp.example"], "smartHost": "relay.example.net:587", "tls": "required", "username": "u1", "password": "S3cret-Relay-Pw" } ]
            }
            """);
        Expect(0, await cli.RunAsync("--config", file, "config", "check"));
        var show = await cli.RunAsync("config", "show", "--config", file);
        Expect(0, show);
        Assert.Contains("mail.example.com", show.Out);
        Assert.Contains("relay.example.net:587", show.Out);
        Assert.DoesNotContain("S3cret-Relay-Pw", show.Out);
        Assert.Contains("(redacted)", show.Out);

        var route = await cli.RunAsync("--config", file, "route", "test", "bob@eu.corp.example");
        Expect(0, route);
        Assert.Contains("relay", route.Out);
        Assert.DoesNotContain("S3cret-Relay-Pw", route.All);
        var mx = await cli.RunAsync("--config", file, "route", "test", "bob@corp.example");
        Expect(0, mx);
        Assert.Contains("MX", mx.Out);

        File.WriteAllText(file, """{ "hostName": "mail.example.com", "smtp": { "maxRecipients": 0 } }""");
        var bad = await cli.RunAsync("--config", file, "config", "check");
        Expect(2, bad);
        Assert.Contains("maxRecipients", bad.Err);
        Expect(2, await cli.RunAsync("--config", file, "domain", "list"));
        Expect(2, await cli.RunAsync("--config", Path.Combine(cli.Root, "missing.json"), "config", "check"));
    }

    [Fact]
    public async Task Route_test_knows_local_domains()
    {
        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        var r = await cli.RunAsync("route", "test", "someone@example.com");
        Expect(0, r);
        Assert.Contains("local", r.Out);
    }

    [Fact]
    public async Task Queue_list_show_retry_delete()
    {
        Expect(0, await cli.RunAsync("domain", "add", "example.com"));
        long id;
        await using (var store = await cli.OpenStoreAsync())
        {
            var blob = await store.Blobs.PutAsync("Subject: hi\r\n\r\nhello\r\n"u8.ToArray());
            var message = new OutboundMessage("alice@example.com", [new QueueRecipient("bob@remote.example")], blob, DateTimeOffset.UtcNow);
            id = (await store.Queue.EnqueueAsync(message)).Single();
        }

        var idText = id.ToString(CultureInfo.InvariantCulture);
        var list = await cli.RunAsync("queue", "list");
        Expect(0, list);
        Assert.Contains("remote.example", list.Out);

        var show = await cli.RunAsync("queue", "show", idText, "--headers");
        Expect(0, show);
        Assert.Contains("bob@remote.example", show.Out);
        Assert.Contains("alice@example.com", show.Out);
        Assert.Matches(@"Subject\s+hi", show.Out);

        Expect(0, await cli.RunAsync("queue", "retry", idText));
        Expect(0, await cli.RunAsync("queue", "retry", "--all"));
        Expect(2, await cli.RunAsync("queue", "retry"));
        Expect(2, await cli.RunAsync("queue", "retry", idText, "--all"));
        Expect(1, await cli.RunAsync("queue", "retry", "999999"));
        Expect(1, await cli.RunAsync("queue", "show", "999999"));

        Expect(0, await cli.RunAsync("queue", "delete", idText));
        Expect(1, await cli.RunAsync("queue", "delete", idText));
        var after = await cli.RunAsync("queue", "list");
        Expect(0, after);
        Assert.DoesNotContain("remote.example", after.Out);
    }

    /// <summary>Asserts the exit code and shows the command's output when it differs.</summary>
    private static void Expect(int code, CliResult r)
    {
        if (r.Code != code)
        {
            Assert.Fail($"exit code {r.Code}, expected {code}\nstdout: {r.Out}\nstderr: {r.Err}");
        }
    }

    private async Task AssertQuota(string address, long? bytes, long? messages)
    {
        await using var store = await cli.OpenStoreAsync();
        var account = await store.Directory.GetAccountAsync(address);
        Assert.NotNull(account);
        Assert.Equal(bytes, account.MaxBytes);
        Assert.Equal(messages, account.MaxMessages);
    }

    private async Task<bool> IsDisabled(string address)
    {
        await using var store = await cli.OpenStoreAsync();
        return (await store.Directory.GetAccountAsync(address))!.Disabled;
    }
}
