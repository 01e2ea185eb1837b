using System.Buffers;
using System.Text;
using Rempart.Smtp.Protocol;
using Rempart.Common.Text;

namespace Rempart.Smtp.Tests;

public class ProtocolParserTests
{
    private static LineStatus ReadLine(string text, int max, out string? line, out int consumed)
    {
        var seq = new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(text));
        var before = seq.Length;
        var status = SmtpLineReader.TryReadLine(ref seq, max, out var l);
        line = status == LineStatus.Line ? Encoding.UTF8.GetString(l) : null;
        consumed = (int)(before - seq.Length);
        return status;
    }

    [Fact]
    public void Line_reader_returns_a_crlf_line_without_the_crlf()
    {
        Assert.Equal(LineStatus.Line, ReadLine("NOOP\r\nQUIT\r\n", 100, out var line, out var consumed));
        Assert.Equal("NOOP", line);
        Assert.Equal(6, consumed);
    }

    [Theory]
    [InlineData("NOOP")]
    [InlineData("NOOP\r")]
    [InlineData("")]
    public void Line_reader_needs_more_without_lf(string text)
    {
        Assert.Equal(LineStatus.NeedMore, ReadLine(text, 100, out _, out var consumed));
        Assert.Equal(0, consumed);
    }

    [Theory]
    [InlineData("NOOP\n")]
    [InlineData("NO\rOP\r\n")]
    [InlineData("\n")]
    [InlineData("MAIL FROM:<a@b>\rRCPT TO:<c@d>\r\n")]
    public void Line_reader_reports_bare_cr_or_lf_and_consumes_the_line(string text)
    {
        Assert.Equal(LineStatus.BareLineEnding, ReadLine(text, 100, out _, out var consumed));
        Assert.Equal(text.IndexOf('\n') + 1, consumed);
    }

    [Fact]
    public void Line_reader_refuses_long_lines_complete_or_not()
    {
        Assert.Equal(LineStatus.TooLong, ReadLine(new string('a', 20) + "\r\n", 10, out _, out var consumed));
        Assert.Equal(22, consumed);
        Assert.Equal(LineStatus.TooLongUnterminated, ReadLine(new string('a', 20), 10, out _, out consumed));
        Assert.Equal(20, consumed);

        var rest = new ReadOnlySequence<byte>("aaa\r\nNOOP\r\n"u8.ToArray());
        Assert.True(LineBuffer.SkipLine(ref rest));
        Assert.Equal("NOOP\r\n", Encoding.ASCII.GetString(rest));
    }

    [Fact]
    public void Line_limit_counts_the_crlf()
    {
        Assert.Equal(LineStatus.Line, ReadLine("12345678\r\n", 10, out _, out _));
        Assert.Equal(LineStatus.TooLong, ReadLine("123456789\r\n", 10, out _, out _));
    }

    [Theory]
    [InlineData("EHLO client.test", SmtpVerb.Ehlo, "client.test")]
    [InlineData("ehlo client.test", SmtpVerb.Ehlo, "client.test")]
    [InlineData("HELO x", SmtpVerb.Helo, "x")]
    [InlineData("MAIL FROM:<a@b.c> SIZE=10", SmtpVerb.Mail, "FROM:<a@b.c> SIZE=10")]
    [InlineData("rcpt TO:<a@b.c>", SmtpVerb.Rcpt, "TO:<a@b.c>")]
    [InlineData("DATA", SmtpVerb.Data, "")]
    [InlineData("BDAT 100 LAST", SmtpVerb.Bdat, "100 LAST")]
    [InlineData("RSET", SmtpVerb.Rset, "")]
    [InlineData("NOOP hello", SmtpVerb.Noop, "hello")]
    [InlineData("QUIT", SmtpVerb.Quit, "")]
    [InlineData("HELP", SmtpVerb.Help, "")]
    [InlineData("VRFY bob", SmtpVerb.Vrfy, "bob")]
    [InlineData("EXPN list", SmtpVerb.Expn, "list")]
    [InlineData("StartTLS", SmtpVerb.StartTls, "")]
    [InlineData("AUTH PLAIN AGFAYg==", SmtpVerb.Auth, "PLAIN AGFAYg==")]
    [InlineData("XYZZY", SmtpVerb.Unknown, "")]
    [InlineData("GET / HTTP/1.1", SmtpVerb.Unknown, "/ HTTP/1.1")]
    public void Command_parser_recognizes_every_verb(string line, SmtpVerb verb, string argument)
    {
        var cmd = SmtpCommandParser.Parse(Encoding.UTF8.GetBytes(line));
        Assert.NotNull(cmd);
        Assert.Equal(verb, cmd.Verb);
        Assert.Equal(argument, cmd.Argument);
    }

    [Fact]
    public void Command_parser_refuses_invalid_utf8()
    {
        Assert.Null(SmtpCommandParser.Parse([(byte)'M', (byte)'A', (byte)'I', (byte)'L', (byte)' ', 0xC3, 0x28]));
    }

    [Theory]
    [InlineData("<alice@example.test>", "alice", "example.test", false, false, false)]
    [InlineData("<\"john doe\"@example.test>", "\"john doe\"", "example.test", true, false, false)]
    [InlineData("<\"a@b\"@example.test>", "\"a@b\"", "example.test", true, false, false)]
    [InlineData("<user@[192.0.2.1]>", "user", "[192.0.2.1]", false, true, false)]
    [InlineData("<user@[IPv6:2001:db8::1]>", "user", "[IPv6:2001:db8::1]", false, true, false)]
    [InlineData("<@relay.test,@other.test:user@example.test>", "user", "example.test", false, false, true)]
    [InlineData("<user%other.test@example.test>", "user%other.test", "example.test", false, false, false)]
    [InlineData("<δοκιμή@παράδειγμα.δοκιμή>", "δοκιμή", "παράδειγμα.δοκιμή", false, false, false)]
    [InlineData(" <a.b+tag@sub.example.test>", "a.b+tag", "sub.example.test", false, false, false)]
    public void Path_parser_accepts_rfc5321_forms(string text, string local, string domain, bool quoted, bool literal, bool route)
    {
        Assert.Equal(PathError.None, SmtpPathParser.TryParse(text, allowNull: false, out var a, out var rest));
        Assert.NotNull(a);
        Assert.Equal(local, a.LocalPart);
        Assert.Equal(domain, a.Domain);
        Assert.Equal(quoted, a.IsQuoted);
        Assert.Equal(literal, a.IsAddressLiteral);
        Assert.Equal(route, a.HasSourceRoute);
        Assert.Equal("", rest);
    }

    [Fact]
    public void Path_parser_flags_utf8_and_routing_characters()
    {
        SmtpPathParser.TryParse("<δοκιμή@example.test>", false, out var utf8, out _);
        Assert.True(utf8!.IsUtf8);
        SmtpPathParser.TryParse("<a!b@example.test>", false, out var bang, out _);
        Assert.True(bang!.HasRoutingCharacters);
        SmtpPathParser.TryParse("<\"x@y\"@example.test>", false, out var quotedAt, out _);
        Assert.True(quotedAt!.HasRoutingCharacters);
        SmtpPathParser.TryParse("<plain@example.test>", false, out var plain, out _);
        Assert.False(plain!.HasRoutingCharacters);
    }

    [Theory]
    [InlineData("alice@example.test")]
    [InlineData("<alice@example.test")]
    [InlineData("<alice>")]
    [InlineData("<@example.test>")]
    [InlineData("<.alice@example.test>")]
    [InlineData("<al..ice@example.test>")]
    [InlineData("<alice@-bad.test>")]
    [InlineData("<alice@exa_mple.test>")]
    [InlineData("<alice@[300.1.1.1]>")]
    [InlineData("<alice@[1.2.3]>")]
    [InlineData("<\"unterminated@example.test>")]
    [InlineData("<a b@example.test>")]
    [InlineData("<alice@example.test>SIZE=1")]
    [InlineData("<@:alice@example.test>")]
    [InlineData("<>")]
    public void Path_parser_rejects_malformed_paths(string text)
    {
        Assert.NotEqual(PathError.None, SmtpPathParser.TryParse(text, allowNull: false, out _, out _));
    }

    [Fact]
    public void Path_parser_accepts_the_null_path_only_when_allowed_and_enforces_lengths()
    {
        Assert.Equal(PathError.None, SmtpPathParser.TryParse("<> SIZE=5", allowNull: true, out var a, out var rest));
        Assert.Null(a);
        Assert.Equal("SIZE=5", rest);
        Assert.Equal(PathError.TooLong, SmtpPathParser.TryParse("<" + new string('a', 65) + "@example.test>", false, out _, out _));
        Assert.Equal(PathError.None, SmtpPathParser.TryParse("<" + new string('a', 64) + "@example.test>", false, out _, out _));
    }

    [Fact]
    public void Mail_parameters_parse_every_supported_keyword()
    {
        Assert.Null(EsmtpParameterParser.ParseMail("SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ+2B314 AUTH=<> REQUIRETLS", out var p));
        Assert.Equal(1000, p.Size);
        Assert.Equal(BodyType.EightBitMime, p.Body);
        Assert.True(p.SmtpUtf8);
        Assert.Equal("HDRS", p.Ret);
        Assert.Equal("QQ+314", p.EnvelopeId);
        Assert.Equal("<>", p.AuthMailbox);
        Assert.True(p.RequireTls);

        Assert.Null(EsmtpParameterParser.ParseMail("body=binarymime", out p));
        Assert.Equal(BodyType.BinaryMime, p.Body);
    }

    [Theory]
    [InlineData("SIZE=abc", 501)]
    [InlineData("SIZE=-1", 501)]
    [InlineData("SIZE", 501)]
    [InlineData("BODY=9BIT", 501)]
    [InlineData("RET=ALL", 501)]
    [InlineData("ENVID=bad+zz", 501)]
    [InlineData("SIZE=1 SIZE=2", 501)]
    [InlineData("SMTPUTF8=yes", 501)]
    [InlineData("XFOO=bar", 555)]
    [InlineData("NOTIFY=SUCCESS", 555)]
    public void Mail_parameters_refuse_bad_or_unknown_values(string text, int code)
    {
        var reply = EsmtpParameterParser.ParseMail(text, out _);
        Assert.NotNull(reply);
        Assert.Equal(code, reply.Value.Code);
        Assert.StartsWith("5.5.", reply.Value.Enhanced);
    }

    [Fact]
    public void Rcpt_parameters_parse_notify_and_orcpt()
    {
        Assert.Null(EsmtpParameterParser.ParseRcpt("NOTIFY=success,delay ORCPT=rfc822;bob+2Bx@example.test", out var p));
        Assert.Equal("SUCCESS,DELAY", p.Notify);
        Assert.Equal("rfc822;bob+x@example.test", p.OriginalRecipient);
        Assert.Null(EsmtpParameterParser.ParseRcpt("NOTIFY=NEVER", out p));
        Assert.Equal("NEVER", p.Notify);
    }

    [Theory]
    [InlineData("NOTIFY=NEVER,SUCCESS")]
    [InlineData("NOTIFY=SOMETIMES")]
    [InlineData("ORCPT=nosemicolon")]
    [InlineData("SIZE=10")]
    public void Rcpt_parameters_refuse_bad_values(string text)
    {
        Assert.NotNull(EsmtpParameterParser.ParseRcpt(text, out _));
    }

    [Theory]
    [InlineData("100", 100, false, true)]
    [InlineData("0 LAST", 0, true, true)]
    [InlineData("5 last", 5, true, true)]
    [InlineData("", 0, false, false)]
    [InlineData("-1", 0, false, false)]
    [InlineData("10 FIRST", 0, false, false)]
    [InlineData("1 LAST extra", 0, false, false)]
    [InlineData("99999999999999999999999", 0, false, false)]
    public void Bdat_arguments(string text, long size, bool last, bool ok)
    {
        Assert.Equal(ok, BdatArgumentParser.TryParse(text, out var s, out var l));
        if (ok)
        {
            Assert.Equal(size, s);
            Assert.Equal(last, l);
        }
    }

    [Fact]
    public void Reply_writer_writes_single_and_multiline_replies_without_injected_line_breaks()
    {
        var output = new ArrayBufferWriter<byte>();
        SmtpReplyWriter.Write(output, new SmtpReply(550, "5.1.1", "No such\r\nuser"));
        SmtpReplyWriter.WriteMultiline(output, 250, "", ["mx.test", "PIPELINING", "SIZE 10"]);
        Assert.Equal("550 5.1.1 No such  user\r\n250-mx.test\r\n250-PIPELINING\r\n250 SIZE 10\r\n", Encoding.UTF8.GetString(output.WrittenSpan));
    }

    [Fact]
    public void Every_standard_error_reply_carries_an_enhanced_status_code()
    {
        var replies = typeof(SmtpReply).GetFields(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Static)
            .Where(f => f.FieldType == typeof(SmtpReply))
            .Select(f => (f.Name, Reply: (SmtpReply)f.GetValue(null)!))
            .ToList();
        Assert.True(replies.Count > 30);
        foreach (var (name, reply) in replies.Where(r => r.Reply.Code != 354))
        {
            Assert.Matches(@"^[245]\.\d{1,3}\.\d{1,3}$", reply.Enhanced);
            Assert.Equal(reply.Code / 100, reply.Enhanced[0] - '0');
            Assert.False(string.IsNullOrWhiteSpace(reply.Text), name);
        }
    }
}
