using System.Text;
using Rempart.Store;

namespace Rempart.Pop3.Tests;

/// <summary>Bad inputs and edge cases over real loopback sockets: each gets a clear reply, never a crash or hang.</summary>
public class SessionTests
{
    private static async Task<(TestEnvironment Env, long AccountId)> SetupAsync(int messages = 2)
    {
        var env = await TestEnvironment.CreateAsync();
        var alice = await env.AddAccountAsync("alice@example.org");
        if (messages > 0)
        {
            await env.DeliverAsync(alice.Id, TranscriptTests.Message1);
        }

        if (messages > 1)
        {
            await env.DeliverAsync(alice.Id, TranscriptTests.Message2);
        }

        return (env, alice.Id);
    }

    [Fact]
    public async Task Plain_connection_offers_STLS_but_not_USER_or_SASL_and_refuses_USER_and_AUTH()
    {
        var (env, _) = await SetupAsync();
        await using var _env = env;
        await using var server = env.StartServer(implicitTls: false);
        await using var client = await RawClient.ConnectAsync(server.Port, tls: false);
        await client.ReadLineAsync();

        Assert.StartsWith("+OK", await client.CommandAsync("CAPA"), StringComparison.Ordinal);
        var caps = await client.ReadMultilineAsync();
        Assert.Contains("STLS", caps);
        Assert.DoesNotContain("USER", caps);
        Assert.DoesNotContain(caps, c => c.StartsWith("SASL", StringComparison.Ordinal));

        Assert.StartsWith("-ERR [SYS/PERM]", await client.CommandAsync("USER alice@example.org"), StringComparison.Ordinal);
        Assert.StartsWith("-ERR [SYS/PERM]", await client.CommandAsync("PASS secret pass"), StringComparison.Ordinal);
        Assert.StartsWith("-ERR [SYS/PERM]", await client.CommandAsync("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldCBwYXNz"), StringComparison.Ordinal);
        Assert.Equal("+OK Bye", await client.CommandAsync("QUIT"));
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task Without_a_certificate_STLS_is_not_offered_and_is_refused()
    {
        var (env, _) = await SetupAsync();
        await using var _env = env;
        await using var server = env.StartServer(implicitTls: false, withCertificate: false);
        await using var client = await RawClient.ConnectAsync(server.Port, tls: false);
        await client.ReadLineAsync();
        await client.CommandAsync("CAPA");
        Assert.DoesNotContain("STLS", await client.ReadMultilineAsync());
        Assert.StartsWith("-ERR [SYS/PERM]", await client.CommandAsync("STLS"), StringComparison.Ordinal);
        Assert.StartsWith("+OK", await client.CommandAsync("QUIT"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task STLS_discards_pipelined_plaintext_and_then_allows_login()
    {
        var (env, _) = await SetupAsync();
        await using var _env = env;
        await using var server = env.StartServer(implicitTls: false);
        await using var client = await RawClient.ConnectAsync(server.Port, tls: false);
        await client.ReadLineAsync();

        // RFC 2595 section 4: the injected USER must not be executed inside the TLS session.
        await client.SendAsync("STLS\r\nUSER mallory@example.org\r\nQUIT\r\n");
        Assert.Equal("+OK Begin TLS negotiation", await client.ReadLineAsync());
        await client.StartTlsAsync();

        Assert.Equal("-ERR Send USER first", await client.CommandAsync("PASS secret pass"));
        Assert.Equal("+OK Capability list follows", await client.CommandAsync("CAPA"));
        var caps = await client.ReadMultilineAsync();
        Assert.DoesNotContain("STLS", caps);
        Assert.Contains("USER", caps);
        Assert.Equal("-ERR TLS is already active", await client.CommandAsync("STLS"));

        Assert.StartsWith("+OK", await client.CommandAsync("USER alice@example.org"), StringComparison.Ordinal);
        Assert.Equal("+OK Logged in, 2 messages (87 octets)", await client.CommandAsync("PASS secret pass"));
        Assert.StartsWith("+OK", await client.CommandAsync("QUIT"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_failed_TLS_handshake_ends_the_session_quietly()
    {
        var (env, _) = await SetupAsync();
        await using var _env = env;
        await using var server = env.StartServer(implicitTls: false);
        await using var client = await RawClient.ConnectAsync(server.Port, tls: false);
        await client.ReadLineAsync();
        Assert.Equal("+OK Begin TLS negotiation", await client.CommandAsync("STLS"));
        await client.SendAsync("this is not a TLS client hello\r\n");
        Assert.True(await client.IsClosedByServerAsync());
        Assert.Empty(server.Escaped);
    }

    [Fact]
    public async Task Long_line_gets_an_error_and_the_session_survives()
    {
        var (env, _) = await SetupAsync();
        await using var _env = env;
        env.Options.Listeners.Pop3s.Limits.MaxLineLength = 200;
        await using var server = env.StartServer(implicitTls: true);
        await using var client = await RawClient.ConnectAsync(server.Port, tls: true);
        await client.ReadLineAsync();

        Assert.Equal("-ERR Line too long", await client.CommandAsync("USER " + new string('a', 5000)));
        Assert.Equal("-ERR Line too long", await client.CommandAsync("NOOP" + new string(' ', 196)));
        Assert.StartsWith("+OK", await client.CommandAsync("USER alice@example.org"), StringComparison.Ordinal);
        Assert.StartsWith("+OK Logged in", await client.CommandAsync("PASS secret pass"), StringComparison.Ordinal);
        Assert.StartsWith("+OK", await client.CommandAsync("QUIT"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Unknown_commands_and_binary_garbage_get_errors_then_too_many_errors_close()
    {
        var (env, _) = await SetupAsync();
        await using var _env = env;
        env.Options.Pop3.MaxErrors = 4;
        await using var server = env.StartServer(implicitTls: true);
        await using var client = await RawClient.ConnectAsync(server.Port, tls: true);
        await client.ReadLineAsync();

        Assert.Equal("-ERR Unknown command", await client.CommandAsync("HELO there"));
        Assert.StartsWith("-ERR", await client.CommandAsync(""), StringComparison.Ordinal);
        await client.SendBytesAsync([0xFF, 0x00, 0x01, 0xC3, (byte)'\r', (byte)'\n']);
        Assert.StartsWith("-ERR", await client.ReadLineAsync(), StringComparison.Ordinal);
        Assert.Equal("+OK Send the password", await client.CommandAsync("USER alice@example.org"));
        Assert.StartsWith("-ERR", await client.CommandAsync("APOP alice@example.org 0123456789abcdef"), StringComparison.Ordinal);
        Assert.Equal("-ERR Too many errors, closing connection", await client.ReadLineAsync());
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task Dele_then_Rset_keeps_every_message()
    {
        var (env, accountId) = await SetupAsync();
        await using var _env = env;
        await using var server = env.StartServer(implicitTls: true);
        await using (var client = await RawClient.ConnectAsync(server.Port, tls: true))
        {
            Assert.StartsWith("+OK", await client.LoginAsync("alice@example.org"), StringComparison.Ordinal);
            Assert.StartsWith("+OK", await client.CommandAsync("DELE 1"), StringComparison.Ordinal);
            Assert.StartsWith("+OK", await client.CommandAsync("DELE 2"), StringComparison.Ordinal);
            Assert.Equal("+OK 0 0", await client.CommandAsync("STAT"));
            Assert.StartsWith("-ERR", await client.CommandAsync("LIST 1"), StringComparison.Ordinal);
            Assert.StartsWith("-ERR", await client.CommandAsync("TOP 2 1"), StringComparison.Ordinal);
            Assert.StartsWith("-ERR", await client.CommandAsync("UIDL 2"), StringComparison.Ordinal);
            Assert.Equal("+OK Maildrop reset, 2 messages (87 octets)", await client.CommandAsync("RSET"));
            Assert.Equal("+OK Bye, 0 messages deleted, 2 left", await client.CommandAsync("QUIT"));
        }

        Assert.Equal(2, (await env.InboxAsync(accountId)).Count);
    }

    [Fact]
    public async Task Quit_expunges_deleted_messages_and_disconnect_without_quit_does_not()
    {
        var (env, accountId) = await SetupAsync();
        await using var _env = env;
        await using var server = env.StartServer(implicitTls: true);

        // Deletions of a session that ends without QUIT are forgotten (RFC 1939 section 6).
        await using (var client = await RawClient.ConnectAsync(server.Port, tls: true))
        {
            Assert.StartsWith("+OK", await client.LoginAsync("alice@example.org"), StringComparison.Ordinal);
            Assert.StartsWith("+OK", await client.CommandAsync("DELE 1"), StringComparison.Ordinal);
        }

        // The maildrop lock of the vanished session is released once the server sees the close.
        string? login = null;
        for (var attempt = 0; attempt < 50; attempt++)
        {
            await using var client = await RawClient.ConnectAsync(server.Port, tls: true);
            login = await client.LoginAsync("alice@example.org");
            if (login.StartsWith("+OK", StringComparison.Ordinal))
            {
                Assert.Equal("+OK Logged in, 2 messages (87 octets)", login);
                Assert.StartsWith("+OK", await client.CommandAsync("DELE 1"), StringComparison.Ordinal);
                Assert.Equal("+OK Bye, 1 messages deleted, 1 left", await client.CommandAsync("QUIT"));
                break;
            }

            Assert.StartsWith("-ERR [IN-USE]", login, StringComparison.Ordinal);
            await Task.Delay(100);
        }

        Assert.StartsWith("+OK", login, StringComparison.Ordinal);
        var left = Assert.Single(await env.InboxAsync(accountId));
        Assert.Equal(24, left.Size);
    }

    [Fact]
    public async Task Second_concurrent_session_gets_IN_USE_until_the_first_quits()
    {
        var (env, _) = await SetupAsync();
        await using var _env = env;
        await using var server = env.StartServer(implicitTls: true);
        await using var first = await RawClient.ConnectAsync(server.Port, tls: true);
        Assert.StartsWith("+OK", await first.LoginAsync("alice@example.org"), StringComparison.Ordinal);

        await using var second = await RawClient.ConnectAsync(server.Port, tls: true);
        Assert.StartsWith("-ERR [IN-USE]", await second.LoginAsync("alice@example.org"), StringComparison.Ordinal);

        // Still in AUTHORIZATION: SASL gets the same answer, and TRANSACTION commands are refused.
        Assert.StartsWith("-ERR [IN-USE]", await second.CommandAsync("AUTH PLAIN AGFsaWNlQGV4YW1wbGUub3JnAHNlY3JldCBwYXNz"), StringComparison.Ordinal);
        Assert.StartsWith("-ERR STAT is not valid", await second.CommandAsync("STAT"), StringComparison.Ordinal);

        Assert.StartsWith("+OK", await first.CommandAsync("QUIT"), StringComparison.Ordinal);
        Assert.StartsWith("+OK", await second.CommandAsync("USER alice@example.org"), StringComparison.Ordinal);
        Assert.StartsWith("+OK Logged in", await second.CommandAsync("PASS secret pass"), StringComparison.Ordinal);
        Assert.StartsWith("+OK", await second.CommandAsync("QUIT"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wrong_password_and_unknown_user_get_the_same_AUTH_error()
    {
        var (env, _) = await SetupAsync();
        await using var _env = env;
        await using var server = env.StartServer(implicitTls: true);
        await using var client = await RawClient.ConnectAsync(server.Port, tls: true);
        Assert.Equal("-ERR [AUTH] Authentication failed", await client.LoginAsync("alice@example.org", "wrong"));
        Assert.StartsWith("+OK", await client.CommandAsync("USER nobody@example.org"), StringComparison.Ordinal);
        Assert.Equal("-ERR [AUTH] Authentication failed", await client.CommandAsync("PASS wrong"));

        // PLAIN with an authorization identity different from the user is refused.
        Assert.StartsWith("-ERR [AUTH]", await client.CommandAsync("AUTH PLAIN " + Convert.ToBase64String("bob@example.org\0alice@example.org\0secret pass"u8)), StringComparison.Ordinal);
        Assert.StartsWith("+OK", await client.CommandAsync("QUIT"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Repeated_failures_are_throttled_by_the_auth_service()
    {
        var (env, _) = await SetupAsync();
        await using var _env = env;
        env.Options.Pop3.MaxErrors = 50;
        await using var server = env.StartServer(implicitTls: true);
        await using var client = await RawClient.ConnectAsync(server.Port, tls: true);
        await client.ReadLineAsync();
        for (var i = 0; i < env.Options.Auth.MaxFailuresPerIp; i++)
        {
            await client.CommandAsync("USER alice@example.org");
            Assert.Equal("-ERR [AUTH] Authentication failed", await client.CommandAsync("PASS nope"));
        }

        await client.CommandAsync("USER alice@example.org");
        Assert.Equal("-ERR [AUTH] Too many failed logins, try again later", await client.CommandAsync("PASS secret pass"));
    }

    [Fact]
    public async Task Passwords_never_reach_the_logs()
    {
        var (env, _) = await SetupAsync();
        await using var _env = env;
        await using var server = env.StartServer(implicitTls: true);
        await using (var client = await RawClient.ConnectAsync(server.Port, tls: true))
        {
            await client.LoginAsync("alice@example.org", "Wr0ngPassw0rd-A");
            await client.CommandAsync("AUTH PLAIN " + Convert.ToBase64String("\0alice@example.org\0Wr0ngPassw0rd-B"u8));
            await client.CommandAsync("AUTH LOGIN");
            await client.CommandAsync(Convert.ToBase64String("alice@example.org"u8));
            await client.CommandAsync(Convert.ToBase64String("Wr0ngPassw0rd-C"u8));
            await client.CommandAsync("PAS Wr0ngPassw0rd-D");
            await client.CommandAsync("QUIT");
        }

        var logs = string.Join('\n', env.Logs.Lines);
        Assert.Contains("PASS <redacted>", logs, StringComparison.Ordinal);
        Assert.DoesNotContain("Wr0ngPassw0rd", logs, StringComparison.Ordinal);
        Assert.DoesNotContain("V3Iwbmd", logs, StringComparison.Ordinal);
        Assert.DoesNotContain(Convert.ToBase64String("Wr0ngPassw0rd-C"u8), logs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Idle_client_is_logged_out_without_committing_deletions()
    {
        var (env, accountId) = await SetupAsync();
        await using var _env = env;
        env.Options.Pop3.IdleTimeout = TimeSpan.FromMilliseconds(500);
        await using var server = env.StartServer(implicitTls: true);
        await using var client = await RawClient.ConnectAsync(server.Port, tls: true);
        Assert.StartsWith("+OK", await client.LoginAsync("alice@example.org"), StringComparison.Ordinal);
        Assert.StartsWith("+OK", await client.CommandAsync("DELE 1"), StringComparison.Ordinal);

        Assert.Equal("-ERR Autologout: idle for too long", await client.ReadLineAsync());
        Assert.True(await client.IsClosedByServerAsync());
        Assert.Equal(2, (await env.InboxAsync(accountId)).Count);
    }

    [Fact]
    public async Task A_half_sent_command_is_cut_off_by_the_command_timeout()
    {
        var (env, _) = await SetupAsync();
        await using var _env = env;
        env.Options.Pop3.IdleTimeout = TimeSpan.FromSeconds(30);
        env.Options.Listeners.Pop3s.Limits.CommandTimeout = TimeSpan.FromMilliseconds(300);
        await using var server = env.StartServer(implicitTls: true);
        await using var client = await RawClient.ConnectAsync(server.Port, tls: true);
        await client.ReadLineAsync();
        await client.SendAsync("NOO");
        Assert.Equal("-ERR Autologout: idle for too long", await client.ReadLineAsync());
        Assert.True(await client.IsClosedByServerAsync());
    }

    [Fact]
    public async Task Top_and_Retr_stuff_dots_and_end_lines_with_CRLF()
    {
        var env = await TestEnvironment.CreateAsync();
        await using var _env = env;
        var alice = await env.AddAccountAsync("alice@example.org");
        await env.DeliverAsync(alice.Id, "Subject: lf\n\n.\n..x\nlast line without newline");
        await using var server = env.StartServer(implicitTls: true);
        await using var client = await RawClient.ConnectAsync(server.Port, tls: true);
        Assert.StartsWith("+OK", await client.LoginAsync("alice@example.org"), StringComparison.Ordinal);
        Assert.StartsWith("+OK", await client.CommandAsync("RETR 1"), StringComparison.Ordinal);
        Assert.Equal(["Subject: lf", "", "..", "...x", "last line without newline"], await client.ReadMultilineAsync());
        Assert.StartsWith("+OK", await client.CommandAsync("TOP 1 1"), StringComparison.Ordinal);
        Assert.Equal(["Subject: lf", "", ".."], await client.ReadMultilineAsync());
        Assert.StartsWith("+OK", await client.CommandAsync("QUIT"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Uidl_is_stable_across_sessions_and_unique()
    {
        var (env, _) = await SetupAsync();
        await using var _env = env;
        await using var server = env.StartServer(implicitTls: true);
        List<string> first, second;
        await using (var client = await RawClient.ConnectAsync(server.Port, tls: true))
        {
            await client.LoginAsync("alice@example.org");
            await client.CommandAsync("UIDL");
            first = await client.ReadMultilineAsync();
            await client.CommandAsync("QUIT");
        }

        await using (var client = await RawClient.ConnectAsync(server.Port, tls: true))
        {
            await client.LoginAsync("alice@example.org");
            await client.CommandAsync("UIDL");
            second = await client.ReadMultilineAsync();
            await client.CommandAsync("QUIT");
        }

        Assert.Equal(2, first.Count);
        Assert.Equal(first, second);
        var ids = first.Select(l => l.Split(' ')[1]).ToList();
        Assert.Equal(2, ids.Distinct().Count());
        Assert.All(ids, id => Assert.True(id.Length is >= 1 and <= 70 && id.All(c => c is >= '!' and <= '~')));
    }

    [Fact]
    public async Task Missing_message_body_gives_SYS_TEMP_and_the_session_goes_on()
    {
        var env = await TestEnvironment.CreateAsync();
        await using var _env = env;
        var alice = await env.AddAccountAsync("alice@example.org");
        var hash = await env.DeliverAsync(alice.Id, TranscriptTests.Message1);
        await env.DeliverAsync(alice.Id, TranscriptTests.Message2);
        File.Delete(env.Store.BlobFiles.PathOf(hash));
        await using var server = env.StartServer(implicitTls: true);
        await using var client = await RawClient.ConnectAsync(server.Port, tls: true);
        Assert.StartsWith("+OK", await client.LoginAsync("alice@example.org"), StringComparison.Ordinal);
        Assert.Equal("-ERR [SYS/TEMP] Internal error, try again later", await client.CommandAsync("RETR 1"));
        Assert.Equal("+OK 24 octets", await client.CommandAsync("RETR 2"));
        Assert.Equal(4, (await client.ReadMultilineAsync()).Count + 1);
        Assert.StartsWith("+OK", await client.CommandAsync("QUIT"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Store_failure_at_login_gives_SYS_TEMP_and_releases_the_lock()
    {
        var (env, _) = await SetupAsync();
        await using var _env = env;
        var broken = new WrappedStore(env.Store, messages: Faults.Inject(env.Store.Messages, nameof(IMessageStore.ListMessagesAsync)));
        await using (var server = env.StartServer(implicitTls: true, store: broken))
        {
            await using var client = await RawClient.ConnectAsync(server.Port, tls: true);
            Assert.Equal("-ERR [SYS/TEMP] Internal error, try again later", await client.LoginAsync("alice@example.org"));
            Assert.Equal("+OK Bye", await client.CommandAsync("QUIT"));
        }

        Assert.False(MaildropLockTable.For(broken).IsLocked(1));
        Assert.False(MaildropLockTable.For(env.Store).IsLocked(1));
    }

    [Fact]
    public async Task Store_failure_at_quit_gives_SYS_TEMP_and_keeps_the_messages()
    {
        var (env, accountId) = await SetupAsync();
        await using var _env = env;
        var broken = new WrappedStore(env.Store, messages: Faults.Inject(env.Store.Messages, nameof(IMessageStore.StoreFlagsAsync), nameof(IMessageStore.ExpungeAsync)));
        await using var server = env.StartServer(implicitTls: true, store: broken);
        await using var client = await RawClient.ConnectAsync(server.Port, tls: true);
        Assert.StartsWith("+OK", await client.LoginAsync("alice@example.org"), StringComparison.Ordinal);
        Assert.StartsWith("+OK", await client.CommandAsync("DELE 1"), StringComparison.Ordinal);
        Assert.Equal("-ERR [SYS/TEMP] Some deleted messages were not removed", await client.CommandAsync("QUIT"));
        Assert.True(await client.IsClosedByServerAsync());
        Assert.Equal(2, (await env.InboxAsync(accountId)).Count);
    }

    [Fact]
    public async Task Auth_service_failure_gives_SYS_TEMP()
    {
        var (env, _) = await SetupAsync();
        await using var _env = env;
        var auth = Faults.Inject<Rempart.Store.Auth.IAuthService>(env.Auth, "AuthenticateAsync");
        await using var server = env.StartServer(implicitTls: true, auth: auth);
        await using var client = await RawClient.ConnectAsync(server.Port, tls: true);
        Assert.StartsWith("-ERR [SYS/TEMP]", await client.LoginAsync("alice@example.org"), StringComparison.Ordinal);
        Assert.StartsWith("+OK", await client.CommandAsync("QUIT"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Messages_already_flagged_deleted_by_IMAP_are_hidden()
    {
        var (env, accountId) = await SetupAsync();
        await using var _env = env;
        var inbox = await env.Store.Messages.GetMailboxAsync(accountId, "INBOX");
        var messages = await env.InboxAsync(accountId);
        await env.Store.Messages.StoreFlagsAsync(inbox!.Id, [messages[0].Uid], FlagOperation.Add, ["\\Deleted"]);
        await using var server = env.StartServer(implicitTls: true);
        await using var client = await RawClient.ConnectAsync(server.Port, tls: true);
        Assert.Equal("+OK Logged in, 1 messages (24 octets)", await client.LoginAsync("alice@example.org"));
        Assert.StartsWith("+OK", await client.CommandAsync("QUIT"), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(true, 0)]
    [InlineData(true, 1)]
    [InlineData(true, 2)]
    [InlineData(false, 0)]
    public async Task Shutdown_closes_open_sessions_with_a_reply(bool tls, int run)
    {
        _ = run;
        var (env, _) = await SetupAsync();
        await using var _env = env;
        var server = env.StartServer(implicitTls: tls);
        await using var client = await RawClient.ConnectAsync(server.Port, tls: tls);
        await client.ReadLineAsync();
        Assert.StartsWith("+OK", await client.CommandAsync("CAPA"), StringComparison.Ordinal);
        await client.ReadMultilineAsync();
        var stopping = server.DisposeAsync();
        var reply = await client.ReadLineAsync();
        await stopping;
        Assert.True(reply == "-ERR [SYS/TEMP] Server shutting down", reply + " " + client.LastError);
        Assert.True(await client.IsClosedByServerAsync());
        Assert.Empty(server.Escaped);
    }

    [Fact]
    public async Task Large_message_streams_intact()
    {
        var env = await TestEnvironment.CreateAsync();
        await using var _env = env;
        var alice = await env.AddAccountAsync("alice@example.org");
        var body = new StringBuilder("Subject: big\r\n\r\n");
        for (var i = 0; i < 20_000; i++)
        {
            body.Append(i % 7 == 0 ? ".line " : "line ").Append(i).Append("\r\n");
        }

        await env.DeliverAsync(alice.Id, body.ToString());
        await using var server = env.StartServer(implicitTls: true);
        await using var client = await RawClient.ConnectAsync(server.Port, tls: true);
        Assert.StartsWith("+OK", await client.LoginAsync("alice@example.org"), StringComparison.Ordinal);
        Assert.StartsWith("+OK", await client.CommandAsync("RETR 1"), StringComparison.Ordinal);
        var lines = await client.ReadMultilineAsync();
        var unstuffed = string.Concat(lines.Select(l => (l.StartsWith('.') ? l[1..] : l) + "\r\n"));
        Assert.Equal(body.ToString(), unstuffed);
        Assert.StartsWith("+OK", await client.CommandAsync("QUIT"), StringComparison.Ordinal);
    }
}
