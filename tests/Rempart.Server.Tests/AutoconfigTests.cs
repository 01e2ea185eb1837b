using System.Xml.Linq;
using Rempart.Common.Configuration;
using Rempart.Server.Http;

namespace Rempart.Server.Tests;

public class AutoconfigTests
{
    private static readonly XNamespace Ms = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";
    private static readonly XNamespace MsRoot = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006";

    private static RempartOptions Options() => new() { HostName = "mail.example.org" };

    private static string Request(string address) => $"""
        <?xml version="1.0" encoding="utf-8"?>
        <Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
          <Request>
            <EMailAddress>{address}</EMailAddress>
            <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
          </Request>
        </Autodiscover>
        """;

    [Fact]
    public void Thunderbird_lists_imap_pop3_and_smtp_with_ssl_and_starttls()
    {
        var doc = XDocument.Parse(Autoconfig.ThunderbirdXml(Options(), "alice@Example.com"));
        var root = doc.Root!;
        Assert.Equal("clientConfig", root.Name.LocalName);
        Assert.Equal("1.1", root.Attribute("version")!.Value);
        var provider = root.Element("emailProvider")!;
        Assert.Equal("example.com", provider.Element("domain")!.Value);

        var servers = provider.Elements()
            .Where(e => e.Name.LocalName is "incomingServer" or "outgoingServer")
            .Select(e => (Type: e.Attribute("type")!.Value, Host: e.Element("hostname")!.Value, Port: int.Parse(e.Element("port")!.Value), Socket: e.Element("socketType")!.Value,
                Auth: e.Element("authentication")!.Value, User: e.Element("username")!.Value))
            .ToList();
        Assert.Equal(
            [("imap", 1993, "SSL"), ("imap", 1143, "STARTTLS"), ("pop3", 1995, "SSL"), ("pop3", 1110, "STARTTLS"), ("smtp", 5465, "SSL"), ("smtp", 5587, "STARTTLS")],
            servers.Select(s => (s.Type, s.Port, s.Socket)).ToList());
        Assert.All(servers, s => Assert.Equal("mail.example.org", s.Host));
        Assert.All(servers, s => Assert.Equal("password-cleartext", s.Auth));
        Assert.All(servers, s => Assert.Equal("%EMAILADDRESS%", s.User));
        Assert.Equal(4, provider.Elements("incomingServer").Count());
    }

    [Fact]
    public void Thunderbird_uses_configured_ports_and_skips_disabled_listeners()
    {
        var options = Options();
        options.Listeners.Imaps.Port = 993;
        options.Listeners.Pop3.Enabled = false;
        options.Listeners.Pop3s.Enabled = false;
        var doc = XDocument.Parse(Autoconfig.ThunderbirdXml(options, "bob@example.org"));
        var types = doc.Descendants("incomingServer").Select(e => e.Attribute("type")!.Value + ":" + e.Element("port")!.Value).ToList();
        Assert.Equal(["imap:993", "imap:1143"], types);
    }

    [Theory]
    [InlineData("")]
    [InlineData("not an address")]
    [InlineData("two@@example.com")]
    public void Thunderbird_with_a_bad_address_still_gives_a_valid_document(string address)
    {
        var doc = XDocument.Parse(Autoconfig.ThunderbirdXml(Options(), address));
        Assert.Equal("mail.example.org", doc.Root!.Element("emailProvider")!.Element("domain")!.Value);
    }

    [Fact]
    public void Thunderbird_escapes_the_domain()
    {
        var xml = Autoconfig.ThunderbirdXml(Options(), "a@ex&<am>ple.org");
        var doc = XDocument.Parse(xml);
        Assert.Equal("ex&<am>ple.org", doc.Root!.Element("emailProvider")!.Element("domain")!.Value);
        Assert.DoesNotContain("<am>", xml, StringComparison.Ordinal);
    }

    [Fact]
    public void Autodiscover_answers_with_imap_pop3_and_smtp_protocols()
    {
        var doc = XDocument.Parse(Autoconfig.AutodiscoverXml(Options(), Request("alice@example.org")));
        Assert.Equal(MsRoot + "Autodiscover", doc.Root!.Name);
        var account = doc.Root.Element(Ms + "Response")!.Element(Ms + "Account")!;
        Assert.Equal("email", account.Element(Ms + "AccountType")!.Value);
        Assert.Equal("settings", account.Element(Ms + "Action")!.Value);
        var protocols = account.Elements(Ms + "Protocol").ToDictionary(p => p.Element(Ms + "Type")!.Value);
        Assert.Equal(["IMAP", "POP3", "SMTP"], protocols.Keys.Order());
        Assert.Equal("1993", protocols["IMAP"].Element(Ms + "Port")!.Value);
        Assert.Equal("1995", protocols["POP3"].Element(Ms + "Port")!.Value);
        Assert.Equal("5465", protocols["SMTP"].Element(Ms + "Port")!.Value);
        foreach (var p in protocols.Values)
        {
            Assert.Equal("mail.example.org", p.Element(Ms + "Server")!.Value);
            Assert.Equal("on", p.Element(Ms + "SSL")!.Value);
            Assert.Equal("alice@example.org", p.Element(Ms + "LoginName")!.Value);
        }
    }

    [Fact]
    public void Autodiscover_falls_back_to_starttls_ports_when_implicit_tls_is_off()
    {
        var options = Options();
        options.Listeners.Imaps.Enabled = false;
        var doc = XDocument.Parse(Autoconfig.AutodiscoverXml(options, Request("alice@example.org")));
        var imap = doc.Descendants(Ms + "Protocol").Single(p => p.Element(Ms + "Type")!.Value == "IMAP");
        Assert.Equal("1143", imap.Element(Ms + "Port")!.Value);
        Assert.Equal("TLS", imap.Element(Ms + "Encryption")!.Value);
    }

    [Fact]
    public void Autodiscover_escapes_the_login_name()
    {
        var xml = Autoconfig.AutodiscoverXml(Options(), Request("o&apos;brien&amp;co@example.org"));
        var doc = XDocument.Parse(xml);
        Assert.All(doc.Descendants(Ms + "LoginName"), e => Assert.Equal("o'brien&co@example.org", e.Value));
        Assert.Contains("&amp;co@", xml, StringComparison.Ordinal);
    }

    public static TheoryData<string> BadRequests => new()
    {
        "",
        "not xml at all",
        "<Autodiscover><Request><EMailAddress>a@b.c</EMailAddress></Request></Autodiscover>",
        "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\"><Request></Request></Autodiscover>",
        Request("no-at-sign"),
        Request("two@@example.org"),
        Request("a@b.c").Replace("responseschema/2006a", "responseschema/2009", StringComparison.Ordinal),
        "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\"><Request><EMailAddress>a@b.c</EMailAddress>",
        "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\"><Request><EMailAddress>&e;@b.c</EMailAddress></Request></Autodiscover>",
        Request(new string('a', 20_000) + "@example.org"),
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public void Autodiscover_bad_requests_get_the_error_response(string request)
    {
        var doc = XDocument.Parse(Autoconfig.AutodiscoverXml(Options(), request));
        Assert.Equal(MsRoot + "Autodiscover", doc.Root!.Name);
        var error = doc.Root.Element(MsRoot + "Response")?.Element(MsRoot + "Error");
        Assert.True(error is not null, request.Length > 300 ? request[..300] : request);
        Assert.Equal("600", error.Element(MsRoot + "ErrorCode")!.Value);
        Assert.Equal("Invalid Request", error.Element(MsRoot + "Message")!.Value);
        Assert.Empty(doc.Descendants(Ms + "Protocol"));
    }

    [Fact]
    public void Documents_declare_utf8()
    {
        Assert.StartsWith("<?xml version=\"1.0\" encoding=\"utf-8\"?>", Autoconfig.ThunderbirdXml(Options(), "a@b.c"), StringComparison.OrdinalIgnoreCase);
        Assert.StartsWith("<?xml version=\"1.0\" encoding=\"utf-8\"?>", Autoconfig.AutodiscoverXml(Options(), "x"), StringComparison.OrdinalIgnoreCase);
    }
}
