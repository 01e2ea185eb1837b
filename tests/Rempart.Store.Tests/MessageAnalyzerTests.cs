using System.Text;
using MimeKit;
using Rempart.Store.Mime;

namespace Rempart.Store.Tests;

public sealed class MessageAnalyzerTests
{
    private const string Head = "From: a@example.org\r\nTo: b@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\n";

    public static TheoryData<string, string> Bodies => new()
    {
        { "ascii, no charset", "Content-Type: text/plain\r\n\r\nplain words\r\nsecond line\r\n" },
        { "ascii, utf-8", "Content-Type: text/plain; charset=utf-8\r\n\r\nplain words\r\n" },
        { "utf-8 accents", "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nd\u00e9j\u00e0 vu, na\u00efve\r\n" },
        { "quoted-printable to ascii", "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nsoft=\r\nbreak and =3D sign\r\n" },
        { "quoted-printable to utf-8", "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 cr=C3=A8me\r\n" },
        { "base64", "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" + Convert.ToBase64String(Encoding.UTF8.GetBytes("base64 text\r\nwith two lines")) + "\r\n" },
        { "latin-1", "Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\u00e9\r\n" },
        { "us-ascii declared, 8-bit bytes", "Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 8bit\r\n\r\ncaf\u00e9\r\n" },
        { "html", "Content-Type: text/html; charset=utf-8\r\n\r\n<p>Hello <b>there</b></p><script>x()</script>\r\n" },
        { "two text parts", "Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>second part</p>\r\n--b--\r\n" },
        { "empty body", "Content-Type: text/plain\r\n\r\n" },
    };

    [Theory]
    [MemberData(nameof(Bodies))]
    public void Body_text_is_what_MimeKit_decodes(string name, string rest)
    {
        // Latin-1 bytes for the "8-bit" cases except where the charset says UTF-8.
        var raw = rest.Contains("utf-8", StringComparison.Ordinal) ? Encoding.UTF8.GetBytes(Head + rest) : Encoding.Latin1.GetBytes(Head + rest);
        var analysis = MessageAnalyzer.Analyze(raw);

        using var stream = new MemoryStream(raw);
        var message = MimeMessage.Load(stream);
        var expected = new StringBuilder();
        foreach (var part in message.BodyParts.OfType<TextPart>())
        {
            expected.Append(part.IsHtml ? MessageAnalyzer.HtmlToText(part.Text) : part.Text).Append('\n');
        }

        Assert.True(expected.ToString() == analysis.BodyText, $"{name}: expected [{expected}] got [{analysis.BodyText}]");
    }
}
