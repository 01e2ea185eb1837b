using System.Globalization;
using System.Net.Sockets;
using System.Text;
using MimeKit;

namespace Rempart.Integration.Tests;

/// <summary>Rempart's SMTP listeners driven by real SMTP clients: swaks, python3 smtplib and curl.</summary>
[Collection(InteropCollection.Name)]
public sealed class SmtpClientInteropTests(SharedServerFixture fixture) : IClassFixture<SharedServerFixture>
{
    private static readonly TimeSpan Arrival = TimeSpan.FromSeconds(30);
    private readonly ServerProcess _server = fixture.Server;

    private string Mx => _server.Port("smtp").ToString(CultureInfo.InvariantCulture);

    private static async Task<ToolResult> SwaksAsync(params string[] args) =>
        await ExternalTool.RunAsync(ExternalTool.Require("swaks", "swaks"), ["--timeout", "30", .. args], timeout: TimeSpan.FromSeconds(60));

    [Fact]
    public async Task Swaks_delivers_to_a_local_user_on_the_mx_port_with_received_and_return_path()
    {
        var (user, pw) = await MailProbe.NewUserAsync(_server, "swaks");
        var marker = "swaks-mx-" + Guid.NewGuid().ToString("n")[..8];
        var r = await SwaksAsync("--server", "127.0.0.1", "--port", Mx, "--helo", "client.interop.test",
            "--from", "sender@elsewhere.test", "--to", user, "--header", "Subject: " + marker, "--body", "hello from swaks");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("250", r.Stdout, StringComparison.Ordinal);

        var m = await MailProbe.WaitForSubjectAsync(_server, user, pw, marker, Arrival);
        Assert.Equal("<sender@elsewhere.test>", MailProbe.Header(m, "Return-Path"));
        var received = MailProbe.Header(m, "Received");
        Assert.Contains("client.interop.test", received, StringComparison.Ordinal);
        Assert.Contains("127.0.0.1", received, StringComparison.Ordinal);
        Assert.Contains("by localhost", received, StringComparison.Ordinal);
        Assert.Contains("hello from swaks", m.TextBody, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Swaks_with_pipelining_delivers_to_two_recipients()
    {
        var (u1, p1) = await MailProbe.NewUserAsync(_server, "pipe");
        var (u2, p2) = await MailProbe.NewUserAsync(_server, "pipe");
        var marker = "swaks-pipe-" + Guid.NewGuid().ToString("n")[..8];
        var r = await SwaksAsync("--pipeline", "--server", "127.0.0.1", "--port", Mx, "--from", "pipes@elsewhere.test",
            "--to", u1 + "," + u2, "--header", "Subject: " + marker);

        // swaks refuses --pipeline when PIPELINING is not advertised, so exit 0 proves it was used.
        Assert.True(r.ExitCode == 0, r.ToString());
        await MailProbe.WaitForSubjectAsync(_server, u1, p1, marker, Arrival);
        await MailProbe.WaitForSubjectAsync(_server, u2, p2, marker, Arrival);
    }

    [Theory]
    [InlineData("submission", "-tls")]
    [InlineData("submissions", "--tlsc")]
    public async Task Swaks_authenticates_with_plain_over_tls_and_remote_mail_is_queued(string listener, string tlsOption)
    {
        var (user, pw) = await MailProbe.NewUserAsync(_server, "sub");
        var marker = "swaks-" + listener + "-" + Guid.NewGuid().ToString("n")[..8];
        var r = await SwaksAsync(tlsOption, "--server", "127.0.0.1", "--port", _server.Port(listener).ToString(CultureInfo.InvariantCulture),
            "--auth", "PLAIN", "--auth-user", user, "--auth-password", pw, "--from", user, "--to", "faraway@held.test",
            "--header", "Subject: " + marker);
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("235", r.Stdout, StringComparison.Ordinal);

        // The route for held.test points at a closed port: the message waits in the queue, sender and domain shown.
        var list = await MailProbe.WaitForQueueAsync(_server, l => l.Contains(user, StringComparison.OrdinalIgnoreCase), "listed " + user, TimeSpan.FromSeconds(30));
        Assert.Contains("held.test", list, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Auth_before_tls_is_refused_on_submission()
    {
        var (user, pw) = await MailProbe.NewUserAsync(_server, "cleartext");

        // swaks without TLS must not get a 235.
        var r = await SwaksAsync("--server", "127.0.0.1", "--port", _server.Port("submission").ToString(CultureInfo.InvariantCulture),
            "--auth", "PLAIN", "--auth-user", user, "--auth-password", pw, "--from", user, "--to", user);
        Assert.True(r.ExitCode != 0, r.ToString());
        Assert.DoesNotMatch(@"<[-~] +235", r.Stdout);

        // The same on the wire: AUTH PLAIN in clear text gets a 5.7.x refusal and MAIL still needs authentication.
        using var tcp = new TcpClient();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await tcp.ConnectAsync("127.0.0.1", _server.Port("submission"), cts.Token);
        var s = tcp.GetStream();
        Assert.StartsWith("220", await ReadReplyAsync(s, cts.Token), StringComparison.Ordinal);
        await WriteAsync(s, "EHLO cleartext.test", cts.Token);
        Assert.StartsWith("250", await ReadReplyAsync(s, cts.Token), StringComparison.Ordinal);
        var token = Convert.ToBase64String(Encoding.UTF8.GetBytes("\0" + user + "\0" + pw));
        await WriteAsync(s, "AUTH PLAIN " + token, cts.Token);
        var auth = await ReadReplyAsync(s, cts.Token);
        Assert.Matches(@"^5\d\d 5\.7\.\d+", auth);
        await WriteAsync(s, "MAIL FROM:<" + user + ">", cts.Token);
        Assert.StartsWith("530", await ReadReplyAsync(s, cts.Token), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Relaying_through_the_mx_port_is_refused_with_554_5_7_1()
    {
        var r = await SwaksAsync("--server", "127.0.0.1", "--port", Mx, "--from", "spammer@elsewhere.test", "--to", "victim@faraway.example");
        Assert.True(r.ExitCode != 0, r.ToString());
        Assert.Contains("554 5.7.1", r.Stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("faraway.example", await MailProbe.QueueListAsync(_server), StringComparison.Ordinal);
    }

    private const string SmtpUtf8Script = """
        import smtplib, sys
        host, port, rcpt, marker = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
        sender = "jörg@exämple.test"
        msg = ("From: Jörg <" + sender + ">\r\n"
               "To: <" + rcpt + ">\r\n"
               "Subject: Grüße " + marker + "\r\n"
               "MIME-Version: 1.0\r\n"
               "Content-Type: text/plain; charset=utf-8\r\n"
               "Content-Transfer-Encoding: 8bit\r\n"
               "\r\n"
               "Äpfel und Bäume, naïve café\r\n").encode("utf-8")
        with smtplib.SMTP(host, port, timeout=30) as s:
            s.ehlo("python.interop.test")
            for ext in ("8bitmime", "smtputf8", "enhancedstatuscodes"):
                if not s.has_extn(ext):
                    sys.exit("server does not advertise " + ext.upper())
            refused = s.sendmail(sender, [rcpt], msg, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
            if refused:
                sys.exit("refused: %r" % refused)
        print("SENT")
        """;

    [Fact]
    public async Task Python_smtplib_sends_8bitmime_with_smtputf8_and_the_utf8_survives()
    {
        var (user, pw) = await MailProbe.NewUserAsync(_server, "utf8");
        var marker = "py-" + Guid.NewGuid().ToString("n")[..8];
        var r = await ExternalTool.PythonAsync(SmtpUtf8Script, TimeSpan.FromSeconds(60), "127.0.0.1", Mx, user, marker);
        Assert.True(r.ExitCode == 0 && r.Stdout.Contains("SENT", StringComparison.Ordinal), r.ToString());

        var m = await MailProbe.WaitForSubjectAsync(_server, user, pw, marker, Arrival);
        Assert.Equal("Grüße " + marker, m.Subject);
        Assert.Equal("jörg@exämple.test", ((MailboxAddress)m.From[0]).Address);
        Assert.Contains("Äpfel und Bäume, naïve café", m.TextBody, StringComparison.Ordinal);
        Assert.Equal("<jörg@exämple.test>", MailProbe.Header(m, "Return-Path"));
        Assert.Contains("UTF8SMTP", MailProbe.Header(m, "Received"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Curl_uploads_a_message_over_smtp_in_clear_and_with_starttls()
    {
        var curl = ExternalTool.Require("curl", "curl");
        var (user, pw) = await MailProbe.NewUserAsync(_server, "curl");
        using var tmp = new TempFolder("rempart-curl");
        foreach (var (label, extra) in new[] { ("plain", Array.Empty<string>()), ("starttls", new[] { "--ssl-reqd", "-k" }) })
        {
            var marker = "curl-" + label + "-" + Guid.NewGuid().ToString("n")[..8];
            var file = Path.Combine(tmp.Path, label + ".eml");
            await File.WriteAllTextAsync(file,
                $"From: <curl@elsewhere.test>\r\nTo: <{user}>\r\nSubject: {marker}\r\nMessage-ID: <{marker}@elsewhere.test>\r\n\r\nsent by curl\r\n");
            var r = await ExternalTool.RunAsync(curl,
                ["--silent", "--show-error", "--max-time", "30", "--url", $"smtp://127.0.0.1:{Mx}/curl.interop.test",
                 "--mail-from", "curl@elsewhere.test", "--mail-rcpt", user, "--upload-file", file, .. extra],
                timeout: TimeSpan.FromSeconds(60));
            Assert.True(r.ExitCode == 0, r.ToString());

            var m = await MailProbe.WaitForSubjectAsync(_server, user, pw, marker, Arrival);
            Assert.Contains("sent by curl", m.TextBody, StringComparison.Ordinal);
            var received = MailProbe.Header(m, "Received");
            Assert.Contains("curl.interop.test", received, StringComparison.Ordinal);
            if (label == "starttls")
            {
                Assert.Contains("ESMTPS", received, StringComparison.Ordinal);
            }
        }
    }

    private static async Task WriteAsync(NetworkStream s, string line, CancellationToken ct) =>
        await s.WriteAsync(Encoding.ASCII.GetBytes(line + "\r\n"), ct);

    /// <summary>Reads one whole (possibly multi-line) SMTP reply; returns its last line.</summary>
    private static async Task<string> ReadReplyAsync(NetworkStream s, CancellationToken ct)
    {
        var b = new byte[1];
        for (var lines = 0; lines < 100; lines++)
        {
            var sb = new StringBuilder();
            while (sb.Length < 4096)
            {
                if (await s.ReadAsync(b, ct) != 1)
                {
                    return sb.ToString();
                }

                if (b[0] == '\n')
                {
                    break;
                }

                sb.Append((char)b[0]);
            }

            var line = sb.ToString().TrimEnd('\r');
            if (line.Length < 4 || line[3] != '-')
            {
                return line;
            }
        }

        throw new InvalidOperationException("reply of more than 100 lines");
    }
}
