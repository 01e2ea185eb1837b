using System.Globalization;
using MailKit;
using MailKit.Net.Pop3;
using MailKit.Security;

namespace Rempart.Integration.Tests;

/// <summary>Rempart's POP3 listeners driven by real POP3 clients: python3 poplib, curl and MailKit.</summary>
[Collection(InteropCollection.Name)]
public sealed class Pop3ClientInteropTests(SharedServerFixture fixture) : IClassFixture<SharedServerFixture>
{
    private readonly ServerProcess _server = fixture.Server;

    private string P(string listener) => _server.Port(listener).ToString(CultureInfo.InvariantCulture);

    /// <summary>A fresh user whose INBOX holds <paramref name="count"/> messages "marker 1..count" (appended over IMAP).</summary>
    private async Task<(string User, string Password, string Marker)> MaildropAsync(string prefix, int count)
    {
        var (user, pw) = await MailProbe.NewUserAsync(_server, prefix);
        var marker = prefix + Guid.NewGuid().ToString("n")[..8];
        using var imap = await MailProbe.ImapAsync(_server, user, pw);
        for (var i = 1; i <= count; i++)
        {
            await imap.Inbox.AppendAsync(MailProbe.Message("a@elsewhere.test", user, $"{marker} {i}", $"pop body {i}"), MessageFlags.None);
        }

        await imap.DisconnectAsync(true);
        return (user, pw, marker);
    }

    private async Task<List<string>> SubjectsAsync(string user, string pw) =>
        [.. (await MailProbe.InboxAsync(_server, user, pw)).Select(m => m.Subject ?? string.Empty).Order(StringComparer.Ordinal)];

    private const string PoplibScript = """
        import poplib, ssl, sys
        mode, host, port, user, pw, marker = sys.argv[1:7]
        ctx = ssl._create_unverified_context()
        if mode == "ssl":
            P = poplib.POP3_SSL(host, int(port), context=ctx, timeout=30)
        else:
            P = poplib.POP3(host, int(port), timeout=30)
            caps = P.capa()
            if "STLS" not in caps:
                sys.exit("STLS not in CAPA: %r" % caps)
            P.stls(context=ctx)
        caps = P.capa()
        for c in ("UIDL", "TOP", "USER"):
            if c not in caps:
                sys.exit("%s not in CAPA after TLS: %r" % (c, caps))
        P.user(user)
        P.pass_(pw)
        count, size = P.stat()
        if count != 2:
            sys.exit("STAT says %d messages" % count)
        resp, listing, _ = P.list()
        if len(listing) != 2:
            sys.exit("LIST: %r" % listing)
        resp, uidl, _ = P.uidl()
        uids = [line.split()[1] for line in uidl]
        if len(set(uids)) != 2:
            sys.exit("UIDL not unique: %r" % uidl)
        resp, lines, octets = P.retr(1)
        text = b"\r\n".join(lines)
        if (marker + " 1").encode() not in text or b"pop body 1" not in text:
            sys.exit("RETR 1: %r" % text)
        resp, lines, octets = P.top(2, 0)
        top = b"\r\n".join(lines)
        if (marker + " 2").encode() not in top or b"pop body 2" in top:
            sys.exit("TOP 2 0: %r" % top)
        P.dele(1)
        resp = P.quit()
        if not resp.startswith(b"+OK"):
            sys.exit("QUIT: %r" % resp)
        print("POPLIB OK")
        """;

    [Theory]
    [InlineData("ssl", "pop3s")]
    [InlineData("stls", "pop3")]
    public async Task Python_poplib_lists_retrieves_and_deletes(string mode, string listener)
    {
        var (user, pw, marker) = await MaildropAsync("poplib", 2);
        var r = await ExternalTool.PythonAsync(PoplibScript, TimeSpan.FromSeconds(60), mode, "127.0.0.1", P(listener), user, pw, marker);
        Assert.True(r.ExitCode == 0 && r.Stdout.Contains("POPLIB OK", StringComparison.Ordinal), r.ToString());
        Assert.Equal([marker + " 2"], await SubjectsAsync(user, pw));
    }

    [Fact]
    public async Task Curl_lists_and_retrieves_over_pop3s_and_pop3_with_stls()
    {
        var curl = ExternalTool.Require("curl", "curl");
        var (user, pw, marker) = await MaildropAsync("curlpop", 2);

        async Task<ToolResult> Curl(params string[] args)
        {
            var r = await ExternalTool.RunAsync(curl, ["--silent", "--show-error", "--max-time", "30", "-k", "-u", user + ":" + pw, .. args], timeout: TimeSpan.FromSeconds(60));
            Assert.True(r.ExitCode == 0, r.ToString());
            return r;
        }

        var list = await Curl("--url", $"pop3s://127.0.0.1:{P("pop3s")}/");
        Assert.Matches(@"(?m)^1 \d+\r?$", list.Stdout);
        Assert.Matches(@"(?m)^2 \d+\r?$", list.Stdout);

        var second = await Curl("--url", $"pop3s://127.0.0.1:{P("pop3s")}/2");
        Assert.Contains("Subject: " + marker + " 2", second.Stdout, StringComparison.Ordinal);
        Assert.Contains("pop body 2", second.Stdout, StringComparison.Ordinal);

        var first = await Curl("--ssl-reqd", "--url", $"pop3://127.0.0.1:{P("pop3")}/1");
        Assert.Contains("pop body 1", first.Stdout, StringComparison.Ordinal);

        // Retrieval leaves the maildrop as it was.
        Assert.Equal([marker + " 1", marker + " 2"], await SubjectsAsync(user, pw));
    }

    [Fact]
    public async Task MailKit_delete_is_applied_on_quit_and_forgotten_when_the_connection_drops()
    {
        var (user, pw, marker) = await MaildropAsync("mkpop", 3);

        // DELE then a dropped connection (no QUIT): RFC 1939 section 6, nothing is removed.
        using (var pop = new Pop3Client { ServerCertificateValidationCallback = MailProbe.TrustTestCertificates, Timeout = 30_000 })
        {
            await pop.ConnectAsync("127.0.0.1", _server.Port("pop3s"), SecureSocketOptions.SslOnConnect);
            await pop.AuthenticateAsync(user, pw);
            Assert.Equal(3, pop.Count);
            await pop.DeleteMessageAsync(0);
            await pop.DisconnectAsync(false);
        }

        // The server may release the maildrop lock a moment after the drop: retry the login a few times.
        Pop3Client? again = null;
        for (var attempt = 0; again is null; attempt++)
        {
            var c = new Pop3Client { ServerCertificateValidationCallback = MailProbe.TrustTestCertificates, Timeout = 30_000 };
            try
            {
                await c.ConnectAsync("127.0.0.1", _server.Port("pop3s"), SecureSocketOptions.SslOnConnect);
                await c.AuthenticateAsync(user, pw);
                again = c;
            }
            catch (Exception ex) when (attempt < 20 && ex is AuthenticationException or Pop3CommandException or Pop3ProtocolException)
            {
                c.Dispose();
                await Task.Delay(250);
            }
        }

        using (again)
        {
            Assert.Equal(3, again.Count);
            var uids = await again.GetMessageUidsAsync();
            var deleted = await again.GetMessageAsync(1);
            Assert.Equal(marker + " 2", deleted.Subject);

            // DELE then QUIT: the message is gone for POP3 and IMAP alike, the others keep their UIDLs.
            await again.DeleteMessageAsync(1);
            await again.DisconnectAsync(true);

            using var check = new Pop3Client { ServerCertificateValidationCallback = MailProbe.TrustTestCertificates, Timeout = 30_000 };
            await check.ConnectAsync("127.0.0.1", _server.Port("pop3"), SecureSocketOptions.StartTls);
            await check.AuthenticateAsync(user, pw);
            Assert.Equal(2, check.Count);
            Assert.Equal([uids[0], uids[2]], await check.GetMessageUidsAsync());
            await check.DisconnectAsync(true);
        }

        Assert.Equal([marker + " 1", marker + " 3"], await SubjectsAsync(user, pw));
    }
}
