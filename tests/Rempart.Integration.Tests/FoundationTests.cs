using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MailKit.Net.Imap;
using MailKit.Net.Pop3;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using Rempart.Common.Configuration;
using Rempart.Store.Sqlite;

namespace Rempart.Integration.Tests;

/// <summary>The foundation seen from outside: first run, listeners, health, admin CLI beside a running server, shutdown.</summary>
public sealed class FoundationTests
{
    [Fact]
    public async Task First_run_creates_the_data_folder_certificate_and_an_admin_who_can_log_in()
    {
        await using var server = ServerProcess.Create();
        Directory.Delete(server.DataDir, recursive: true);
        Directory.CreateDirectory(server.DataDir);
        server.WriteConfig();
        await server.StartAsync();

        Assert.True(File.Exists(Path.Combine(server.DataDir, "rempart.db")));
        Assert.True(File.Exists(Path.Combine(server.DataDir, "tls", "selfsigned.crt")));
        Assert.False(string.IsNullOrEmpty(server.AdminPassword), server.Output);
        Assert.Contains("admin@localhost", server.Output, StringComparison.Ordinal);

        // The printed password works over IMAPS and POP3S, and the certificate names localhost.
        using (var imap = new ImapClient())
        {
            X509Certificate? seen = null;
            imap.ServerCertificateValidationCallback = (_, cert, _, _) => { seen = cert; return true; };
            await imap.ConnectAsync("127.0.0.1", server.Port("imaps"), SecureSocketOptions.SslOnConnect);
            await imap.AuthenticateAsync("admin@localhost", server.AdminPassword);
            Assert.NotNull(imap.Inbox);
            using var cert = new X509Certificate2(seen!);
            Assert.True(cert.MatchesHostname("localhost"));
            await imap.DisconnectAsync(true);
        }

        using (var pop = new Pop3Client())
        {
            pop.ServerCertificateValidationCallback = (_, _, _, _) => true;
            await pop.ConnectAsync("127.0.0.1", server.Port("pop3s"), SecureSocketOptions.SslOnConnect);
            await pop.AuthenticateAsync("admin@localhost", server.AdminPassword);
            Assert.Equal(0, pop.Count);
            await pop.DisconnectAsync(true);
        }

        // A second start on the same folder does not create another admin or certificate.
        var firstCert = await File.ReadAllTextAsync(Path.Combine(server.DataDir, "tls", "selfsigned.crt"));
        Assert.Equal(0, await server.StopAsync());
        await using var again = ServerProcessReuse(server);
        await again.StartAsync();
        Assert.Null(again.AdminPassword);
        Assert.Equal(firstCert, await File.ReadAllTextAsync(Path.Combine(server.DataDir, "tls", "selfsigned.crt")));
        await again.StopAsync();
    }

    private static ServerProcess ServerProcessReuse(ServerProcess s) => ServerProcess.Reuse(s);

    [Fact]
    public async Task Every_listener_greets_and_http_serves_health_readiness_and_metrics()
    {
        await using var server = ServerProcess.Create();
        await server.StartAsync();

        Assert.StartsWith("220 ", await GreetingAsync(server.Port("smtp")), StringComparison.Ordinal);
        Assert.StartsWith("220 ", await GreetingAsync(server.Port("submission")), StringComparison.Ordinal);
        Assert.StartsWith("* OK", await GreetingAsync(server.Port("imap")), StringComparison.Ordinal);
        Assert.StartsWith("+OK", await GreetingAsync(server.Port("pop3")), StringComparison.Ordinal);
        Assert.StartsWith("220 ", await TlsGreetingAsync(server.Port("submissions")), StringComparison.Ordinal);
        Assert.StartsWith("* OK", await TlsGreetingAsync(server.Port("imaps")), StringComparison.Ordinal);
        Assert.StartsWith("+OK", await TlsGreetingAsync(server.Port("pop3s")), StringComparison.Ordinal);

        using var http = new HttpClient();
        var b = new Uri($"http://127.0.0.1:{server.Port("http")}");
        Assert.Equal("ok", (await http.GetStringAsync(new Uri(b, "/healthz"))).Trim());
        Assert.Equal("ready", (await http.GetStringAsync(new Uri(b, "/readyz"))).Trim());
        var metrics = await http.GetStringAsync(new Uri(b, "/metrics"));
        Assert.Contains("rempart_connections_accepted_total{listener=\"imaps\"}", metrics, StringComparison.Ordinal);
        var auto = await http.GetStringAsync(new Uri(b, "/mail/config-v1.1.xml?emailaddress=alice%40localhost"));
        Assert.Contains(server.Port("imaps").ToString(System.Globalization.CultureInfo.InvariantCulture), auto, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tls_negotiates_1_2_or_later()
    {
        // The client's OpenSSL may refuse TLS 1.1 on its own, so a "1.1 is refused" test could not fail here;
        // the server's allowed protocols are pinned in CertificateTests instead, and this checks what is negotiated.
        await using var server = ServerProcess.Create();
        await server.StartAsync();
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", server.Port("imaps"));
        await using var ssl = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        await ssl.AuthenticateAsClientAsync("localhost");
        Assert.True(ssl.SslProtocol is System.Security.Authentication.SslProtocols.Tls12 or System.Security.Authentication.SslProtocols.Tls13, ssl.SslProtocol.ToString());
    }

    [Fact]
    public async Task A_bad_configuration_key_is_refused_with_exit_code_2_naming_the_key()
    {
        var dir = Path.Combine(Path.GetTempPath(), "rempart-cfg-" + Guid.NewGuid().ToString("n")[..8]);
        Directory.CreateDirectory(dir);
        try
        {
            var cfg = Path.Combine(dir, "bad.json");
            await File.WriteAllTextAsync(cfg, "{ \"listeners\": { \"smtp\": { \"prot\": 25 } } }");
            var r = await ServerProcess.RunCliAsync(dir, cfg, null, "serve");
            Assert.Equal(2, r.ExitCode);
            Assert.Contains("listeners.smtp.prot", r.Stderr + r.Stdout, StringComparison.Ordinal);

            await File.WriteAllTextAsync(cfg, "{ \"listeners\": { \"smtp\": { \"port\": 70000 } } }");
            r = await ServerProcess.RunCliAsync(dir, cfg, null, "serve");
            Assert.Equal(2, r.ExitCode);
            Assert.Contains("listeners.smtp.port", r.Stderr + r.Stdout, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public async Task Admin_commands_work_while_the_server_runs_and_take_effect_at_once()
    {
        await using var server = ServerProcess.Create();
        await server.StartAsync();
        await server.AddUserAsync("carol@example.test", "carol-Secret-1");

        // The running server sees the new account at once: mail to it is accepted, and she can read it.
        using (var smtp = new SmtpClient())
        {
            await smtp.ConnectAsync("127.0.0.1", server.Port("smtp"), SecureSocketOptions.None);
            var m = new MimeMessage();
            m.From.Add(MailboxAddress.Parse("someone@elsewhere.test"));
            m.To.Add(MailboxAddress.Parse("carol@example.test"));
            m.Subject = "hello carol";
            m.Body = new TextPart("plain") { Text = "made while running" };
            await smtp.SendAsync(m);
            await smtp.DisconnectAsync(true);
        }

        using var imap = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await imap.ConnectAsync("127.0.0.1", server.Port("imap"), SecureSocketOptions.StartTls);
        await imap.AuthenticateAsync("carol@example.test", "carol-Secret-1");
        await imap.Inbox.OpenAsync(MailKit.FolderAccess.ReadOnly);
        Assert.Equal(1, imap.Inbox.Count);

        // Disabling her from the CLI locks her out of the running server.
        (await server.CliAsync(null, "user", "disable", "carol@example.test")).EnsureSuccess();
        using var imap2 = new ImapClient { ServerCertificateValidationCallback = (_, _, _, _) => true };
        await imap2.ConnectAsync("127.0.0.1", server.Port("imap"), SecureSocketOptions.StartTls);
        await Assert.ThrowsAsync<AuthenticationException>(() => imap2.AuthenticateAsync("carol@example.test", "carol-Secret-1"));
    }

    [Fact]
    public async Task Five_wrong_passwords_ban_the_address_even_for_the_right_password()
    {
        await using var server = ServerProcess.Create();
        await server.StartAsync();
        await server.AddUserAsync("dave@example.test", "dave-Secret-1");

        // Raw IMAP LOGIN commands, so exactly one failure is counted per attempt.
        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync("127.0.0.1", server.Port("imaps"));
            await using var ssl = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
            await ssl.AuthenticateAsClientAsync("localhost");
            Assert.StartsWith("* OK", await ReadLineAsync(ssl), StringComparison.Ordinal);
            for (var i = 0; i < 4; i++)
            {
                await ssl.WriteAsync(Encoding.ASCII.GetBytes($"a{i} LOGIN dave@example.test wrong{i}\r\n"));
                Assert.StartsWith($"a{i} NO", await ReadLineAsync(ssl), StringComparison.Ordinal);
            }

            // Four failures: the right password still works.
            await ssl.WriteAsync("b LOGIN dave@example.test dave-Secret-1\r\n"u8.ToArray());
            var ok = await ReadUntilTaggedAsync(ssl, "b ");
            Assert.StartsWith("b OK", ok, StringComparison.Ordinal);
        }

        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync("127.0.0.1", server.Port("imaps"));
            await using var ssl = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
            await ssl.AuthenticateAsClientAsync("localhost");
            await ReadLineAsync(ssl);
            await ssl.WriteAsync("c LOGIN dave@example.test wrong5\r\n"u8.ToArray());
            Assert.StartsWith("c NO", await ReadLineAsync(ssl), StringComparison.Ordinal);
            await ssl.WriteAsync("d LOGIN dave@example.test dave-Secret-1\r\n"u8.ToArray());
            Assert.StartsWith("d NO", await ReadUntilTaggedAsync(ssl, "d "), StringComparison.Ordinal);
        }

        // A new connection from the banned address is refused outright (no TLS handshake completes).
        using var late = new TcpClient();
        await late.ConnectAsync("127.0.0.1", server.Port("imaps"));
        await using var lateSsl = new SslStream(late.GetStream(), false, (_, _, _, _) => true);
        await Assert.ThrowsAnyAsync<Exception>(() => lateSsl.AuthenticateAsClientAsync("localhost"));
        Assert.Contains("rempart_bans_total 1", await new HttpClient().GetStringAsync(new Uri($"http://127.0.0.1:{server.Port("http")}/metrics")), StringComparison.Ordinal);
    }

    private static async Task<string> ReadUntilTaggedAsync(Stream s, string tag)
    {
        for (var i = 0; i < 50; i++)
        {
            var line = await ReadLineAsync(s);
            if (line.StartsWith(tag, StringComparison.Ordinal) || line.Length == 0)
            {
                return line;
            }
        }

        return "";
    }

    [Fact]
    public async Task Sigterm_stops_gracefully_and_leaves_a_clean_store()
    {
        await using var server = ServerProcess.Create();
        await server.StartAsync();
        await server.AddUserAsync("erin@example.test", "erin-Secret-1");
        Assert.Equal(0, await server.StopAsync());
        Assert.Contains("Stopping", server.Output, StringComparison.Ordinal);

        await using var store = await SqliteMailStore.OpenAsync(Path.Combine(server.DataDir, "rempart.db"), Path.Combine(server.DataDir, "blobs"), new StoreOptions(), NullLogger.Instance);
        Assert.Empty(await store.CheckIntegrityAsync());
        Assert.NotNull(await store.Directory.GetAccountAsync("erin@example.test"));
    }

    internal static async Task<string> GreetingAsync(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        return await ReadLineAsync(tcp.GetStream());
    }

    internal static async Task<string> TlsGreetingAsync(int port)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        await using var ssl = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        await ssl.AuthenticateAsClientAsync("localhost");
        return await ReadLineAsync(ssl);
    }

    private static async Task<string> ReadLineAsync(Stream s)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var sb = new StringBuilder();
        var b = new byte[1];
        while (await s.ReadAsync(b, cts.Token) == 1 && b[0] != '\n')
        {
            sb.Append((char)b[0]);
        }

        return sb.ToString().TrimEnd('\r');
    }
}
