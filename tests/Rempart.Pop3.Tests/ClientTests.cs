using System.Globalization;
using MailKit.Net.Pop3;
using MailKit.Security;

namespace Rempart.Pop3.Tests;

/// <summary>Real clients against the server over loopback: MailKit's Pop3Client and Python's poplib.</summary>
public class ClientTests
{
    private static async Task<(TestEnvironment Env, long AccountId)> SetupAsync()
    {
        var env = await TestEnvironment.CreateAsync();
        var alice = await env.AddAccountAsync("alice@example.org");
        await env.DeliverAsync(alice.Id, TranscriptTests.Message1);
        await env.DeliverAsync(alice.Id, TranscriptTests.Message2);
        return (env, alice.Id);
    }

    [Theory]
    [InlineData(false, SecureSocketOptions.StartTls)]
    [InlineData(true, SecureSocketOptions.SslOnConnect)]
    public async Task MailKit_reads_deletes_and_quits(bool implicitTls, SecureSocketOptions socketOptions)
    {
        var (env, accountId) = await SetupAsync();
        await using var _env = env;
        await using var server = env.StartServer(implicitTls);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));

        using (var client = new Pop3Client())
        {
            client.ServerCertificateValidationCallback = TestCertificates.Validate;
            await client.ConnectAsync("127.0.0.1", server.Port, socketOptions, timeout.Token);
            Assert.True(client.IsSecure);
            Assert.True(client.Capabilities.HasFlag(Pop3Capabilities.UIDL));
            Assert.True(client.Capabilities.HasFlag(Pop3Capabilities.Top));
            Assert.True(client.Capabilities.HasFlag(Pop3Capabilities.Pipelining));
            Assert.Contains("PLAIN", client.AuthenticationMechanisms);

            await client.AuthenticateAsync("alice@example.org", TestEnvironment.Password, timeout.Token);
            Assert.Equal(2, client.Count);
            Assert.Equal([63, 24], await client.GetMessageSizesAsync(timeout.Token));

            var first = await client.GetMessageAsync(0, timeout.Token);
            Assert.Equal("one", first.Subject);
            Assert.Contains(".dot line", first.TextBody, StringComparison.Ordinal);

            using var headers = await client.GetStreamAsync(1, headersOnly: true, timeout.Token);
            Assert.True(headers.Length > 0);

            var uids = await client.GetMessageUidsAsync(timeout.Token);
            Assert.Equal(2, uids.Distinct().Count());

            await client.DeleteMessageAsync(0, timeout.Token);
            await client.DisconnectAsync(quit: true, timeout.Token);
        }

        var left = Assert.Single(await env.InboxAsync(accountId));
        Assert.Equal(24, left.Size);
        Assert.Empty(server.Escaped);
    }

    [Fact]
    public async Task MailKit_wrong_password_raises_an_authentication_error()
    {
        var (env, _) = await SetupAsync();
        await using var _env = env;
        await using var server = env.StartServer(implicitTls: true);
        using var client = new Pop3Client { ServerCertificateValidationCallback = TestCertificates.Validate };
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await client.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.SslOnConnect, timeout.Token);
        await Assert.ThrowsAsync<AuthenticationException>(() => client.AuthenticateAsync("alice@example.org", "wrong", timeout.Token));
        await client.DisconnectAsync(true, timeout.Token);
    }

    [Fact]
    public async Task MailKit_second_session_is_refused_while_the_first_holds_the_maildrop()
    {
        var (env, _) = await SetupAsync();
        await using var _env = env;
        await using var server = env.StartServer(implicitTls: true);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var first = new Pop3Client { ServerCertificateValidationCallback = TestCertificates.Validate };
        await first.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.SslOnConnect, timeout.Token);
        await first.AuthenticateAsync("alice@example.org", TestEnvironment.Password, timeout.Token);

        using var second = new Pop3Client { ServerCertificateValidationCallback = TestCertificates.Validate };
        await second.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.SslOnConnect, timeout.Token);
        // MailKit reports every -ERR to AUTH as an authentication failure; the raw-socket test checks the [IN-USE] code.
        await Assert.ThrowsAsync<AuthenticationException>(() => second.AuthenticateAsync("alice@example.org", TestEnvironment.Password, timeout.Token));
        Assert.Equal(2, first.Count);
        await first.DisconnectAsync(true, timeout.Token);
    }

    private const string PythonScript = """
import poplib, ssl, sys
port, mode, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
if mode == "pop3s":
    p = poplib.POP3_SSL("127.0.0.1", port, context=ctx, timeout=20)
else:
    p = poplib.POP3("127.0.0.1", port, timeout=20)
    p.stls(context=ctx)
caps = p.capa()
print("CAPA", " ".join(sorted(caps)))
p.user(user)
p.pass_(password)
count, size = p.stat()
print("STAT", count, size)
resp, lines, octets = p.retr(1)
print("RETR", b"\n".join(lines).decode())
resp, lines, octets = p.top(2, 0)
print("TOP", len(lines))
print("UIDL", len(p.uidl()[1]))
try:
    p.retr(9)
except poplib.error_proto as e:
    print("ERR", e)
p.dele(2)
print("QUIT", p.quit().decode())
""";

    [Theory]
    [InlineData(true, "pop3s")]
    [InlineData(false, "stls")]
    public async Task Python_poplib_works_over_pop3s_and_stls(bool implicitTls, string mode)
    {
        var (env, accountId) = await SetupAsync();
        await using var _env = env;
        await using var server = env.StartServer(implicitTls);
        var (exit, output, error) = await ChildProcess.RunAsync(
            "python3",
            ["-c", PythonScript, server.Port.ToString(CultureInfo.InvariantCulture), mode, "alice@example.org", TestEnvironment.Password],
            TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, output + error);
        Assert.Contains("STAT 2 87", output, StringComparison.Ordinal);
        Assert.Contains("SASL", output, StringComparison.Ordinal);
        Assert.Contains("RETR From: bob@example.org", output, StringComparison.Ordinal);

        // poplib removes the byte-stuffing: the line reads as it was delivered.
        Assert.Contains("\n.dot line", output, StringComparison.Ordinal);
        Assert.Contains("TOP 2", output, StringComparison.Ordinal);
        Assert.Contains("UIDL 2", output, StringComparison.Ordinal);
        Assert.Contains("ERR b'-ERR No such message: 9'", output, StringComparison.Ordinal);
        Assert.Contains("QUIT +OK Bye, 1 messages deleted, 1 left", output, StringComparison.Ordinal);
        Assert.Single(await env.InboxAsync(accountId));
    }
}
