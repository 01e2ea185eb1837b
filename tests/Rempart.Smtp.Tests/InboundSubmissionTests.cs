using System.Text;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;
using Rempart.Smtp.Inbound;

namespace Rempart.Smtp.Tests;

public class InboundSubmissionTests
{
    private static string Plain(string user, string password) => Convert.ToBase64String(Encoding.UTF8.GetBytes("\0" + user + "\0" + password));

    private static async Task<RawSmtpClient> SecureAsync(InboundTestHost host)
    {
        var c = await RawSmtpClient.ConnectAsync(host.Port);
        await c.ReplyAsync();
        await c.SendAsync("EHLO client.test\r\n");
        await c.ReadReplyAsync();
        Assert.Equal("220 2.0.0 Ready to start TLS", await c.CommandAsync("STARTTLS"));
        await c.StartTlsHandshakeAsync();
        return c;
    }

    [Fact]
    public async Task Auth_is_refused_before_tls_and_not_advertised()
    {
        await using var host = await InboundTestHost.StartAsync(SmtpRole.Submission);
        await using var c = await RawSmtpClient.ConnectAsync(host.Port);
        await c.ReplyAsync();
        await c.SendAsync("EHLO client.test\r\n");
        var ehlo = await c.ReadReplyAsync();
        Assert.Contains("250-STARTTLS", ehlo);
        Assert.DoesNotContain(ehlo, l => l.Contains("AUTH", StringComparison.Ordinal));
        Assert.StartsWith("538 5.7.11", await c.CommandAsync("AUTH PLAIN " + Plain("alice@example.test", InboundTestHost.Password)));
        Assert.StartsWith("530 5.7.0", await c.CommandAsync("MAIL FROM:<alice@example.test>"));
    }

    [Fact]
    public async Task Starttls_discards_pipelined_plaintext_and_resets_state()
    {
        await using var host = await InboundTestHost.StartAsync(SmtpRole.Mx);
        await using var c = await RawSmtpClient.ConnectAsync(host.Port);
        await c.ReplyAsync();
        await c.SendAsync("EHLO client.test\r\n");
        await c.ReadReplyAsync();
        await c.SendAsync("STARTTLS\r\nMAIL FROM:<evil@remote.test>\r\n");
        Assert.Equal("220 2.0.0 Ready to start TLS", await c.ReplyAsync());
        await c.StartTlsHandshakeAsync();

        // The injected MAIL never ran, and the pre-TLS EHLO is forgotten (RFC 3207 section 4.2).
        Assert.StartsWith("503 5.5.1", await c.CommandAsync("RCPT TO:<alice@example.test>"));
        Assert.StartsWith("503 5.5.1 Send EHLO", await c.CommandAsync("MAIL FROM:<a@remote.test>"));
        await c.SendAsync("EHLO client.test\r\n");
        var ehlo = await c.ReadReplyAsync();
        Assert.DoesNotContain("250-STARTTLS", ehlo);
        Assert.StartsWith("503 5.5.1", await c.CommandAsync("RCPT TO:<alice@example.test>"));
        Assert.StartsWith("503 5.5.1", await c.CommandAsync("STARTTLS"));
    }

    [Fact]
    public async Task Auth_plain_and_login_work_over_tls_and_failures_get_535()
    {
        await using var host = await InboundTestHost.StartAsync(SmtpRole.Submission);
        await using var c = await SecureAsync(host);
        await c.SendAsync("EHLO client.test\r\n");
        var ehlo = await c.ReadReplyAsync();
        Assert.Contains("250-AUTH PLAIN LOGIN", ehlo);
        Assert.Contains("250-REQUIRETLS", ehlo);
        Assert.StartsWith("535 5.7.8", await c.CommandAsync("AUTH PLAIN " + Plain("alice@example.test", "wrong")));
        Assert.StartsWith("535 5.7.8", await c.CommandAsync("AUTH PLAIN " + Plain("dave@example.test", InboundTestHost.Password)));
        Assert.StartsWith("504 5.5.4", await c.CommandAsync("AUTH CRAM-MD5"));
        Assert.Equal("334 VXNlcm5hbWU6", await c.CommandAsync("AUTH LOGIN"));
        Assert.Equal("334 UGFzc3dvcmQ6", await c.CommandAsync(Convert.ToBase64String("alice@example.test"u8)));
        Assert.Equal("235 2.7.0 Authentication successful", await c.CommandAsync(Convert.ToBase64String(Encoding.UTF8.GetBytes(InboundTestHost.Password))));
        Assert.StartsWith("503 5.5.1", await c.CommandAsync("AUTH PLAIN " + Plain("alice@example.test", InboundTestHost.Password)));
        var transcript = string.Join("\n", host.Logs.Snapshot());
        Assert.DoesNotContain(InboundTestHost.Password, transcript);
        Assert.DoesNotContain(Plain("alice@example.test", "wrong"), transcript);
        Assert.DoesNotContain(Convert.ToBase64String("alice@example.test"u8), transcript);
        Assert.Contains("AUTH PLAIN ***", transcript);
    }

    [Fact]
    public async Task Auth_cancel_and_repeated_failures_are_throttled()
    {
        await using var host = await InboundTestHost.StartAsync(SmtpRole.Submissions, o => o.Auth.MaxFailuresPerIp = 2);
        await using var c = await RawSmtpClient.ConnectAsync(host.Port, implicitTls: true);
        await c.ReplyAsync();
        await c.SendAsync("EHLO client.test\r\n");
        await c.ReadReplyAsync();
        Assert.Equal("334 ", await c.CommandAsync("AUTH PLAIN"));
        Assert.StartsWith("501 5.0.0", await c.CommandAsync("*"));
        Assert.StartsWith("535", await c.CommandAsync("AUTH PLAIN " + Plain("alice@example.test", "x1")));
        Assert.StartsWith("535", await c.CommandAsync("AUTH PLAIN " + Plain("alice@example.test", "x2")));
        Assert.StartsWith("421 4.7.0", await c.CommandAsync("AUTH PLAIN " + Plain("alice@example.test", InboundTestHost.Password)));
    }

    [Fact]
    public async Task Send_as_is_enforced_on_envelope_and_from_header()
    {
        await using var host = await InboundTestHost.StartAsync(SmtpRole.Submissions);
        await using var c = await RawSmtpClient.ConnectAsync(host.Port, implicitTls: true);
        await c.ReplyAsync();
        await c.SendAsync("EHLO client.test\r\n");
        await c.ReadReplyAsync();
        Assert.StartsWith("530 5.7.0", await c.CommandAsync("MAIL FROM:<alice@example.test>"));
        Assert.StartsWith("235", await c.CommandAsync("AUTH PLAIN " + Plain("alice@example.test", InboundTestHost.Password)));
        Assert.StartsWith("553 5.7.1", await c.CommandAsync("MAIL FROM:<bob@example.test>"));
        Assert.StartsWith("553 5.7.1", await c.CommandAsync("MAIL FROM:<>"));
        Assert.StartsWith("250 2.1.0", await c.CommandAsync("MAIL FROM:<info@example.test> REQUIRETLS"));
        Assert.StartsWith("250 2.1.5", await c.CommandAsync("RCPT TO:<someone@remote.test>"));
        await c.CommandAsync("DATA");
        Assert.StartsWith("550 5.7.1", await c.CommandAsync("From: bob@example.test\r\nSubject: spoof\r\n\r\nx\r\n."));
        Assert.Empty(host.Queue.Enqueued);

        await c.CommandAsync("MAIL FROM:<alice@example.test>");
        await c.CommandAsync("RCPT TO:<someone@remote.test>");
        await c.CommandAsync("RCPT TO:<bob@example.test>");
        await c.CommandAsync("DATA");
        Assert.StartsWith("250 2.0.0", await c.CommandAsync("From: Alice <alice@example.test>\r\nSubject: ok\r\n\r\nx\r\n."));
        var queued = Assert.Single(host.Queue.Enqueued);
        Assert.Equal("someone@remote.test", Assert.Single(queued.Recipients).Address);
        var copy = await host.ReadBlobAsync(queued.Blob.Hash);
        Assert.Contains("with ESMTPSA id", copy);
        Assert.Contains("(using TLSv1.", copy);
        Assert.Contains("Message-ID: <", copy);
        Assert.Contains("Date: ", copy);
        Assert.Single(await host.MessagesAsync("bob@example.test"));
    }

    [Fact]
    public async Task Mailkit_submits_over_starttls_with_auth()
    {
        await using var host = await InboundTestHost.StartAsync(SmtpRole.Submission);
        using var client = new SmtpClient();
        client.ServerCertificateValidationCallback = (_, cert, _, _) => cert?.GetCertHashString() == TestCertificateSource.Certificate.GetCertHashString();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await client.ConnectAsync("127.0.0.1", host.Port, SecureSocketOptions.StartTls, cts.Token);
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Pipelining));
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Chunking));
        await client.AuthenticateAsync("alice@example.test", InboundTestHost.Password, cts.Token);
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("alice@example.test"));
        message.To.Add(MailboxAddress.Parse("bob@example.test"));
        message.To.Add(MailboxAddress.Parse("friend@remote.test"));
        message.Subject = "via mailkit";
        message.Body = new TextPart("plain") { Text = "Hello from MailKit\n.\nwith a dot line" };
        var response = await client.SendAsync(message, cts.Token);
        Assert.StartsWith("2.0.0 OK queued as", response);
        await client.DisconnectAsync(true, cts.Token);

        var stored = await host.ReadBlobAsync(Assert.Single(await host.MessagesAsync("bob@example.test")).BlobHash);
        Assert.Contains("Subject: via mailkit", stored);
        Assert.Contains("with ESMTPSA", stored);
        Assert.Equal("friend@remote.test", Assert.Single(Assert.Single(host.Queue.Enqueued).Recipients).Address);
    }

    [Fact]
    public async Task Mailkit_delivers_to_the_mx_without_auth()
    {
        await using var host = await InboundTestHost.StartAsync(SmtpRole.Mx, withTls: false);
        using var client = new SmtpClient();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await client.ConnectAsync("127.0.0.1", host.Port, SecureSocketOptions.None, cts.Token);
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse("x@remote.test"));
        message.To.Add(MailboxAddress.Parse("team@example.test"));
        message.Subject = "to the group";
        message.Body = new TextPart("plain") { Text = "hi" };
        await client.SendAsync(message, cts.Token);
        await client.DisconnectAsync(true, cts.Token);
        Assert.Single(await host.MessagesAsync("alice@example.test"));
        Assert.Single(await host.MessagesAsync("bob@example.test"));
    }

    [Fact]
    public async Task Python_smtplib_sends_through_the_mx()
    {
        await using var host = await InboundTestHost.StartAsync(SmtpRole.Mx, withTls: false);
        var script = "import smtplib,sys\n" +
            $"s=smtplib.SMTP('127.0.0.1',{host.Port},timeout=20)\n" +
            "s.ehlo('py.test')\n" +
            "r=s.sendmail('py@remote.test',['alice@example.test','nobody@example.test'],'Subject: py\\r\\n\\r\\n.leading\\r\\nbody\\r\\n')\n" +
            "print('refused', sorted(r.keys()))\n" +
            "s.quit()\n";
        var psi = new System.Diagnostics.ProcessStartInfo("python3") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = System.Diagnostics.Process.Start(psi)!;
        await p.StandardInput.WriteAsync(script);
        p.StandardInput.Close();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var output = await p.StandardOutput.ReadToEndAsync(cts.Token);
        var error = await p.StandardError.ReadToEndAsync(cts.Token);
        await p.WaitForExitAsync(cts.Token);
        Assert.True(p.ExitCode == 0, error);
        Assert.Contains("refused ['nobody@example.test']", output);
        var stored = await host.ReadBlobAsync(Assert.Single(await host.MessagesAsync("alice@example.test")).BlobHash);
        Assert.EndsWith("Subject: py\r\n\r\n.leading\r\nbody\r\n", stored);
    }
}
