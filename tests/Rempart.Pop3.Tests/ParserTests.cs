using System.Buffers;
using System.Text;
using Rempart.Pop3.Protocol;
using Rempart.Common.Text;

namespace Rempart.Pop3.Tests;

public class ParserTests
{
    private static ReadOnlySequence<byte> Seq(string s) => new(Encoding.UTF8.GetBytes(s));

    /// <summary>Builds a multi-segment sequence, one byte per segment, to cover split reads.</summary>
    private static ReadOnlySequence<byte> Segmented(string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        if (bytes.Length == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }

        var first = new Segment(bytes.AsMemory(0, 1), 0);
        var last = first;
        for (var i = 1; i < bytes.Length; i++)
        {
            last = last.Append(bytes.AsMemory(i, 1));
        }

        return new ReadOnlySequence<byte>(first, 0, last, 1);
    }

    [Theory]
    [InlineData("STAT\r\n", "STAT")]
    [InlineData("STAT\n", "STAT")]
    [InlineData("LIST 1\r\nNOOP\r\n", "LIST 1")]
    public void ReadLine_returns_line_without_crlf(string input, string expected)
    {
        foreach (var buffer0 in new[] { Seq(input), Segmented(input) })
        {
            var buffer = buffer0;
            Assert.Equal(Pop3LineStatus.Line, Pop3Parser.TryReadLine(ref buffer, 100, out var line));
            Assert.Equal(expected, Encoding.UTF8.GetString(line.ToArray()));
            Assert.Equal(input.Length - input.IndexOf('\n', StringComparison.Ordinal) - 1, buffer.Length);
        }
    }

    [Fact]
    public void ReadLine_needs_more_without_lf()
    {
        var buffer = Seq("STA");
        Assert.Equal(Pop3LineStatus.NeedMore, Pop3Parser.TryReadLine(ref buffer, 100, out _));
        Assert.Equal(3, buffer.Length);
    }

    [Fact]
    public void ReadLine_accepts_line_of_exactly_the_limit_and_refuses_one_more()
    {
        var exact = new string('A', 8) + "\r\n";
        var buffer = Seq(exact);
        Assert.Equal(Pop3LineStatus.Line, Pop3Parser.TryReadLine(ref buffer, 10, out _));

        var over = new string('A', 9) + "\r\n";
        buffer = Seq(over);
        Assert.Equal(Pop3LineStatus.TooLong, Pop3Parser.TryReadLine(ref buffer, 10, out _));
    }

    [Fact]
    public void ReadLine_reports_too_long_before_the_end_of_line_arrives_and_skip_drops_it()
    {
        var buffer = Seq(new string('x', 50));
        Assert.Equal(Pop3LineStatus.TooLong, Pop3Parser.TryReadLine(ref buffer, 20, out _));
        Assert.False(LineBuffer.SkipLine(ref buffer));
        Assert.True(buffer.IsEmpty);

        buffer = Seq("yyy\r\nNOOP\r\n");
        Assert.True(LineBuffer.SkipLine(ref buffer));
        Assert.Equal(Pop3LineStatus.Line, Pop3Parser.TryReadLine(ref buffer, 20, out var line));
        Assert.Equal("NOOP", Encoding.ASCII.GetString(line.ToArray()));
    }

    [Theory]
    [InlineData("stat", Pop3CommandKind.Stat)]
    [InlineData("CaPa", Pop3CommandKind.Capa)]
    [InlineData("STLS", Pop3CommandKind.Stls)]
    [InlineData("TOP 1 10", Pop3CommandKind.Top)]
    [InlineData("uidl", Pop3CommandKind.Uidl)]
    [InlineData("AUTH PLAIN AGEAYg==", Pop3CommandKind.Auth)]
    public void Keywords_are_case_insensitive(string line, Pop3CommandKind kind)
    {
        var command = Pop3Parser.ParseCommand(Encoding.ASCII.GetBytes(line));
        Assert.Equal(kind, command.Kind);
        Assert.Null(command.Error);
    }

    [Fact]
    public void Pass_keeps_spaces_in_the_password()
    {
        var command = Pop3Parser.ParseCommand("PASS correct horse  battery"u8);
        Assert.Equal(Pop3CommandKind.Pass, command.Kind);
        Assert.Equal("correct horse  battery", Assert.Single(command.Arguments));
        Assert.Equal("PASS <redacted>", command.Redacted);
        Assert.DoesNotContain("horse", command.Redacted, StringComparison.Ordinal);
    }

    [Fact]
    public void Auth_initial_response_is_redacted()
    {
        var command = Pop3Parser.ParseCommand("AUTH PLAIN AHVzZXIAc2VjcmV0"u8);
        Assert.Equal(["PLAIN", "AHVzZXIAc2VjcmV0"], command.Arguments);
        Assert.Equal("AUTH PLAIN <redacted>", command.Redacted);
    }

    [Fact]
    public void Unknown_command_arguments_are_redacted()
    {
        var command = Pop3Parser.ParseCommand("PAS hunter2"u8);
        Assert.Equal(Pop3CommandKind.Unknown, command.Kind);
        Assert.DoesNotContain("hunter2", command.Redacted, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("TOP 1 10", new long[] { 1, 10 })]
    [InlineData("LIST 3", new long[] { 3 })]
    [InlineData("LIST", new long[0])]
    [InlineData("RETR  7", new long[] { 7 })]
    public void Numbers_are_parsed(string line, long[] expected)
    {
        var command = Pop3Parser.ParseCommand(Encoding.ASCII.GetBytes(line));
        Assert.Null(command.Error);
        Assert.Equal(expected, command.Numbers);
    }

    [Theory]
    [InlineData("RETR")]
    [InlineData("RETR x")]
    [InlineData("RETR -1")]
    [InlineData("RETR +1")]
    [InlineData("RETR 1 2")]
    [InlineData("RETR 12345678901")]
    [InlineData("TOP 1")]
    [InlineData("STAT 1")]
    [InlineData("USER")]
    [InlineData("PASS")]
    [InlineData("AUTH PLAIN x y")]
    [InlineData("LIST 0x10")]
    public void Malformed_arguments_give_an_error(string line)
    {
        var command = Pop3Parser.ParseCommand(Encoding.ASCII.GetBytes(line));
        Assert.NotEqual(Pop3CommandKind.Unknown, command.Kind);
        Assert.NotNull(command.Error);
        Assert.False(command.IsValid);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" STAT")]
    [InlineData("XYZZY")]
    [InlineData("APOP user digest")]
    [InlineData("LAST")]
    public void Unknown_or_empty_commands_are_unknown(string line)
    {
        var command = Pop3Parser.ParseCommand(Encoding.ASCII.GetBytes(line));
        Assert.Equal(Pop3CommandKind.Unknown, command.Kind);
        Assert.NotNull(command.Error);
    }

    [Fact]
    public void Control_characters_and_invalid_utf8_are_refused()
    {
        Assert.NotNull(Pop3Parser.ParseCommand("USER a\0b"u8).Error);
        Assert.NotNull(Pop3Parser.ParseCommand("USER a\u007Fb"u8).Error);
        Assert.NotNull(Pop3Parser.ParseCommand(new byte[] { (byte)'U', (byte)'S', (byte)'E', (byte)'R', (byte)' ', 0xC3, 0x28 }).Error);
        Assert.NotNull(Pop3Parser.ParseCommand(new byte[] { 0xFF, 0xFE }).Error);
    }

    [Fact]
    public void Utf8_user_names_are_accepted()
    {
        var command = Pop3Parser.ParseCommand(Encoding.UTF8.GetBytes("USER jörg@exämple.org"));
        Assert.Null(command.Error);
        Assert.Equal("jörg@exämple.org", command.Arguments[0]);
    }

    [Fact]
    public void Sasl_lines_are_read_as_ascii_or_refused()
    {
        Assert.Equal("*", Pop3Parser.ReadSaslLine(Seq("*")));
        Assert.Equal("AGEAYg==", Pop3Parser.ReadSaslLine(Segmented("AGEAYg==")));
        Assert.Null(Pop3Parser.ReadSaslLine(new ReadOnlySequence<byte>(new byte[] { 0xC3, 0xA9 })));
    }

    [Fact]
    public void Every_byte_value_as_a_command_never_throws()
    {
        // A tiny deterministic fuzz: all single bytes and a few hundred random lines.
        for (var b = 0; b < 256; b++)
        {
            _ = Pop3Parser.ParseCommand(new[] { (byte)b });
            _ = Pop3Parser.ParseCommand(new[] { (byte)'L', (byte)'I', (byte)'S', (byte)'T', (byte)' ', (byte)b });
        }

        var random = new Random(1939);
        for (var i = 0; i < 500; i++)
        {
            var bytes = new byte[random.Next(0, 64)];
            random.NextBytes(bytes);
            var buffer = new ReadOnlySequence<byte>(bytes);
            for (var n = 0; n < 100 && Pop3Parser.TryReadLine(ref buffer, 32, out var line) == Pop3LineStatus.Line; n++)
            {
                _ = Pop3Parser.ParseCommand(line).Redacted;
            }
        }
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
