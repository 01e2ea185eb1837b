using MailKit.Net.Imap;
using MailKit.Security;

namespace Rempart.Imap.Tests.Sessions;

public class PlainAndLimitTests
{
    [Fact]
    public async Task Before_tls_login_is_disabled_and_starttls_offered()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await RawImapClient.ConnectAsync(server);
        var greeting = await client.ReadLineAsync();
        Assert.Contains("STARTTLS", greeting, StringComparison.Ordinal);
        Assert.Contains("LOGINDISABLED", greeting, StringComparison.Ordinal);
        Assert.DoesNotContain("AUTH=", greeting, StringComparison.Ordinal);
        await client.SendAsync("a1 LOGIN alice@example.com \"correct horse\"\r\n");
        Assert.StartsWith("a1 NO [PRIVACYREQUIRED]", await client.ReadLineAsync(), StringComparison.Ordinal);
        await client.SendAsync("a2 AUTHENTICATE PLAIN AGFsaWNlQGV4YW1wbGUuY29tAGNvcnJlY3QgaG9yc2U=\r\n");
        Assert.StartsWith("a2 NO [PRIVACYREQUIRED]", await client.ReadLineAsync(), StringComparison.Ordinal);

        await client.SendAsync("a3 STARTTLS\r\n");
        Assert.Equal("a3 OK Begin TLS negotiation now", await client.ReadLineAsync());
        await client.StartTlsAsync();
        await client.SendAsync("a4 CAPABILITY\r\n");
        var caps = await client.ReadUntilAsync("a4 ");
        Assert.Contains("AUTH=PLAIN", caps[0], StringComparison.Ordinal);
        Assert.DoesNotContain("LOGINDISABLED", caps[0], StringComparison.Ordinal);
        await client.SendAsync("a5 LOGIN alice@example.com \"correct horse\"\r\n");
        Assert.StartsWith("a5 OK", await client.ReadLineAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Commands_pipelined_after_starttls_are_discarded()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await RawImapClient.ConnectAsync(server);
        await client.ReadLineAsync();
        await client.SendAsync("a1 STARTTLS\r\na2 NOOP\r\n");
        Assert.Equal("a1 OK Begin TLS negotiation now", await client.ReadLineAsync());
        await client.StartTlsAsync();
        await client.SendAsync("a3 NOOP\r\n");
        Assert.Equal("a3 OK NOOP completed", await client.ReadLineAsync());
    }

    [Fact]
    public async Task Line_too_long_gets_bye_and_close()
    {
        await using var server = await ImapTestServer.StartAsync(configure: o => o.Listeners.Imap.Limits.MaxLineLength = 1024);
        await using var client = await RawImapClient.ConnectAsync(server);
        await client.ReadLineAsync();
        await client.SendAsync("a1 NOOP " + new string('x', 5000));
        Assert.StartsWith("* BYE", await client.ReadLineAsync(), StringComparison.Ordinal);
        Assert.Null(await client.ReadLineAsync());
    }

    [Fact]
    public async Task Garbage_bytes_get_bad_and_the_session_survives()
    {
        await using var server = await ImapTestServer.StartAsync();
        await using var client = await RawImapClient.ConnectAsync(server);
        await client.ReadLineAsync();
        await client.SendAsync("\u0001\u0002\u00ff\u0000 (((\r\n");
        Assert.StartsWith("* BAD", await client.ReadLineAsync(), StringComparison.Ordinal);
        await client.SendAsync("a1 NOOP\r\n");
        Assert.Equal("a1 OK NOOP completed", await client.ReadLineAsync());
    }

    [Fact]
    public async Task Pre_auth_idle_timeout_closes_with_bye()
    {
        await using var server = await ImapTestServer.StartAsync(configure: o => o.Imap.PreAuthTimeout = TimeSpan.FromMilliseconds(300));
        await using var client = await RawImapClient.ConnectAsync(server);
        await client.ReadLineAsync();
        Assert.StartsWith("* BYE Autologout", await client.ReadLineAsync(), StringComparison.Ordinal);
        Assert.Null(await client.ReadLineAsync());
    }

    [Fact]
    public async Task Sessions_per_user_are_capped()
    {
        await using var server = await ImapTestServer.StartAsync(implicitTls: true, configure: o => o.Imap.MaxSessionsPerUser = 1);
        using var first = await server.ConnectAsync();
        using var second = await server.ConnectAsync(login: false);
        var ex = await Assert.ThrowsAsync<AuthenticationException>(() => second.AuthenticateAsync(ImapTestServer.User, ImapTestServer.Password));
        Assert.Contains("Too many sessions", ex.Message, StringComparison.Ordinal);
        await first.DisconnectAsync(true);

        // The slot is released when the first session ends.
        using var third = new ImapClient { ServerCertificateValidationCallback = (_, c, _, _) => c?.Subject == "CN=localhost" };
        for (var attempt = 0; attempt < 50; attempt++)
        {
            try
            {
                await third.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.SslOnConnect);
                await third.AuthenticateAsync(ImapTestServer.User, ImapTestServer.Password);
                break;
            }
            catch (AuthenticationException)
            {
                await third.DisconnectAsync(true);
                await Task.Delay(100);
            }
        }

        Assert.True(third.IsAuthenticated);
    }

    [Fact]
    public async Task Every_command_outside_its_state_gets_a_standard_refusal()
    {
        await using var server = await ImapTestServer.StartAsync(implicitTls: true);
        await using var client = await RawImapClient.ConnectAsync(server);
        await client.ReadLineAsync();
        var n = 0;
        foreach (var name in ImapSession.CommandNames)
        {
            if ((ImapSession.StatesOf(name) & ImapState.NotAuthenticated) != 0)
            {
                continue;
            }

            var tag = "t" + n++;
            await client.SendAsync(tag + " " + name + " 1\r\n");
            Assert.Equal(tag + " BAD Log in first", await client.ReadLineAsync());
        }

        await client.SendAsync("l LOGIN alice@example.com \"correct horse\"\r\n");
        Assert.StartsWith("l OK", await client.ReadLineAsync(), StringComparison.Ordinal);
        foreach (var name in ImapSession.CommandNames)
        {
            var states = ImapSession.StatesOf(name);
            if ((states & ImapState.Authenticated) != 0)
            {
                continue;
            }

            var tag = "u" + n++;
            await client.SendAsync(tag + " " + name + " 1\r\n");
            var expected = states == ImapState.Selected ? " BAD No mailbox selected" : " BAD Command not valid in this state";
            Assert.Equal(tag + expected, await client.ReadLineAsync());
        }

        Assert.True(n > 30);
    }

    [Fact]
    public async Task Idle_is_ended_by_the_server_after_its_timeout()
    {
        await using var server = await ImapTestServer.StartAsync(implicitTls: true, configure: o => o.Imap.IdleTimeout = TimeSpan.FromMilliseconds(500));
        await using var client = await RawImapClient.ConnectAsync(server);
        await client.ReadLineAsync();
        await client.SendAsync("l LOGIN alice@example.com \"correct horse\"\r\n");
        await client.ReadUntilAsync("l ");
        await client.SendAsync("i IDLE\r\n");
        Assert.Equal("+ idling", await client.ReadLineAsync());
        Assert.StartsWith("* BYE Autologout", await client.ReadLineAsync(), StringComparison.Ordinal);
        Assert.Null(await client.ReadLineAsync());
    }
}
