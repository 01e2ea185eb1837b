using System.Text;
using Rempart.Smtp.Inbound;

namespace Rempart.Smtp.Tests;

public class SessionTests
{
    private const string Message = "From: a@remote.test\r\nTo: alice@example.test\r\nSubject: hi\r\n\r\nHello\r\n";

    private static async Task<RawSmtpClient> GreetedAsync(InboundTestHost host, string ehlo = "EHLO client.test")
    {
        var c = await RawSmtpClient.ConnectAsync(host.Port);
        Assert.StartsWith("220 mx.test ESMTP", await c.ReplyAsync());
        if (ehlo.Length != 0)
        {
            Assert.StartsWith("250 ", await c.CommandAsync(ehlo));
        }

        return c;
    }

    private static async Task<string> BdatAsync(RawSmtpClient c, string raw)
    {
        await c.SendAsync(raw);
        return await c.ReplyAsync();
    }

    [Fact]
    public async Task Ehlo_advertises_the_mx_extensions_without_auth()
    {
        await using var host = await InboundTestHost.StartAsync();
        await using var c = await RawSmtpClient.ConnectAsync(host.Port);
        await c.ReplyAsync();
        await c.SendAsync("EHLO client.test\r\n");
        var lines = (await c.ReadReplyAsync()).Select(l => l[4..]).ToList();
        Assert.Equal("mx.test Hello client.test [127.0.0.1]", lines[0]);
        foreach (var ext in new[] { "PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE 52428800", "ENHANCEDSTATUSCODES", "CHUNKING", "BINARYMIME", "DSN", "STARTTLS" })
        {
            Assert.Contains(ext, lines);
        }

        Assert.DoesNotContain(lines, l => l.StartsWith("AUTH", StringComparison.Ordinal));
        Assert.DoesNotContain("REQUIRETLS", lines);
    }

    [Fact]
    public async Task Starttls_is_not_offered_without_a_certificate()
    {
        await using var host = await InboundTestHost.StartAsync(withTls: false);
        await using var c = await RawSmtpClient.ConnectAsync(host.Port);
        await c.ReplyAsync();
        await c.SendAsync("EHLO client.test\r\n");
        Assert.DoesNotContain("250-STARTTLS", await c.ReadReplyAsync());
        Assert.StartsWith("454 4.7.0", await c.CommandAsync("STARTTLS"));
    }

    [Fact]
    public async Task Helo_gets_a_plain_reply_and_every_simple_command_answers()
    {
        await using var host = await InboundTestHost.StartAsync();
        await using var c = await GreetedAsync(host, "");
        Assert.Equal("250 mx.test Hello client.test [127.0.0.1]", await c.CommandAsync("HELO client.test"));
        Assert.Equal("250 2.0.0 OK", await c.CommandAsync("NOOP"));
        Assert.Equal("250 2.0.0 Reset state", await c.CommandAsync("RSET"));
        Assert.StartsWith("214 2.0.0", await c.CommandAsync("HELP"));
        Assert.StartsWith("252 2.5.0", await c.CommandAsync("VRFY alice"));
        Assert.StartsWith("252 2.5.0", await c.CommandAsync("VRFY nobody@example.test"));
        Assert.StartsWith("502 5.5.1", await c.CommandAsync("EXPN team"));
        Assert.StartsWith("500 5.5.2", await c.CommandAsync("XYZZY"));
        Assert.StartsWith("501 5.5.4", await c.CommandAsync("HELO"));
        Assert.StartsWith("502 5.5.1", await c.CommandAsync("AUTH PLAIN"));
        Assert.StartsWith("555 5.5.4", await c.CommandAsync("MAIL FROM:<a@remote.test> SIZE=10"));
        Assert.Equal("221 2.0.0 Bye", await c.CommandAsync("QUIT"));
        Assert.Equal("", await c.ReadToEndAsync());
    }

    [Fact]
    public async Task Out_of_sequence_commands_get_503_and_the_session_continues()
    {
        await using var host = await InboundTestHost.StartAsync();
        await using var c = await GreetedAsync(host, "");
        Assert.StartsWith("503 5.5.1", await c.CommandAsync("MAIL FROM:<a@remote.test>"));
        Assert.StartsWith("250", await c.CommandAsync("EHLO client.test"));
        Assert.StartsWith("503 5.5.1", await c.CommandAsync("RCPT TO:<alice@example.test>"));
        Assert.StartsWith("503 5.5.1", await c.CommandAsync("DATA"));
        Assert.StartsWith("250 2.1.0", await c.CommandAsync("MAIL FROM:<a@remote.test>"));
        Assert.StartsWith("503 5.5.1", await c.CommandAsync("MAIL FROM:<a@remote.test>"));
        Assert.StartsWith("554 5.5.1", await c.CommandAsync("DATA"));
        Assert.StartsWith("503 5.5.1", await c.CommandAsync("STARTTLS"));
        Assert.StartsWith("250 2.1.5", await c.CommandAsync("RCPT TO:<alice@example.test>"));
        Assert.StartsWith("354", await c.CommandAsync("DATA"));
        Assert.StartsWith("250 2.0.0 OK queued as", await c.CommandAsync(Message + "."));
    }

    [Fact]
    public async Task A_pipelined_batch_is_answered_in_one_write()
    {
        await using var host = await InboundTestHost.StartAsync();
        await using var c = await GreetedAsync(host);
        await c.SendAsync("MAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\nRCPT TO:<nobody@example.test>\r\nRCPT TO:<bob@example.test>\r\nNOOP\r\nDATA\r\n");
        var once = await c.ReadOnceAsync();
        var lines = once.Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(6, lines.Length);
        Assert.StartsWith("250 2.1.0", lines[0]);
        Assert.StartsWith("250 2.1.5", lines[1]);
        Assert.StartsWith("550 5.1.1", lines[2]);
        Assert.StartsWith("250 2.1.5", lines[3]);
        Assert.StartsWith("250 2.0.0", lines[4]);
        Assert.StartsWith("354", lines[5]);
        Assert.StartsWith("250 2.0.0 OK queued as", await c.CommandAsync(Message + "."));
    }

    [Theory]
    [InlineData("\n.\r\n")]
    [InlineData("\n.\n")]
    [InlineData("\r.\r")]
    [InlineData("\r\n.\n")]
    [InlineData("\n.\r")]
    [InlineData("\r.\r\n")]
    public async Task Smuggling_variants_give_one_rejection_and_never_a_second_message(string fakeEnd)
    {
        await using var host = await InboundTestHost.StartAsync();
        await using var c = await GreetedAsync(host);
        Assert.StartsWith("250", await c.CommandAsync("MAIL FROM:<a@remote.test>"));
        Assert.StartsWith("250", await c.CommandAsync("RCPT TO:<alice@example.test>"));
        Assert.StartsWith("354", await c.CommandAsync("DATA"));
        await c.SendAsync("Subject: outer\r\n\r\nouter" + fakeEnd
            + "MAIL FROM:<admin@example.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n");
        Assert.StartsWith("550 5.6.11", await c.ReplyAsync());
        Assert.Equal("250 2.0.0 OK", await c.CommandAsync("NOOP"));
        Assert.Equal("221 2.0.0 Bye", await c.CommandAsync("QUIT"));
        Assert.Empty(await host.MessagesAsync("alice@example.test"));
        Assert.Empty(await host.MessagesAsync("bob@example.test"));
    }

    [Fact]
    public async Task Dot_stuffing_is_undone_and_only_crlf_dot_crlf_ends_data()
    {
        await using var host = await InboundTestHost.StartAsync();
        await using var c = await GreetedAsync(host);
        await c.CommandAsync("MAIL FROM:<a@remote.test>");
        await c.CommandAsync("RCPT TO:<alice@example.test>");
        await c.CommandAsync("DATA");
        Assert.StartsWith("250 2.0.0", await c.CommandAsync("Subject: dots\r\n\r\n..one\r\n...two\r\n."));
        var messages = await host.MessagesAsync("alice@example.test");
        var stored = await host.ReadBlobAsync(Assert.Single(messages).BlobHash);
        Assert.EndsWith("\r\n\r\n.one\r\n..two\r\n", stored);
    }

    [Fact]
    public async Task Bare_lf_in_a_command_is_refused()
    {
        await using var host = await InboundTestHost.StartAsync();
        await using var c = await GreetedAsync(host);
        await c.SendAsync("MAIL FROM:<a@remote.test>\nRCPT TO:<alice@example.test>\r\n");
        Assert.StartsWith("500 5.5.2", await c.ReplyAsync());
        Assert.StartsWith("503 5.5.1", await c.ReplyAsync());
        await c.SendAsync("NOOP\rRSET\r\n");
        Assert.StartsWith("500 5.5.2", await c.ReplyAsync());
    }

    [Fact]
    public async Task Long_lines_get_500_and_repeats_close_the_session()
    {
        await using var host = await InboundTestHost.StartAsync();
        await using var c = await GreetedAsync(host);
        await c.SendAsync(new string('A', 3000) + "\r\n");
        Assert.StartsWith("500 5.5.2 Line too long", await c.ReplyAsync());
        Assert.Equal("250 2.0.0 OK", await c.CommandAsync("NOOP"));
        await c.SendAsync(new string('B', 1500) + "\r\n" + new string('C', 1001) + "\r\n");
        Assert.StartsWith("500 5.5.2", await c.ReplyAsync());
        Assert.StartsWith("500 5.5.2", await c.ReplyAsync());
        await c.SendAsync(new string('D', 5000) + "\r\n");
        Assert.StartsWith("421", await c.ReplyAsync());
        Assert.Equal("", await c.ReadToEndAsync());
    }

    [Fact]
    public async Task Oversize_message_is_refused_after_reading_to_the_end()
    {
        await using var host = await InboundTestHost.StartAsync(configure: o => o.Smtp.MaxMessageSize = 1000);
        await using var c = await GreetedAsync(host);
        Assert.StartsWith("552 5.3.4", await c.CommandAsync("MAIL FROM:<a@remote.test> SIZE=5000"));
        await c.CommandAsync("MAIL FROM:<a@remote.test>");
        await c.CommandAsync("RCPT TO:<alice@example.test>");
        await c.CommandAsync("DATA");
        var big = new StringBuilder("Subject: big\r\n\r\n");
        for (var i = 0; i < 200; i++)
        {
            big.Append("0123456789012345678901234567890123456789\r\n");
        }

        Assert.StartsWith("552 5.3.4", await c.CommandAsync(big + "."));
        Assert.Equal("250 2.0.0 OK", await c.CommandAsync("NOOP"));
        Assert.Empty(await host.MessagesAsync("alice@example.test"));
    }

    [Fact]
    public async Task Too_many_recipients_get_452()
    {
        await using var host = await InboundTestHost.StartAsync(configure: o => o.Smtp.MaxRecipients = 2);
        await using var c = await GreetedAsync(host);
        await c.CommandAsync("MAIL FROM:<a@remote.test>");
        Assert.StartsWith("250", await c.CommandAsync("RCPT TO:<alice@example.test>"));
        Assert.StartsWith("250", await c.CommandAsync("RCPT TO:<bob@example.test>"));
        Assert.StartsWith("452 4.5.3", await c.CommandAsync("RCPT TO:<info@example.test>"));
    }

    [Fact]
    public async Task Too_many_errors_close_with_421()
    {
        await using var host = await InboundTestHost.StartAsync(configure: o => o.Smtp.MaxErrors = 3);
        await using var c = await GreetedAsync(host);
        Assert.StartsWith("500", await c.CommandAsync("BAD1"));
        Assert.StartsWith("500", await c.CommandAsync("BAD2"));
        await c.SendAsync("BAD3\r\n");
        Assert.StartsWith("500", await c.ReplyAsync());
        Assert.StartsWith("421 4.7.0", await c.ReplyAsync());
        Assert.Equal("", await c.ReadToEndAsync());
    }

    [Fact]
    public async Task A_silent_client_is_closed_with_421_4_4_2()
    {
        await using var host = await InboundTestHost.StartAsync(configure: o => o.Listeners.Smtp.Limits.IdleTimeout = TimeSpan.FromMilliseconds(300));
        await using var c = await GreetedAsync(host);
        Assert.StartsWith("421 4.4.2", await c.ReplyAsync());
        Assert.Equal("", await c.ReadToEndAsync());
    }

    [Fact]
    public async Task A_slow_client_that_never_finishes_its_command_is_closed()
    {
        await using var host = await InboundTestHost.StartAsync(configure: o => o.Listeners.Smtp.Limits.CommandTimeout = TimeSpan.FromMilliseconds(300));
        await using var c = await GreetedAsync(host);
        await c.SendAsync("MAIL FROM:<a@rem");
        Assert.StartsWith("421 4.4.2", await c.ReplyAsync());
    }

    [Fact]
    public async Task A_client_stalling_in_data_is_closed()
    {
        await using var host = await InboundTestHost.StartAsync(configure: o => o.Listeners.Smtp.Limits.CommandTimeout = TimeSpan.FromMilliseconds(300));
        await using var c = await GreetedAsync(host);
        await c.CommandAsync("MAIL FROM:<a@remote.test>");
        await c.CommandAsync("RCPT TO:<alice@example.test>");
        await c.CommandAsync("DATA");
        await c.SendAsync("Subject: half\r\n");
        Assert.StartsWith("421 4.4.2", await c.ReplyAsync());
        Assert.Empty(await host.MessagesAsync("alice@example.test"));
    }

    [Fact]
    public async Task Bdat_chunks_including_binarymime_and_bdat_0_last()
    {
        await using var host = await InboundTestHost.StartAsync();
        await using var c = await GreetedAsync(host);
        await c.CommandAsync("MAIL FROM:<a@remote.test> BODY=BINARYMIME");
        await c.CommandAsync("RCPT TO:<alice@example.test>");
        Assert.StartsWith("503 5.5.1", await c.CommandAsync("DATA"));
        var part1 = "Subject: chunked\r\n\r\n";
        var part2 = "line\r\n.\r\nnot the end\nbinary\0ok\r\n";
        Assert.Equal($"250 2.0.0 {part1.Length} octets received", await BdatAsync(c, $"BDAT {part1.Length}\r\n{part1}"));
        Assert.StartsWith("503 5.5.1", await c.CommandAsync("MAIL FROM:<x@remote.test>"));
        Assert.StartsWith("250 2.0.0", await BdatAsync(c, $"BDAT {part2.Length}\r\n{part2}"));
        Assert.StartsWith("250 2.0.0 OK queued as", await c.CommandAsync("BDAT 0 LAST"));
        var stored = await host.ReadBlobAsync(Assert.Single(await host.MessagesAsync("alice@example.test")).BlobHash);
        Assert.EndsWith(part1 + part2, stored);
    }

    [Fact]
    public async Task Bdat_out_of_sequence_consumes_its_chunk_and_oversize_chunk_is_refused()
    {
        await using var host = await InboundTestHost.StartAsync(configure: o => o.Smtp.MaxMessageSize = 100);
        await using var c = await GreetedAsync(host);

        // The chunk holds what would be a command: it must be swallowed, not executed.
        Assert.StartsWith("503 5.5.1", await BdatAsync(c, "BDAT 6\r\nQUIT\r\n"));
        Assert.Equal("250 2.0.0 OK", await c.CommandAsync("NOOP"));
        await c.CommandAsync("MAIL FROM:<a@remote.test>");
        await c.CommandAsync("RCPT TO:<alice@example.test>");
        var big = new string('x', 150);
        Assert.StartsWith("552 5.3.4", await BdatAsync(c, $"BDAT 150 LAST\r\n{big}"));
        Assert.Equal("250 2.0.0 OK", await c.CommandAsync("NOOP"));
        Assert.StartsWith("421", await c.CommandAsync("BDAT nonsense"));
    }

    [Fact]
    public async Task Received_and_return_path_headers_are_added()
    {
        await using var host = await InboundTestHost.StartAsync();
        await using var c = await GreetedAsync(host);
        await c.CommandAsync("MAIL FROM:<a@remote.test>");
        await c.CommandAsync("RCPT TO:<alice@example.test>");
        await c.CommandAsync("DATA");
        await c.CommandAsync(Message + ".");
        var stored = await host.ReadBlobAsync(Assert.Single(await host.MessagesAsync("alice@example.test")).BlobHash);
        Assert.StartsWith("Return-Path: <a@remote.test>\r\nReceived: from client.test ([127.0.0.1])\r\n\tby mx.test (Rempart)\r\n\twith ESMTP id ", stored);
        Assert.Contains("\tfor <alice@example.test>;\r\n", stored);
        Assert.EndsWith(Message, stored);
    }

    [Fact]
    public async Task Too_many_received_headers_are_a_loop()
    {
        await using var host = await InboundTestHost.StartAsync(configure: o => o.Smtp.MaxHops = 3);
        await using var c = await GreetedAsync(host);
        await c.CommandAsync("MAIL FROM:<a@remote.test>");
        await c.CommandAsync("RCPT TO:<alice@example.test>");
        await c.CommandAsync("DATA");
        var hops = string.Concat(Enumerable.Repeat("Received: from a by b; Mon, 1 Jan 2024 00:00:00 +0000\r\n", 3));
        Assert.StartsWith("554 5.4.6", await c.CommandAsync(hops + Message + "."));
    }

    [Fact]
    public async Task Store_failure_answers_451_and_the_session_goes_on()
    {
        // fwd@ forwards outside, which needs external forwarding allowed (off by default).
        await using var host = await InboundTestHost.StartAsync(SmtpRole.Mx, o => o.Protection.Outbound.AllowExternalForwarding = true);
        host.Queue.Fail = true;
        await using var c = await GreetedAsync(host);
        await c.CommandAsync("MAIL FROM:<a@remote.test>");
        Assert.StartsWith("250", await c.CommandAsync("RCPT TO:<fwd@example.test>"));
        await c.CommandAsync("DATA");
        Assert.StartsWith("451 4.3.0", await c.CommandAsync(Message + "."));
        Assert.Equal("250 2.0.0 OK", await c.CommandAsync("NOOP"));
        Assert.Contains(host.Logs.Snapshot(), l => l.Contains("replied 451", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Null_sender_is_accepted_on_mx_and_non_ascii_needs_smtputf8()
    {
        await using var host = await InboundTestHost.StartAsync();
        await using var c = await GreetedAsync(host);
        Assert.StartsWith("553 5.6.7", await c.CommandAsync("MAIL FROM:<δοκιμή@remote.test>"));
        Assert.StartsWith("250 2.1.0", await c.CommandAsync("MAIL FROM:<>"));
        Assert.StartsWith("250", await c.CommandAsync("RCPT TO:<alice@example.test> NOTIFY=NEVER"));
        Assert.StartsWith("250", await c.CommandAsync("RSET"));
        Assert.StartsWith("250 2.1.0", await c.CommandAsync("MAIL FROM:<δοκιμή@remote.test> SMTPUTF8"));
    }

    [Fact]
    public async Task A_huge_pipelined_batch_is_answered_completely()
    {
        await using var host = await InboundTestHost.StartAsync();
        await using var c = await GreetedAsync(host);
        await c.SendAsync(string.Concat(Enumerable.Repeat("NOOP\r\n", 3000)) + "QUIT\r\n");
        var lines = (await c.ReadToEndAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3001, lines.Length);
        Assert.All(lines[..3000], l => Assert.Equal("250 2.0.0 OK", l));
        Assert.Equal("221 2.0.0 Bye", lines[^1]);
    }

    [Fact]
    public async Task Recipients_over_the_limit_do_not_count_as_errors()
    {
        await using var host = await InboundTestHost.StartAsync(configure: o =>
        {
            o.Smtp.MaxRecipients = 1;
            o.Smtp.MaxErrors = 2;
        });
        await using var c = await GreetedAsync(host);
        await c.CommandAsync("MAIL FROM:<a@remote.test>");
        Assert.StartsWith("250", await c.CommandAsync("RCPT TO:<alice@example.test>"));
        for (var i = 0; i < 5; i++)
        {
            Assert.StartsWith("452 4.5.3", await c.CommandAsync("RCPT TO:<bob@example.test>"));
        }

        Assert.StartsWith("354", await c.CommandAsync("DATA"));
        Assert.StartsWith("250 2.0.0", await c.CommandAsync(Message + "."));
    }

    [Fact]
    public async Task Smtputf8_message_is_traced_as_utf8smtp()
    {
        await using var host = await InboundTestHost.StartAsync();
        await using var c = await GreetedAsync(host);
        await c.CommandAsync("MAIL FROM:<δοκιμή@remote.test> SMTPUTF8");
        await c.CommandAsync("RCPT TO:<alice@example.test>");
        await c.CommandAsync("DATA");
        Assert.StartsWith("250 2.0.0", await c.CommandAsync("Subject: ünïcödé\r\n\r\nbody\r\n."));
        var stored = await host.ReadBlobAsync(Assert.Single(await host.MessagesAsync("alice@example.test")).BlobHash);
        Assert.Contains("with UTF8SMTP id", stored);
        Assert.Contains("Return-Path: <δοκιμή@remote.test>", stored);
    }

    [Fact]
    public async Task Server_shutdown_closes_sessions_with_421_4_3_2()
    {
        await using var host = await InboundTestHost.StartAsync();
        await using var c = await GreetedAsync(host);
        await host.ShutdownAsync();
        Assert.StartsWith("421 4.3.2", await c.ReplyAsync());
    }
}
