using System.Buffers;
using System.Text;
using Rempart.Pop3.Protocol;

namespace Rempart.Pop3.Tests;

public class MultilineWriterTests
{
    private static string Render(string content, long? lines = null, int chunk = int.MaxValue)
    {
        var output = new ArrayBufferWriter<byte>();
        var writer = new MultilineWriter(output, lines);
        var bytes = Encoding.UTF8.GetBytes(content);
        for (var i = 0; i < bytes.Length; i += chunk)
        {
            if (!writer.Write(bytes.AsSpan(i, Math.Min(chunk, bytes.Length - i))))
            {
                break;
            }
        }

        writer.Complete();
        return Encoding.UTF8.GetString(output.WrittenSpan);
    }

    public static TheoryData<string, string> Cases => new()
    {
        { "a\r\nb\r\n", "a\r\nb\r\n.\r\n" },
        { "a\nb\n", "a\r\nb\r\n.\r\n" },
        { "a\r\nb", "a\r\nb\r\n.\r\n" },
        { "", ".\r\n" },
        { ".\r\n", "..\r\n.\r\n" },
        { "x\r\n.hidden\r\n..two\r\n", "x\r\n..hidden\r\n...two\r\n.\r\n" },
        { "a.b\r\n .c\r\n", "a.b\r\n .c\r\n.\r\n" },
        { "cr\ronly\r\n", "cr\ronly\r\n.\r\n" },
        { "end\r", "end\r\n.\r\n" },
        { "x\r\r\n", "x\r\r\n.\r\n" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Stuffs_dots_and_normalises_line_ends(string content, string expected)
    {
        Assert.Equal(expected, Render(content));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Byte_by_byte_feeding_gives_the_same_output(string content, string expected)
    {
        Assert.Equal(expected, Render(content, chunk: 1));
        Assert.Equal(expected, Render(content, chunk: 2));
    }

    private const string Message = "Subject: hi\r\nFrom: a@b\r\n\r\nline1\r\n.line2\r\nline3\r\n";

    [Theory]
    [InlineData(0, "Subject: hi\r\nFrom: a@b\r\n\r\n.\r\n")]
    [InlineData(1, "Subject: hi\r\nFrom: a@b\r\n\r\nline1\r\n.\r\n")]
    [InlineData(2, "Subject: hi\r\nFrom: a@b\r\n\r\nline1\r\n..line2\r\n.\r\n")]
    [InlineData(99, "Subject: hi\r\nFrom: a@b\r\n\r\nline1\r\n..line2\r\nline3\r\n.\r\n")]
    public void Top_sends_headers_and_n_body_lines(long lines, string expected)
    {
        Assert.Equal(expected, Render(Message, lines));
        Assert.Equal(expected, Render(Message, lines, chunk: 1));
    }

    [Fact]
    public void Top_of_a_message_without_body_sends_the_headers()
    {
        Assert.Equal("Subject: x\r\n.\r\n", Render("Subject: x\r\n", 5));
    }
}
