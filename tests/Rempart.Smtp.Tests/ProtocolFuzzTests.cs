using System.Buffers;
using System.Text;
using Rempart.Smtp.Protocol;

namespace Rempart.Smtp.Tests;

/// <summary>Random input never throws from the parsers and never hangs or crashes a session.</summary>
public class ProtocolFuzzTests
{
    private const string Alphabet = "<>@:.,\"\\[]%!= ;+-_aZ09\r\n\tδ";

    private static string RandomText(Random rng, int max)
    {
        var n = rng.Next(0, max);
        var sb = new StringBuilder(n);
        for (var i = 0; i < n; i++)
        {
            sb.Append(Alphabet[rng.Next(Alphabet.Length)]);
        }

        return sb.ToString();
    }

    [Fact]
    public void Parsers_survive_random_input()
    {
        var rng = new Random(1234);
        for (var i = 0; i < 5000; i++)
        {
            var text = RandomText(rng, 80);
            SmtpPathParser.TryParse(text, allowNull: true, out _, out _);
            SmtpPathParser.TryParse("<" + text + ">", allowNull: false, out _, out _);
            EsmtpParameterParser.ParseMail(text, out _);
            EsmtpParameterParser.ParseRcpt(text, out _);
            _ = BdatArgumentParser.TryParse(text, out _, out _);
            EsmtpParameterParser.XtextDecode(text);

            var bytes = new byte[rng.Next(0, 64)];
            rng.NextBytes(bytes);
            SmtpCommandParser.Parse(bytes);
            var seq = new ReadOnlySequence<byte>(bytes);
            var guard = 0;
            while (SmtpLineReader.TryReadLine(ref seq, 32, out _) != LineStatus.NeedMore && guard++ < 100)
            {
            }

            var data = new SmtpDataReader(new MessageBuffer(100));
            var dseq = new ReadOnlySequence<byte>(bytes);
            data.Read(ref dseq);
        }
    }

    [Fact]
    public async Task A_session_fed_garbage_answers_and_stays_bounded()
    {
        await using var host = await InboundTestHost.StartAsync(configure: o => o.Smtp.MaxErrors = 1000);
        await using var c = await RawSmtpClient.ConnectAsync(host.Port);
        await c.ReplyAsync();
        var rng = new Random(99);
        var sb = new StringBuilder("EHLO fuzz.test\r\nMAIL FROM:<a@remote.test>\r\n");
        for (var i = 0; i < 300; i++)
        {
            var verb = new[] { "RCPT TO:", "MAIL FROM:", "VRFY ", "NOOP ", "XYZ ", "HELO ", "RSET" }[rng.Next(7)];
            sb.Append(verb).Append(RandomText(rng, 60).Replace("\r", "", StringComparison.Ordinal).Replace("\n", "", StringComparison.Ordinal)).Append("\r\n");
        }

        sb.Append("QUIT\r\n");
        await c.SendAsync(sb.ToString());
        var lines = (await c.ReadToEndAsync()).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal("221 2.0.0 Bye", lines[^1]);
        Assert.All(lines, l => Assert.Matches(@"^[2345]\d\d[ -]", l));
    }
}
