using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Common.Configuration;
using Rempart.Store.Sqlite;
using Rempart.Monitoring.Tests.Alerting;

namespace Rempart.Integration.Tests.Monitoring;

/// <summary>A Dovecot (IMAP, POP3, TLS certificate valid 90 days) shared by the tests of <see cref="ProbeInteropTests"/>.</summary>
public sealed class ProbeDovecotFixture : IAsyncLifetime
{
    public const string User = "probe";
    public const string Password = "probe-pass-123";

    public ProbeDovecot Dovecot { get; private set; } = null!;

    public async Task InitializeAsync() => Dovecot = await ProbeDovecot.StartAsync(90, (User, Password));

    public async Task DisposeAsync()
    {
        if (Dovecot is not null)
        {
            await Dovecot.DisposeAsync();
        }
    }
}

/// <summary>
/// <c>rempart probe</c> run as a separate process against Debian's Dovecot and Postfix and against a Rempart server
/// on loopback; <c>rempart store scrub</c> against a real server's damaged store.
/// </summary>
[Collection(InteropCollection.Name)]
public sealed class ProbeInteropTests(ProbeDovecotFixture fixture) : IClassFixture<ProbeDovecotFixture>
{
    private const string Pw = ProbeDovecotFixture.Password + "\n";

    /// <summary>Probe runs need no data folder: this one never exists.</summary>
    private static readonly string NoData = Path.Combine(Path.GetTempPath(), "rempart-probe-nodata-" + Guid.NewGuid().ToString("n")[..8]);

    private ProbeDovecot Dovecot => fixture.Dovecot;

    [Fact]
    public async Task Dovecot_imap_and_pop3_pass_with_starttls_implicit_tls_login_and_a_certificate_report()
    {
        var r = await ProbeAsync(Pw,
            Url("imap+starttls", Dovecot.Imap), Url("imaps", Dovecot.Imaps), Url("pop3+starttls", Dovecot.Pop3), Url("pop3s", Dovecot.Pop3s),
            "--insecure", "--password-stdin", "--json");
        Assert.True(r.ExitCode == 0, r.ToString() + Dovecot.Log);
        var results = Results(r);
        Assert.Equal(4, results.Count);
        foreach (var result in results)
        {
            Assert.Equal("ok", (string)result["status"]!);
            Assert.True((bool)result["success"]!);
            var cert = result["certificate"]!;
            Assert.Equal("CN=" + ProbeDovecot.CertificateName, (string)cert["subject"]!);
            Assert.False((bool)cert["chainValid"]!);
            Assert.False((bool)cert["nameMatches"]!);
            Assert.InRange((double)cert["daysLeft"]!, 88, 90);
            Assert.DoesNotContain(ProbeDovecotFixture.Password, result.ToJsonString(), StringComparison.Ordinal);
        }

        Assert.StartsWith("logged in, INBOX selected", (string)results[0]["detail"]!, StringComparison.Ordinal);
        Assert.StartsWith("logged in, INBOX selected", (string)results[1]["detail"]!, StringComparison.Ordinal);
        Assert.StartsWith("USER/PASS and STAT accepted, 0 messages", (string)results[2]["detail"]!, StringComparison.Ordinal);
        Assert.StartsWith("USER/PASS and STAT accepted", (string)results[3]["detail"]!, StringComparison.Ordinal);
        var imapSteps = results[0]["steps"]!.AsArray().Select(s => (string)s!).ToList();
        Assert.Contains(imapSteps, s => s.StartsWith("STARTTLS: OK", StringComparison.Ordinal));
        Assert.Contains(imapSteps, s => s.StartsWith("tls: Tls", StringComparison.Ordinal));
        Assert.Contains(imapSteps, s => s.StartsWith("SELECT INBOX: OK", StringComparison.Ordinal));

        // The same run as a table, as an operator sees it.
        var table = await ProbeAsync(Pw, Url("imaps", Dovecot.Imaps), "--insecure", "--password-stdin");
        Assert.Equal(0, table.ExitCode);
        Assert.Contains("TARGET", table.Stdout, StringComparison.Ordinal);
        Assert.Contains("imaps://probe@127.0.0.1:" + Dovecot.Imaps.ToString(CultureInfo.InvariantCulture), table.Stdout, StringComparison.Ordinal);
        Assert.Contains(" OK ", table.Stdout, StringComparison.Ordinal);
        Assert.Contains("untrusted name-mismatch", table.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_untrusted_certificate_fails_when_verified_which_is_the_default()
    {
        var r = await ProbeAsync(Pw, Url("imaps", Dovecot.Imaps), "--password-stdin", "--json");
        Assert.Equal(1, r.ExitCode);
        var result = Assert.Single(Results(r));
        Assert.Equal("fail", (string)result["status"]!);
        Assert.StartsWith("certificate not trusted", (string)result["detail"]!, StringComparison.Ordinal);
        Assert.NotNull(result["certificate"]);

        var explicitVerify = await ProbeAsync(null, "pop3s://127.0.0.1:" + Dovecot.Pop3s.ToString(CultureInfo.InvariantCulture), "--verify-cert");
        Assert.Equal(1, explicitVerify.ExitCode);
        Assert.Contains("certificate not trusted", explicitVerify.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_wrong_password_fails_imap_and_pop3_with_the_servers_answer()
    {
        var r = await ProbeAsync("not-the-password\n", Url("imaps", Dovecot.Imaps), Url("pop3s", Dovecot.Pop3s), "--insecure", "--password-stdin", "--json", "--timeout", "20s");
        Assert.Equal(1, r.ExitCode);
        var results = Results(r);
        Assert.All(results, x => Assert.Equal("fail", (string)x["status"]!));
        Assert.StartsWith("LOGIN refused: NO", (string)results[0]["detail"]!, StringComparison.Ordinal);
        Assert.StartsWith("PASS refused: -ERR", (string)results[1]["detail"]!, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_password_is_never_sent_before_tls_and_dovecots_plain_port_is_probed_without_one()
    {
        var plain = await ProbeAsync(Pw, Url("imap", Dovecot.Imap), "--password-stdin", "--json");
        Assert.Equal(1, plain.ExitCode);
        Assert.Contains("refusing to send the password over a connection without TLS", (string)Results(plain)[0]["detail"]!, StringComparison.Ordinal);

        var anonymous = await ProbeAsync(null,
            "imap://127.0.0.1:" + Dovecot.Imap.ToString(CultureInfo.InvariantCulture),
            "pop3://127.0.0.1:" + Dovecot.Pop3.ToString(CultureInfo.InvariantCulture), "--json");
        Assert.True(anonymous.ExitCode == 0, anonymous.ToString());
        Assert.Equal(["CAPABILITY answered", "CAPA answered"], Results(anonymous).Select(x => (string)x["detail"]!));
    }

    [Fact]
    public async Task A_closed_port_fails_and_bad_command_lines_are_usage_errors()
    {
        var dead = ServerProcess.FreePort().ToString(CultureInfo.InvariantCulture);
        var closed = await ProbeAsync(null, "smtp://127.0.0.1:" + dead, "--timeout", "5s");
        Assert.Equal(1, closed.ExitCode);
        Assert.Contains("connect to 127.0.0.1:" + dead + " failed", closed.Stdout, StringComparison.Ordinal);
        Assert.Contains("FAIL", closed.Stdout, StringComparison.Ordinal);

        Assert.Equal(2, (await ProbeAsync(null, "imap://probe:secret@127.0.0.1")).ExitCode);
        Assert.Equal(2, (await ProbeAsync(null, "gopher://127.0.0.1")).ExitCode);
        Assert.Equal(2, (await ProbeAsync(null)).ExitCode);
        Assert.Equal(2, (await ProbeAsync(null, "imaps://127.0.0.1", "--insecure", "--verify-cert")).ExitCode);
        var noPassword = await ProbeAsync(null, Url("imaps", Dovecot.Imaps));
        Assert.Equal(2, noPassword.ExitCode);
        Assert.Contains("REMPART_PROBE_PASSWORD", noPassword.Stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_certificate_a_few_days_from_expiry_fails_the_probe_even_when_insecure()
    {
        await using var expiring = await ProbeDovecot.StartAsync(3, (ProbeDovecotFixture.User, ProbeDovecotFixture.Password));
        var r = await ProbeAsync(Pw, Url("imaps", expiring.Imaps), Url("pop3+starttls", expiring.Pop3), "--insecure", "--password-stdin", "--json");
        Assert.Equal(1, r.ExitCode);
        foreach (var result in Results(r))
        {
            Assert.True((bool)result["success"]!, result.ToJsonString());
            Assert.Equal("fail", (string)result["status"]!);
            Assert.Contains("certificate expires in", (string)result["detail"]!, StringComparison.Ordinal);
        }
    }

    [PostfixFact]
    public async Task Postfix_smtp_passes_ehlo_and_starttls_and_warns_of_its_30_day_certificate()
    {
        await using var postfix = await PostfixInstance.StartAsync();
        var port = postfix.SmtpPort.ToString(CultureInfo.InvariantCulture);
        var r = await ProbeAsync(null, "smtp://127.0.0.1:" + port, "smtp+starttls://127.0.0.1:" + port, "--insecure", "--json");
        Assert.True(r.ExitCode == 0, r + postfix.Log);
        var results = Results(r);
        Assert.Equal("ok", (string)results[0]["status"]!);
        Assert.Equal("EHLO accepted", (string)results[0]["detail"]!);
        Assert.Null(results[0]["certificate"]);
        Assert.Equal("warn", (string)results[1]["status"]!);
        Assert.Contains("certificate expires in", (string)results[1]["detail"]!, StringComparison.Ordinal);
        Assert.Equal("CN=postfix.interop.test", (string)results[1]["certificate"]!["subject"]!);
        Assert.Contains(results[1]["steps"]!.AsArray(), s => ((string)s!).StartsWith("STARTTLS: 220", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Mail_flow_and_every_listener_of_a_rempart_server_pass_and_the_probe_message_is_deleted()
    {
        await using var server = ServerProcess.Create();
        await server.StartAsync();
        var (user, password) = await MailProbe.NewUserAsync(server, "probe");
        var stdin = password + "\n";
        string P(string listener) => server.Port(listener).ToString(CultureInfo.InvariantCulture);

        var r = await ProbeAsync(stdin,
            "smtp://127.0.0.1:" + P("smtp"),
            $"submission://{user}@127.0.0.1:{P("submission")}",
            $"imaps://{user}@127.0.0.1:{P("imaps")}",
            $"pop3s://{user}@127.0.0.1:{P("pop3s")}",
            $"http://127.0.0.1:{P("http")}/readyz",
            "--mail-flow", "--submission", $"submission://{user}@127.0.0.1:{P("submission")}", "--imap", $"imaps://{user}@127.0.0.1:{P("imaps")}",
            "--insecure", "--password-stdin", "--json", "--timeout", "30s");
        Assert.True(r.ExitCode == 0, r + MailProbe.Tail(server.Output, 40));
        var results = Results(r);
        Assert.Equal(6, results.Count);
        Assert.All(results, x => Assert.True((bool)x["success"]!, x.ToJsonString()));
        Assert.Equal("EHLO and AUTH accepted", (string)results[1]["detail"]!);
        var flow = results[5];
        Assert.StartsWith("mail-flow " + user + " -> " + user, (string)flow["target"]!, StringComparison.Ordinal);
        Assert.StartsWith("delivered to the INBOX of " + user, (string)flow["detail"]!, StringComparison.Ordinal);
        Assert.True((double)flow["latencyMs"]! > 0);
        Assert.Empty(await MailProbe.InboxAsync(server, user, password));
    }

    [Fact]
    public async Task Store_scrub_names_the_messages_of_a_corrupted_and_a_deleted_blob_and_exits_1()
    {
        await using var server = ServerProcess.Create();
        await server.StartAsync();
        var (user, password) = await MailProbe.NewUserAsync(server, "scrub");
        for (var i = 1; i <= 3; i++)
        {
            await MailProbe.SubmitAsync(server, user, password, MailProbe.Message(user, user, "scrub " + i, "body " + i + " " + Guid.NewGuid()));
            await MailProbe.WaitForSubjectAsync(server, user, password, "scrub " + i, TimeSpan.FromSeconds(30));
        }

        var clean = await server.CliAsync(null, "store", "scrub");
        Assert.True(clean.ExitCode == 0, clean.ToString());
        Assert.Contains("0 corrupt, 0 missing, 0 database problems", clean.Stdout, StringComparison.Ordinal);

        string corrupt, missing;
        await using (var store = await SqliteMailStore.OpenAsync(Path.Combine(server.DataDir, "rempart.db"), Path.Combine(server.DataDir, "blobs"), new StoreOptions(), NullLogger.Instance))
        {
            var byMessage = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var hash in await store.ListBlobHashesAsync(null, 100))
            {
                foreach (var reference in await store.DescribeBlobReferencesAsync(hash, 10))
                {
                    byMessage[reference] = hash;
                }
            }

            corrupt = byMessage[user + "/INBOX/UID 1"];
            missing = byMessage[user + "/INBOX/UID 2"];
            var path = store.BlobFiles.PathOf(corrupt);
            var bytes = await File.ReadAllBytesAsync(path);
            bytes[bytes.Length / 2] ^= 0x20;
            await File.WriteAllBytesAsync(path, bytes);
            File.Delete(store.BlobFiles.PathOf(missing));
        }

        var r = await server.CliAsync(null, "store", "scrub");
        Assert.True(r.ExitCode == 1, r.ToString());
        var lines = r.Stdout.Split('\n');
        var corruptAt = Array.FindIndex(lines, l => l.StartsWith("CORRUPT  " + corrupt, StringComparison.Ordinal));
        var missingAt = Array.FindIndex(lines, l => l.StartsWith("MISSING  " + missing, StringComparison.Ordinal));
        Assert.True(corruptAt >= 0 && missingAt >= 0, r.ToString());
        Assert.Equal("    " + user + "/INBOX/UID 1", lines[corruptAt + 1]);
        Assert.Equal("    " + user + "/INBOX/UID 2", lines[missingAt + 1]);
        Assert.Contains("1 corrupt, 1 missing, 0 database problems", r.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Watch_with_alert_sends_one_firing_notification_when_a_server_stops_and_a_resolved_one_when_it_is_back()
    {
        using var receiver = new AlertingReceiver();
        await using var server = ServerProcess.Create();
        await server.StartAsync();
        using var work = new TempFolder("rempart-probe-watch");
        var config = Path.Combine(work.Path, "probe.json");
        await File.WriteAllTextAsync(config, new JsonObject
        {
            ["monitoring"] = new JsonObject
            {
                ["serverName"] = "watcher",
                ["alerting"] = new JsonObject
                {
                    ["groupWait"] = "00:00:01",
                    ["channels"] = new JsonArray(new JsonObject { ["name"] = "hook", ["type"] = "webhook", ["url"] = receiver.Url + "/hook" }),
                },
            },
        }.ToJsonString());
        var imap = server.Port("imap").ToString(CultureInfo.InvariantCulture);
        var smtp = server.Port("smtp").ToString(CultureInfo.InvariantCulture);

        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { ServerProcess.CliDll, "probe", "imap://127.0.0.1:" + imap, "smtp://127.0.0.1:" + smtp, "--watch", "1s", "--alert", "--fail-after", "2", "--timeout", "3s", "--config", config, "--data", work.Path })
        {
            psi.ArgumentList.Add(a);
        }

        using var watcher = System.Diagnostics.Process.Start(psi)!;
        var stdout = watcher.StandardOutput.ReadToEndAsync();
        var stderr = watcher.StandardError.ReadToEndAsync();
        try
        {
            // Let a few healthy rounds pass, then stop the server for real.
            await Task.Delay(TimeSpan.FromSeconds(3));
            Assert.False(watcher.HasExited, "the watch ended early");
            Assert.Empty(receiver.Requests);
            await server.KillAsync();
            var firing = await WaitForAsync(receiver, "\"status\":\"firing\"", TimeSpan.FromSeconds(30));
            Assert.Contains("127.0.0.1/service/imap:" + imap, firing, StringComparison.Ordinal);
            Assert.Contains("127.0.0.1/service/smtp:" + smtp, firing, StringComparison.Ordinal);

            await using var restarted = ServerProcess.Reuse(server);
            await restarted.StartAsync();
            // The listeners come back one after the other, so the two resolutions may arrive in one notification or two.
            await WaitForAsync(receiver, "\"status\":\"resolved\"", TimeSpan.FromSeconds(30), "127.0.0.1/service/imap:" + imap);
            await WaitForAsync(receiver, "\"status\":\"resolved\"", TimeSpan.FromSeconds(30), "127.0.0.1/service/smtp:" + smtp);

            // One notification when both went down together, one when they came back: no storm.
            Assert.Single(receiver.Requests, r => r.Body.Contains("\"status\":\"firing\"", StringComparison.Ordinal));

            // SIGTERM (or Ctrl-C; SIGINT may be ignored in a test runner's children) ends the watch; the last round
            // passed, so it exits 0.
            using (var interrupt = System.Diagnostics.Process.Start("kill", ["-TERM", watcher.Id.ToString(CultureInfo.InvariantCulture)]))
            {
                await interrupt!.WaitForExitAsync();
            }

            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await watcher.WaitForExitAsync(cts.Token);
            Assert.True(watcher.ExitCode == 0, await stdout + await stderr);
            Assert.Contains("FAIL", await stdout, StringComparison.Ordinal);
        }
        finally
        {
            if (!watcher.HasExited)
            {
                watcher.Kill(entireProcessTree: true);
            }
        }
    }

    /// <summary>The first webhook body holding <paramref name="marker"/> and every one of <paramref name="also"/>.</summary>
    private static async Task<string> WaitForAsync(AlertingReceiver receiver, string marker, TimeSpan timeout, params string[] also)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var hit = receiver.Requests.FirstOrDefault(r => r.Body.Contains(marker, StringComparison.Ordinal) && also.All(a => r.Body.Contains(a, StringComparison.Ordinal)));
            if (hit is not null)
            {
                return hit.Body;
            }

            await Task.Delay(200);
        }

        throw new TimeoutException($"no webhook with {marker} {string.Join(" ", also)} in {timeout.TotalSeconds} s; got: " + string.Join("\n", receiver.Requests.Select(r => r.Body)));
    }

    private static string Url(string scheme, int port) =>
        $"{scheme}://{ProbeDovecotFixture.User}@127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}";

    private static Task<CliResult> ProbeAsync(string? stdin, params string[] args) =>
        ServerProcess.RunCliAsync(NoData, null, stdin, ["probe", .. args]);

    private static List<JsonNode> Results(CliResult r)
    {
        try
        {
            return [.. JsonNode.Parse(r.Stdout)!.AsArray().Select(n => n!)];
        }
        catch (JsonException ex)
        {
            throw new InvalidOperationException("not JSON: " + r, ex);
        }
    }
}
