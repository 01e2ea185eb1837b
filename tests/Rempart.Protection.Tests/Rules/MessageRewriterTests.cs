using System.Text;
using MimeKit;
using Rempart.Protection.Rules;
using static Rempart.Protection.Tests.Rules.RuleTestSupport;

namespace Rempart.Protection.Tests.Rules;

/// <summary>Header, subject and disclaimer rewriting with MimeKit.</summary>
public sealed class MessageRewriterTests
{
    private const string Plain =
        "From: Alice <alice@example.com>\r\n" +
        "To: bob@example.org\r\n" +
        "Subject: Quarterly numbers\r\n" +
        "X-Internal-Id: 42\r\n" +
        "X-Internal-Id: 43\r\n" +
        "Message-ID: <1@example.com>\r\n" +
        "MIME-Version: 1.0\r\n" +
        "Content-Type: text/plain; charset=us-ascii\r\n" +
        "\r\n" +
        "Hello Bob.\r\n";

    private const string Alternative =
        "From: alice@example.com\r\n" +
        "To: bob@example.org\r\n" +
        "Subject: Report\r\n" +
        "MIME-Version: 1.0\r\n" +
        "Content-Type: multipart/mixed; boundary=\"mixed\"\r\n" +
        "\r\n" +
        "--mixed\r\n" +
        "Content-Type: multipart/alternative; boundary=\"alt\"\r\n" +
        "\r\n" +
        "--alt\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "\r\n" +
        "Plain body.\r\n" +
        "--alt\r\n" +
        "Content-Type: text/html; charset=utf-8\r\n" +
        "\r\n" +
        "<html><body><p>HTML body.</p></body></html>\r\n" +
        "--alt--\r\n" +
        "--mixed\r\n" +
        "Content-Type: text/plain; name=\"notes.txt\"\r\n" +
        "Content-Disposition: attachment; filename=\"notes.txt\"\r\n" +
        "\r\n" +
        "Attached notes.\r\n" +
        "--mixed\r\n" +
        "Content-Type: application/octet-stream; name=\"data.bin\"\r\n" +
        "Content-Disposition: attachment; filename=\"data.bin\"\r\n" +
        "Content-Transfer-Encoding: base64\r\n" +
        "\r\n" +
        "AAECAwQ=\r\n" +
        "--mixed--\r\n";

    private const string Signed =
        "From: alice@example.com\r\n" +
        "Subject: Signed\r\n" +
        "MIME-Version: 1.0\r\n" +
        "Content-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"sig\"\r\n" +
        "\r\n" +
        "--sig\r\n" +
        "Content-Type: text/plain\r\n" +
        "\r\n" +
        "Signed text.\r\n" +
        "--sig\r\n" +
        "Content-Type: application/pkcs7-signature; name=smime.p7s\r\n" +
        "Content-Transfer-Encoding: base64\r\n" +
        "\r\n" +
        "AAAA\r\n" +
        "--sig--\r\n";

    private static MimeMessage Load(byte[] bytes) => MimeMessage.Load(new MemoryStream(bytes));

    private static byte[] Bytes(string s) => Encoding.ASCII.GetBytes(s);

    [Fact]
    public void Headers_are_removed_then_added()
    {
        var outcome = Outcome("""[{"removeHeader": "x-internal-id"}, {"addHeader": {"name": "X-Rule", "value": "tagged"}}, {"addHeader": {"name": "X-Note", "value": "café"}}]""");
        var result = Load(MessageRewriter.Apply(outcome, Bytes(Plain)));
        Assert.False(result.Headers.Contains("X-Internal-Id"));
        Assert.Equal("tagged", result.Headers["X-Rule"]);
        Assert.Equal("café", result.Headers["X-Note"]);
        Assert.Equal("Hello Bob.", result.TextBody!.TrimEnd());
    }

    [Fact]
    public void Subject_prefix_is_added_once()
    {
        var outcome = Outcome("""{"prefixSubject": "[EXT]"}""");
        var once = MessageRewriter.Apply(outcome, Bytes(Plain));
        Assert.Equal("[EXT] Quarterly numbers", Load(once).Subject);

        // A second pass (or a reply that kept the tag) leaves it alone, byte for byte.
        var twice = MessageRewriter.Rewrite(outcome, once);
        Assert.False(twice.Changed);
        Assert.Same(once, twice.Message);
        Assert.False(MessageRewriter.Rewrite(outcome, Bytes(Plain.Replace("Subject: Quarterly numbers", "Subject: [ext] Re: x", StringComparison.Ordinal))).Changed);
    }

    [Fact]
    public void Disclaimer_goes_into_text_and_html_alternatives_not_attachments()
    {
        var outcome = Outcome("""{"appendDisclaimer": {"text": "Confidential <internal> & private.\nSecond line."}}""");
        var result = Load(MessageRewriter.Apply(outcome, Bytes(Alternative)));

        Assert.EndsWith("Confidential <internal> & private.\nSecond line.", result.TextBody!.ReplaceLineEndings("\n").TrimEnd());
        Assert.Contains("<div class=\"rempart-disclaimer\">Confidential &lt;internal&gt; &amp; private.<br>\nSecond line.</div>\n</body>", result.HtmlBody!.ReplaceLineEndings("\n"));
        Assert.StartsWith("<html><body><p>HTML body.</p>", result.HtmlBody!);

        var attachments = result.Attachments.OfType<MimePart>().ToList();
        Assert.Equal(2, attachments.Count);
        Assert.Equal("Attached notes.", ((TextPart)attachments[0]).Text.TrimEnd());
        using var data = new MemoryStream();
        attachments[1].Content!.DecodeTo(data);
        Assert.Equal(new byte[] { 0, 1, 2, 3, 4 }, data.ToArray());
    }

    [Fact]
    public void Disclaimer_with_non_ascii_text_reencodes_a_7bit_part()
    {
        var outcome = Outcome("""{"appendDisclaimer": "Ce message est confidentiel — merci."}""");
        var bytes = MessageRewriter.Apply(outcome, Bytes(Plain));
        var text = Encoding.UTF8.GetString(bytes);
        Assert.DoesNotContain("—", text);
        var part = (TextPart)Load(bytes).Body!;
        Assert.NotEqual(ContentEncoding.SevenBit, part.ContentTransferEncoding);
        Assert.EndsWith("Ce message est confidentiel — merci.", part.Text.TrimEnd());
    }

    [Fact]
    public void Signed_bodies_are_left_alone_and_noted()
    {
        var outcome = Outcome("""[{"appendDisclaimer": "Footer"}]""");
        var input = Bytes(Signed);
        var result = MessageRewriter.Rewrite(outcome, input);
        Assert.False(result.Changed);
        Assert.Same(input, result.Message);
        Assert.Contains(result.Notes, n => n.Contains("signed or encrypted", StringComparison.Ordinal));

        // A header change still applies; the signed body keeps its bytes.
        var tagged = MessageRewriter.Rewrite(Outcome("""[{"appendDisclaimer": "Footer"}, {"addHeader": {"name": "X-A", "value": "1"}}]"""), input);
        Assert.True(tagged.Changed);
        var text = Encoding.ASCII.GetString(tagged.Message);
        Assert.Contains("--sig\r\nContent-Type: text/plain\r\n\r\nSigned text.\r\n--sig", text);
        Assert.DoesNotContain("Footer", text);
    }

    [Fact]
    public void An_outcome_that_changes_nothing_returns_the_same_bytes()
    {
        var input = Bytes(Plain);
        Assert.Same(input, MessageRewriter.Apply(Outcome("""{"setScl": 5, "bcc": "a@example.com"}"""), input));
        Assert.Same(input, MessageRewriter.Apply(Outcome("""{"removeHeader": "X-Not-There"}"""), input));

        // A slice of a larger buffer comes back as equal bytes.
        var padded = new byte[input.Length + 10];
        input.CopyTo(padded, 5);
        Assert.Equal(input, MessageRewriter.Apply(Outcome("""{"setScl": 5}"""), padded.AsMemory(5, input.Length)));
    }

    [Fact]
    public void Output_lines_end_in_crlf()
    {
        var bytes = MessageRewriter.Apply(Outcome("""{"appendDisclaimer": "Line one\nLine two"}"""), Bytes(Alternative));
        var text = Encoding.ASCII.GetString(bytes);
        Assert.DoesNotContain("\n", text.Replace("\r\n", "", StringComparison.Ordinal));
    }

    [Fact]
    public void A_message_without_a_text_body_gets_a_note()
    {
        const string onlyAttachment =
            "From: a@example.com\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n";
        var result = MessageRewriter.Rewrite(Outcome("""{"appendDisclaimer": "Footer"}"""), Bytes(onlyAttachment));
        Assert.False(result.Changed);
        Assert.Contains(result.Notes, n => n.Contains("no text body", StringComparison.Ordinal));
    }

    public static TheoryData<byte[]> Malformed => new()
    {
        Array.Empty<byte>(),
        Encoding.ASCII.GetBytes("no headers at all, just text\r\n"),
        Encoding.ASCII.GetBytes("Subject: x\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\ntruncated"),
        Encoding.ASCII.GetBytes("Subject: x\r\nContent-Type: text/plain; charset=no-such-charset\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64!!!\r\n"),
        new byte[] { 0xFF, 0xFE, 0x00, 0x0D, 0x0A, 0x3A, 0x3A, 0x0D, 0x0A, 0x0D, 0x0A, 0x80, 0x81 },
    };

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_mime_does_not_crash(byte[] input)
    {
        var outcome = Outcome("""[{"prefixSubject": "[X]"}, {"appendDisclaimer": "Footer"}, {"addHeader": {"name": "X-A", "value": "1"}}, {"removeHeader": "Subject"}]""");
        var result = MessageRewriter.Rewrite(outcome, input);
        Assert.NotNull(result.Message);
        if (!result.Changed)
        {
            Assert.Equal(input, result.Message);
        }
    }
}
