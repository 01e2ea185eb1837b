using System.Buffers;
using System.Text;
using Rempart.Imap.Protocol;

namespace Rempart.Imap.Tests.Protocol;

public class ImapCommandParserTests
{
    private static readonly ImapCommandParser Parser = new(new ImapParserLimits(200, 1000, 4, null));

    private static ImapParseResult Parse(string text, int acknowledged = 0) =>
        Parser.Parse(new ReadOnlySequence<byte>(Encoding.UTF8.GetBytes(text)), acknowledged);

    [Fact]
    public void Parses_tag_name_and_arguments()
    {
        var r = Parse("a1 LOGIN \"al\\\"ice\" {3+}\r\npw!\r\n");
        Assert.Equal(ImapParseStatus.Complete, r.Status);
        Assert.Equal("a1", r.Command!.Tag);
        Assert.Equal("LOGIN", r.Command.Name);
        Assert.Equal("al\"ice", r.Command.Args[0].Text);
        Assert.Equal(ImapArgKind.Literal, r.Command.Args[1].Kind);
        Assert.Equal("pw!", r.Command.Args[1].Text);
    }

    [Fact]
    public void Uid_commands_and_fetch_sections_keep_brackets_whole()
    {
        var r = Parse("x UID fetch 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>)\r\n");
        Assert.Equal("UID FETCH", r.Command!.Name);
        var items = r.Command.Args[1].Items;
        Assert.Equal("BODY.PEEK[HEADER.FIELDS (FROM TO)]<0.100>", items[1].Text);
    }

    [Fact]
    public void Synchronising_literal_asks_for_continuation_once()
    {
        var r = Parse("a APPEND INBOX {5}\r\n");
        Assert.Equal(ImapParseStatus.NeedContinuation, r.Status);
        r = Parse("a APPEND INBOX {5}\r\n", acknowledged: 1);
        Assert.Equal(ImapParseStatus.NeedMoreData, r.Status);
        r = Parse("a APPEND INBOX {5}\r\nhello\r\n", acknowledged: 1);
        Assert.Equal(ImapParseStatus.Complete, r.Status);
        Assert.Equal("hello", r.Command!.Args[1].Text);
    }

    [Fact]
    public void Oversized_synchronising_literal_is_refused_before_reading_it()
    {
        var r = Parse("a APPEND INBOX {5000}\r\n");
        Assert.Equal(ImapParseStatus.LiteralTooLarge, r.Status);
        Assert.Equal("a", r.Tag);
        Assert.Contains("TOOBIG", r.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Oversized_non_synchronising_literal_is_a_protocol_error()
    {
        Assert.Equal(ImapParseStatus.ProtocolError, Parse("a APPEND INBOX {5000+}\r\n").Status);
    }

    [Fact]
    public void Literal_minus_caps_non_synchronising_literals()
    {
        var parser = new ImapCommandParser(new ImapParserLimits(200, 100_000, 4, 4096));
        var r = parser.Parse(new ReadOnlySequence<byte>("a APPEND INBOX {5000+}\r\n"u8.ToArray()), 0);
        Assert.Equal(ImapParseStatus.ProtocolError, r.Status);
    }

    [Fact]
    public void Line_too_long_is_a_protocol_error_even_without_crlf()
    {
        Assert.Equal(ImapParseStatus.ProtocolError, Parse("a NOOP " + new string('x', 300)).Status);
        Assert.Equal(ImapParseStatus.ProtocolError, Parse("a NOOP " + new string('x', 300) + "\r\n").Status);
    }

    [Fact]
    public void Deep_nesting_is_a_command_error()
    {
        var r = Parse("a SEARCH ((((((ALL))))))\r\n");
        Assert.Equal(ImapParseStatus.CommandError, r.Status);
        Assert.Equal("a", r.Tag);
    }

    [Theory]
    [InlineData("a LOGIN \"unterminated\r\n")]
    [InlineData("a FETCH 1 (FLAGS\r\n")]
    [InlineData("a FETCH 1 BODY[TEXT\r\n")]
    [InlineData("a X {abc}\r\n")]
    [InlineData("\r\n")]
    [InlineData(" a NOOP\r\n")]
    public void Malformed_lines_are_command_errors_that_skip_the_line(string line)
    {
        var bytes = Encoding.UTF8.GetBytes(line + "b NOOP\r\n");
        var seq = new ReadOnlySequence<byte>(bytes);
        var r = Parser.Parse(seq, 0);
        Assert.Equal(ImapParseStatus.CommandError, r.Status);
        var next = Parser.Parse(seq.Slice(r.Consumed), 0);
        Assert.Equal(ImapParseStatus.Complete, next.Status);
        Assert.Equal("b", next.Command!.Tag);
    }

    [Fact]
    public void Byte_by_byte_input_gives_the_same_command()
    {
        var text = "t1 STORE 1:3,5 +FLAGS.SILENT (\\Seen $Junk)\r\n";
        var bytes = Encoding.UTF8.GetBytes(text);
        for (var n = 1; n < bytes.Length; n++)
        {
            var r = Parser.Parse(new ReadOnlySequence<byte>(bytes, 0, n), 0);
            Assert.Equal(ImapParseStatus.NeedMoreData, r.Status);
        }

        var done = Parser.Parse(new ReadOnlySequence<byte>(bytes), 0);
        Assert.Equal("STORE", done.Command!.Name);
        Assert.Equal(["\\Seen", "$Junk"], done.Command.Args[2].Items.Select(i => i.Text));
    }

    [Fact]
    public void Sequence_sets_parse_and_match_with_star()
    {
        Assert.True(SequenceSet.TryParse("1:3,7,9:*", out var set));
        Assert.True(set.Contains(2, 10));
        Assert.False(set.Contains(8, 10));
        Assert.True(set.Contains(10, 10));
        Assert.False(SequenceSet.TryParse("0", out _));
        Assert.False(SequenceSet.TryParse("1:x", out _));
        Assert.Equal("1:3,5,7:8", SequenceSet.Format([1, 2, 3, 5, 7, 8]));
    }

    [Fact]
    public void Modified_utf7_round_trips()
    {
        Assert.Equal("Projects/&AMk-t&AOk-", ModifiedUtf7.Encode("Projects/Été"));
        Assert.Equal("Été", ModifiedUtf7.Decode("&AMk-t&AOk-"));
        Assert.Equal("A&B", ModifiedUtf7.Decode(ModifiedUtf7.Encode("A&B")));
    }

    [Fact]
    public void List_patterns_follow_rfc_wildcards()
    {
        Assert.True(ImapSession.Matches("INBOX", "inbox"));
        Assert.True(ImapSession.Matches("Work/A", "*"));
        Assert.False(ImapSession.Matches("Work/A", "%"));
        Assert.True(ImapSession.Matches("Work/A", "Work/%"));
    }

    [Theory]
    [InlineData("Re: [list] Fwd: Hello (fwd)", "HELLO")]
    [InlineData("RE: re: hello", "HELLO")]
    [InlineData("[fwd: hello]", "HELLO")]
    public void Base_subject_strips_reply_and_forward_markers(string subject, string expected)
    {
        Assert.Equal(expected, ImapSession.BaseSubject(subject));
    }

    [Fact]
    public void Random_input_never_throws_and_always_makes_progress_or_asks_for_more()
    {
        var random = new Random(9051);
        var alphabet = "a1 ()[]{}<>\"\\+-~*%.:,0123456789\r\nBODY FETCH UID"u8.ToArray();
        for (var round = 0; round < 3000; round++)
        {
            var bytes = new byte[random.Next(1, 120)];
            for (var i = 0; i < bytes.Length; i++)
            {
                bytes[i] = random.Next(4) == 0 ? (byte)random.Next(256) : alphabet[random.Next(alphabet.Length)];
            }

            var seq = new ReadOnlySequence<byte>(bytes);
            for (var step = 0; step < 200 && !seq.IsEmpty; step++)
            {
                var r = Parser.Parse(seq, 0);
                if (r.Status is ImapParseStatus.NeedMoreData or ImapParseStatus.NeedContinuation or ImapParseStatus.ProtocolError)
                {
                    break;
                }

                var rest = seq.Slice(r.Consumed);
                Assert.True(rest.Length < seq.Length, "parser made no progress");
                seq = rest;
            }
        }
    }
}
