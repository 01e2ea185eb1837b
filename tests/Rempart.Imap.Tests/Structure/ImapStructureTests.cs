using System.Text;
using MimeKit;
using Rempart.Store.Mime;

namespace Rempart.Imap.Tests.Structure;

public class ImapStructureTests
{
    private static (MimeMessage Message, byte[] Raw) Parse(string text)
    {
        var raw = Encoding.UTF8.GetBytes(text.ReplaceLineEndings("\r\n"));
        using var ms = new MemoryStream(raw);
        return (MimeMessage.Load(ms), raw);
    }

    [Fact]
    public void Simple_text_message_has_envelope_and_body_with_octets_and_lines()
    {
        var (m, raw) = Parse("""
            Date: Mon, 7 Feb 1994 21:52:25 -0800
            From: Fred Foobar <foobar@Blurdybloop.example>
            Subject: afternoon meeting
            To: mooch@owatagu.siam.edu.example
            Message-Id: <B27397-0100000@Blurdybloop.example>
            MIME-Version: 1.0
            Content-Type: TEXT/PLAIN; CHARSET=US-ASCII

            Hello Joe, do you think we can meet at 3:30 tomorrow?

            """);
        Assert.Equal(
            "(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"afternoon meeting\" ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) ((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) ((NIL NIL \"mooch\" \"owatagu.siam.edu.example\")) NIL NIL NIL \"<B27397-0100000@Blurdybloop.example>\")",
            ImapStructure.Envelope(m));
        var (body, structure) = ImapStructure.Structure(m, raw);
        Assert.Equal("(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7bit\" 55 1)", body);
        Assert.Equal("(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7bit\" 55 1 NIL NIL NIL NIL)", structure);
    }

    [Fact]
    public void Missing_headers_are_nil_and_default_content_type_is_text_plain_us_ascii()
    {
        var (m, raw) = Parse("X-Other: 1\n\nbody\n");
        Assert.Equal("(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)", ImapStructure.Envelope(m));
        var (body, _) = ImapStructure.Structure(m, raw);
        Assert.Equal("(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 6 1)", body);
    }

    [Fact]
    public void Multipart_mixed_with_attachment_reports_each_part_and_disposition()
    {
        var (m, raw) = Parse("""
            From: a@example.com
            Subject: parts
            MIME-Version: 1.0
            Content-Type: multipart/mixed; boundary="XX"

            preamble
            --XX
            Content-Type: text/plain; charset=utf-8
            Content-Transfer-Encoding: 8bit

            héllo
            second line
            --XX
            Content-Type: application/pdf; name="a.pdf"
            Content-Disposition: attachment; filename="a.pdf"
            Content-Transfer-Encoding: base64
            Content-Language: en, fr
            Content-Location: http://example.com/a.pdf

            AAAA
            --XX--

            """);
        var (body, structure) = ImapStructure.Structure(m, raw);
        var text = "(\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"8bit\" 19 2)";
        var pdf = "(\"application\" \"pdf\" (\"name\" \"a.pdf\") NIL NIL \"base64\" 4)";
        Assert.Equal("(" + text + pdf + " \"mixed\")", body);
        Assert.Equal(
            "((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"8bit\" 19 2 NIL NIL NIL NIL)" +
            "(\"application\" \"pdf\" (\"name\" \"a.pdf\") NIL NIL \"base64\" 4 NIL (\"attachment\" (\"filename\" \"a.pdf\")) (\"en\" \"fr\") \"http://example.com/a.pdf\")" +
            " \"mixed\" (\"boundary\" \"XX\") NIL NIL NIL)",
            structure);
    }

    [Fact]
    public void Nested_message_rfc822_carries_inner_envelope_body_and_lines()
    {
        var (m, raw) = Parse("""
            From: outer@example.com
            Content-Type: multipart/mixed; boundary=B

            --B
            Content-Type: message/rfc822

            From: inner@example.com
            Subject: inner

            inner body
            --B--

            """);
        var (body, _) = ImapStructure.Structure(m, raw);
        Assert.Equal(
            "((\"message\" \"rfc822\" NIL NIL NIL \"7bit\" 53 (NIL \"inner\" ((NIL NIL \"inner\" \"example.com\")) ((NIL NIL \"inner\" \"example.com\")) ((NIL NIL \"inner\" \"example.com\")) NIL NIL NIL NIL NIL) (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 10 1) 4) \"mixed\")",
            body);
    }

    [Fact]
    public void Encoded_words_in_subject_are_kept_as_sent()
    {
        var (m, _) = Parse("Subject: =?utf-8?q?caf=C3=A9?=\n  suite\nFrom: =?utf-8?q?Ren=C3=A9?= <r@example.com>\n\nx\n");
        var envelope = ImapStructure.Envelope(m);
        Assert.Contains("\"=?utf-8?q?caf=C3=A9?=  suite\"", envelope, StringComparison.Ordinal);
        Assert.Contains("((\"=?utf-8?", envelope, StringComparison.Ordinal);
        Assert.Contains("NIL \"r\" \"example.com\"))", envelope, StringComparison.Ordinal);
    }

    [Fact]
    public void Eight_bit_subject_goes_out_as_a_literal()
    {
        var (m, _) = Parse("Subject: café\n\nx\n");
        var envelope = ImapStructure.Envelope(m);
        Assert.StartsWith("(NIL {5}\r\ncafé NIL", envelope, StringComparison.Ordinal);
    }

    [Fact]
    public void Group_addresses_use_start_and_end_markers()
    {
        var (m, _) = Parse("From: a@example.com\nTo: Team: b@example.com, c@example.com;, d@example.com\n\nx\n");
        var envelope = ImapStructure.Envelope(m);
        Assert.Contains(
            "((NIL NIL \"Team\" NIL)(NIL NIL \"b\" \"example.com\")(NIL NIL \"c\" \"example.com\")(NIL NIL NIL NIL)(NIL NIL \"d\" \"example.com\"))",
            envelope,
            StringComparison.Ordinal);
    }

    [Fact]
    public void Quotes_and_backslashes_are_escaped()
    {
        var (m, _) = Parse("Subject: say \"hi\" \\ bye\n\nx\n");
        Assert.StartsWith("(NIL \"say \\\"hi\\\" \\\\ bye\"", ImapStructure.Envelope(m), StringComparison.Ordinal);
    }
}
