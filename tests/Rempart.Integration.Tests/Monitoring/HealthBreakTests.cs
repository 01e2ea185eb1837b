using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace Rempart.Integration.Tests.Monitoring;

/// <summary>
/// Breaks a real server's subjects for real and watches the health model (/api/health, rempart health) take the
/// right monitor to Unhealthy, one alert go out on a real webhook receiver, then the monitor recover and one
/// resolved notification follow. Health runs with 1 s checks and a 2 s grace so each break shows in seconds.
/// </summary>
public sealed partial class HealthBreakTests
{
    /// <summary>Long enough for a storm to show: at 1 s checks, several runs while the monitor stays where it is.</summary>
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(4);

    [Fact]
    public async Task Blocked_route_grows_the_queue_and_queue_oldest_goes_unhealthy_then_recovers()
    {
        using var hook = new WebhookReceiver();
        var dead = ServerProcess.FreePort();
        await using var server = ServerProcess.Create(c =>
        {
            HealthTestKit.Configure(c, hook, h => h["mailFlow"] = new JsonObject
            {
                ["probe"] = false,
                ["oldestAgeWarn"] = "00:00:01",
                ["oldestAgeFail"] = "00:00:03",
            });
            c["routes"] = new JsonArray(new JsonObject
            {
                ["name"] = "blocked",
                ["domains"] = new JsonArray("held.test"),
                ["smartHost"] = "127.0.0.1:" + dead.ToString(CultureInfo.InvariantCulture),
                ["tls"] = "none",
            });
            c["queue"] = new JsonObject { ["connectTimeout"] = "00:00:02" };
        });
        await server.StartAsync();
        await HealthTestKit.WaitForAsync(server, "mailflow", "queue-oldest", "Healthy");

        var (user, password) = await MailProbe.NewUserAsync(server, "flow");
        await MailProbe.SubmitAsync(server, user, password, MailProbe.Message(user, "someone@held.test", "stuck", "this cannot leave"));

        var unhealthy = await HealthTestKit.WaitForAsync(server, "mailflow", "queue-oldest", "Unhealthy");
        Assert.Contains("held.test", (string?)unhealthy["detail"], StringComparison.Ordinal);
        var cli = await server.CliAsync(null, "health", "--json");
        Assert.Equal(4, cli.ExitCode);
        Assert.Equal("Unhealthy", (string?)JsonNode.Parse(cli.Stdout)!["overall"]);
        await Task.Delay(Settle);

        var list = await server.CliAsync(null, "queue", "list");
        var id = QueueId().Match(list.Stdout);
        Assert.True(id.Success, "no held.test entry in:\n" + list.Stdout);
        Assert.Equal(0, (await server.CliAsync(null, "queue", "delete", id.Groups[1].Value)).ExitCode);

        await HealthTestKit.WaitForAsync(server, "mailflow", "queue-oldest", "Healthy");
        Assert.Equal(["firing", "resolved"], await hook.WaitForAsync("it/mailflow/queue-oldest", 2));
        await Task.Delay(Settle);
        Assert.Equal(["firing", "resolved"], hook.StatusesFor("it/mailflow/queue-oldest"));
    }

    [Fact]
    public async Task Store_writer_blocked_by_a_write_lock_goes_unhealthy_then_recovers_when_it_commits_again()
    {
        using var hook = new WebhookReceiver();
        await using var server = ServerProcess.Create(c => HealthTestKit.Configure(c, hook));
        await server.StartAsync();
        var (user, password) = await MailProbe.NewUserAsync(server, "stall");
        await HealthTestKit.WaitForAsync(server, "workers", "store-writer", "Healthy");

        // Another process holds SQLite's write lock: the server's only writer cannot begin a transaction, its
        // batch fails after the busy timeout, and it makes no progress until the lock goes.
        using var locker = StartSqlite(Path.Combine(server.DataDir, "rempart.db"));
        await locker.StandardInput.WriteLineAsync("BEGIN EXCLUSIVE; SELECT 'locked';");
        await locker.StandardInput.FlushAsync();
        Assert.Equal("locked", await ReadLineAsync(locker));

        // A delivery needs a write; it waits for the writer (and is refused with a temporary error).
        var blocked = Task.Run(async () =>
        {
            try
            {
                await MailProbe.SubmitAsync(server, user, password, MailProbe.Message(user, user, "blocked", "waits for the store"));
            }
            catch (Exception ex) when (ex is MailKit.Net.Smtp.SmtpCommandException or MailKit.Net.Smtp.SmtpProtocolException or IOException)
            {
            }
        });

        var unhealthy = await HealthTestKit.WaitForAsync(server, "workers", "store-writer", "Unhealthy");
        Assert.Contains("failing", (string?)unhealthy["detail"], StringComparison.Ordinal);
        await Task.Delay(Settle);

        await locker.StandardInput.WriteLineAsync("ROLLBACK;");
        await locker.StandardInput.WriteLineAsync(".quit");
        await locker.StandardInput.FlushAsync();
        locker.StandardInput.Close();
        await locker.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(10)).Token);
        await blocked.WaitAsync(TimeSpan.FromSeconds(60));

        // The next write commits: the writer beats again.
        await MailProbe.SubmitAsync(server, user, password, MailProbe.Message(user, user, "after", "the lock is gone"));
        await HealthTestKit.WaitForAsync(server, "workers", "store-writer", "Healthy");
        Assert.Equal(["firing", "resolved"], await hook.WaitForAsync("it/workers/store-writer", 2));
        await Task.Delay(Settle);
        Assert.Equal(["firing", "resolved"], hook.StatusesFor("it/workers/store-writer"));
    }

    [Fact]
    public async Task Certificate_near_expiry_is_unhealthy_under_7_days_degraded_under_30_and_healthy_when_renewed()
    {
        using var hook = new WebhookReceiver();
        var tls = Path.Combine(Path.GetTempPath(), "rempart-it-cert-" + Guid.NewGuid().ToString("n")[..8]);
        Directory.CreateDirectory(tls);
        try
        {
            var cert = Path.Combine(tls, "cert.pem");
            var key = Path.Combine(tls, "key.pem");
            await HealthTestKit.WriteCertificateAsync(cert, key, days: 5);
            await using var server = ServerProcess.Create(c =>
            {
                HealthTestKit.Configure(c, hook);
                c["tls"] = new JsonObject { ["certificatePath"] = cert, ["keyPath"] = key, ["reloadInterval"] = "00:00:01" };
            });
            await server.StartAsync();

            var unhealthy = await HealthTestKit.WaitForAsync(server, "platform", "certificate", "Unhealthy");
            Assert.InRange((double)unhealthy["value"]!, 4, 5.01);
            await Task.Delay(Settle);

            await HealthTestKit.WriteCertificateAsync(cert, key, days: 20);
            var degraded = await HealthTestKit.WaitForAsync(server, "platform", "certificate", "Degraded");
            Assert.InRange((double)degraded["value"]!, 19, 20.01);
            var table = await server.CliAsync(null, "health");
            Assert.True(table.ExitCode is 3 or 4, $"rempart health exited {table.ExitCode}:\n{table.Stdout}{table.Stderr}");
            Assert.Matches(@"platform\s+certificate\s+Degraded", table.Stdout);

            await HealthTestKit.WriteCertificateAsync(cert, key, days: 365);
            await HealthTestKit.WaitForAsync(server, "platform", "certificate", "Healthy");
            Assert.Equal(["firing", "resolved"], await hook.WaitForAsync("it/platform/certificate", 2));
            await Task.Delay(Settle);
            Assert.Equal(["firing", "resolved"], hook.StatusesFor("it/platform/certificate"));
        }
        finally
        {
            Directory.Delete(tls, recursive: true);
        }
    }

    /// <summary>
    /// "Stop a listener", done for real without a test-only switch: every connection slot of the IMAP listener is
    /// taken by idle clients, so it answers newcomers "* BYE Too many connections" and serves nobody. The service
    /// probe's LOGIN fails, imap goes Unhealthy and /readyz says 503; freeing the slots brings it back.
    /// </summary>
    [Fact]
    public async Task Imap_listener_that_serves_nobody_is_unhealthy_and_readyz_says_so_then_recovers()
    {
        using var hook = new WebhookReceiver();
        await using var server = ServerProcess.Create(c =>
        {
            HealthTestKit.Configure(c, hook);
            c["listeners"]!["imap"]!["limits"] = new JsonObject { ["maxConnections"] = 2, ["maxConnectionsPerIp"] = 2 };
        });
        await server.StartAsync();
        await HealthTestKit.WaitForAsync(server, "service", "imap", "Healthy");

        // The probe logged in with the account the server made; its password is readable by the server's user only.
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(server.DataDir, "monitoring", "probe.secret")));
        }

        var held = new List<TcpClient>();
        try
        {
            for (var attempt = 0; attempt < 50 && held.Count < 2; attempt++)
            {
                var client = new TcpClient();
                await client.ConnectAsync("127.0.0.1", server.Port("imap"));
                var greeting = await ReadGreetingAsync(client);
                if (greeting.StartsWith("* OK", StringComparison.Ordinal))
                {
                    held.Add(client);
                }
                else
                {
                    client.Dispose();
                    await Task.Delay(100);
                }
            }

            Assert.Equal(2, held.Count);
            var unhealthy = await HealthTestKit.WaitForAsync(server, "service", "imap", "Unhealthy");
            Assert.NotEqual("", (string?)unhealthy["detail"]);
            using (var http = new HttpClient())
            {
                var readyz = await http.GetAsync(new Uri($"http://127.0.0.1:{server.Port("http")}/readyz"));
                Assert.Equal(503, (int)readyz.StatusCode);
                Assert.Contains("imap", await readyz.Content.ReadAsStringAsync(), StringComparison.Ordinal);
                var healthz = await http.GetAsync(new Uri($"http://127.0.0.1:{server.Port("http")}/healthz"));
                Assert.Equal(503, (int)healthz.StatusCode);
                Assert.Contains("service/imap:", await healthz.Content.ReadAsStringAsync(), StringComparison.Ordinal);
                var verbose = await http.GetAsync(new Uri($"http://127.0.0.1:{server.Port("http")}/healthz?verbose"));
                Assert.Contains("service: Unhealthy", await verbose.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }

            await Task.Delay(Settle);
        }
        finally
        {
            foreach (var c in held)
            {
                c.Dispose();
            }
        }

        await HealthTestKit.WaitForAsync(server, "service", "imap", "Healthy");
        var watch = await server.CliAsync(null, "health", "--watch", "--interval", "0.5", "--count", "2");
        Assert.True(watch.ExitCode is 0 or 3 or 4, watch.Stderr);
        Assert.Equal(2, Regex.Count(watch.Stdout, @"^it\s+overall ", RegexOptions.Multiline));
        Assert.Matches(@"service\s+imap\s+Healthy", watch.Stdout);
        Assert.Equal(["firing", "resolved"], await hook.WaitForAsync("it/service/imap", 2));
        await Task.Delay(Settle);
        Assert.Equal(["firing", "resolved"], hook.StatusesFor("it/service/imap"));
    }

    private static async Task<string> ReadGreetingAsync(TcpClient client)
    {
        var stream = client.GetStream();
        var buffer = new byte[512];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var n = await stream.ReadAsync(buffer, cts.Token);
        return Encoding.ASCII.GetString(buffer, 0, n);
    }

    private static Process StartSqlite(string database)
    {
        var psi = new ProcessStartInfo("sqlite3")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(database);
        return Process.Start(psi) ?? throw new InvalidOperationException("could not start sqlite3");
    }

    private static async Task<string?> ReadLineAsync(Process p)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        return await p.StandardOutput.ReadLineAsync(cts.Token);
    }

    [GeneratedRegex(@"^\s*(\d+)\s+held\.test", RegexOptions.Multiline)]
    private static partial Regex QueueId();
}
