using System.Buffers;
using System.Text;
using Rempart.Smtp.Protocol;

namespace Rempart.Smtp.Tests;

public class ProtocolDataReaderTests
{
    /// <summary>Feeds the bytes in pieces of <paramref name="split"/> (0: whole) and returns (done, rest, reader, buffer).</summary>
    private static (bool Done, string Remaining, SmtpDataReader Reader, MessageBuffer Buffer) Run(string data, int split = 0, long limit = 1 << 20)
    {
        var bytes = Encoding.UTF8.GetBytes(data);
        var buffer = new MessageBuffer(limit);
        var reader = new SmtpDataReader(buffer);
        var step = split == 0 ? bytes.Length : split;
        var offset = 0;
        var pending = Array.Empty<byte>();
        while (offset < bytes.Length)
        {
            var n = Math.Min(step, bytes.Length - offset);
            var chunk = pending.Concat(bytes.Skip(offset).Take(n)).ToArray();
            offset += n;
            var seq = new ReadOnlySequence<byte>(chunk);
            if (reader.Read(ref seq))
            {
                var rest = Encoding.UTF8.GetString(seq.ToArray()) + Encoding.UTF8.GetString(bytes, offset, bytes.Length - offset);
                return (true, rest, reader, buffer);
            }

            pending = seq.ToArray();
        }

        return (false, "", reader, buffer);
    }

    private static string Content(MessageBuffer b) => Encoding.UTF8.GetString(b.Content.Span);

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    public void Ends_only_at_crlf_dot_crlf_and_unstuffs_dots(int split)
    {
        var (done, rest, reader, buffer) = Run("Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n", split);
        Assert.True(done);
        Assert.False(reader.SawBareLineEnding);
        Assert.Equal("Subject: x\r\n\r\n.leading dot\r\n", Content(buffer));
        Assert.Equal("QUIT\r\n", rest);
    }

    [Fact]
    public void An_empty_message_ends_at_the_first_dot_line()
    {
        var (done, rest, _, buffer) = Run(".\r\nNOOP\r\n");
        Assert.True(done);
        Assert.Equal("", Content(buffer));
        Assert.Equal("NOOP\r\n", rest);
    }

    /// <summary>
    /// SMTP smuggling end-of-data variants: none of them ends the message; the message is marked refused and only
    /// the real CRLF.CRLF ends it, so the smuggled "MAIL FROM" stays message content.
    /// </summary>
    [Theory]
    [InlineData("\n.\r\n")]
    [InlineData("\n.\n")]
    [InlineData("\r.\r")]
    [InlineData("\r\n.\n")]
    [InlineData("\r\n.\r")]
    [InlineData("\n.\r")]
    [InlineData("\r.\n")]
    [InlineData("\r.\r\n")]
    public void Smuggling_variants_never_end_the_message(string fakeEnd)
    {
        var data = "Subject: a\r\n\r\nbody" + fakeEnd + "MAIL FROM:<evil@x.test>\r\nRCPT TO:<victim@example.test>\r\nDATA\r\nsmuggled\r\n.\r\nNOOP\r\n";
        foreach (var split in new[] { 0, 1, 2, 5 })
        {
            var (done, rest, reader, _) = Run(data, split);
            Assert.True(done);
            Assert.True(reader.SawBareLineEnding);
            Assert.Equal("NOOP\r\n", rest);
        }
    }

    [Theory]
    [InlineData("line one\nline two\r\n.\r\n")]
    [InlineData("line one\rline two\r\n.\r\n")]
    [InlineData("cr then cr\r\r\n.\r\n")]
    public void Bare_cr_or_lf_anywhere_is_flagged(string data)
    {
        var (_, _, reader, _) = Run(data);
        Assert.True(reader.SawBareLineEnding);
    }

    [Fact]
    public void Oversize_keeps_counting_but_stops_storing()
    {
        var (done, rest, _, buffer) = Run(new string('x', 100) + "\r\n" + new string('y', 100) + "\r\n.\r\nQUIT\r\n", split: 10, limit: 50);
        Assert.True(done);
        Assert.True(buffer.Overflowed);
        Assert.Equal(0, buffer.Content.Length);
        Assert.Equal(204, buffer.TotalLength);
        Assert.Equal("QUIT\r\n", rest);
    }

    [Fact]
    public void Message_buffer_keeps_exactly_the_limit()
    {
        var b = new MessageBuffer(10);
        b.Append("0123456789"u8);
        Assert.False(b.Overflowed);
        b.Append("a"u8);
        Assert.True(b.Overflowed);
    }

    [Fact]
    public void Random_splits_give_the_same_result()
    {
        var data = "A: b\r\n\r\n" + string.Join("\r\n", Enumerable.Range(0, 50).Select(i => (i % 3 == 0 ? "." : "") + "line " + i)) + "\r\n.\r\n";
        var (_, _, _, whole) = Run(data);
        var rng = new Random(42);
        for (var i = 0; i < 20; i++)
        {
            var (done, _, reader, b) = Run(data, rng.Next(1, 40));
            Assert.True(done);
            Assert.False(reader.SawBareLineEnding);
            Assert.Equal(Content(whole), Content(b));
        }
    }
}
