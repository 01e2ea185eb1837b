using System.Globalization;
using System.Xml.Linq;

namespace Rempart.Integration.Tests;

/// <summary>Client autoconfiguration fetched with curl, checked against the ports the server really listens on.</summary>
[Collection(InteropCollection.Name)]
public sealed class InteropAutoconfigTests(SharedServerFixture fixture) : IClassFixture<SharedServerFixture>
{
    private readonly ServerProcess _server = fixture.Server;

    private static async Task<ToolResult> CurlAsync(params string[] args)
    {
        var r = await ExternalTool.RunAsync(ExternalTool.Require("curl", "curl"),
            ["--silent", "--show-error", "--fail", "--max-time", "30", .. args], timeout: TimeSpan.FromSeconds(60));
        Assert.True(r.ExitCode == 0, r.ToString());
        return r;
    }

    /// <summary>Implicit TLS must name the implicit-TLS port, STARTTLS or plain the other one.</summary>
    private void AssertPort(string protocol, string port, bool implicitTls, string context)
    {
        var (tlsListener, plainListener) = protocol.ToUpperInvariant() switch
        {
            "IMAP" => ("imaps", "imap"),
            "POP3" => ("pop3s", "pop3"),
            "SMTP" => ("submissions", "submission"),
            _ => throw new Xunit.Sdk.XunitException($"unexpected protocol {protocol} in {context}"),
        };
        var expected = _server.Port(implicitTls ? tlsListener : plainListener).ToString(CultureInfo.InvariantCulture);
        Assert.True(port == expected, $"{protocol} ({(implicitTls ? "implicit TLS" : "STARTTLS")}) names port {port}, the server listens on {expected}:\n{context}");
    }

    [Theory]
    [InlineData("/mail/config-v1.1.xml")]
    [InlineData("/.well-known/autoconfig/mail/config-v1.1.xml")]
    public async Task Thunderbird_autoconfig_names_the_servers_real_ports(string path)
    {
        var r = await CurlAsync("--url", $"http://127.0.0.1:{_server.Port("http")}{path}?emailaddress=alice%40example.test");
        var doc = XDocument.Parse(r.Stdout);
        var provider = doc.Root?.Element("emailProvider");
        Assert.True(doc.Root?.Name.LocalName == "clientConfig" && provider is not null, r.Stdout);

        var servers = provider!.Elements("incomingServer").Concat(provider.Elements("outgoingServer")).ToList();
        Assert.Contains(servers, s => (string?)s.Attribute("type") == "imap");
        Assert.Contains(servers, s => (string?)s.Attribute("type") == "smtp");
        foreach (var s in servers)
        {
            var type = (string?)s.Attribute("type") ?? "";
            var socket = (string?)s.Element("socketType") ?? "";
            Assert.True(socket is "SSL" or "STARTTLS", $"{type} socketType '{socket}' (plain text must not be offered):\n{r.Stdout}");
            Assert.Equal("localhost", (string?)s.Element("hostname"));
            AssertPort(type, (string?)s.Element("port") ?? "", socket == "SSL", r.Stdout);
            var username = (string?)s.Element("username") ?? "";
            Assert.True(username is "%EMAILADDRESS%" or "alice@example.test", $"{type} username '{username}'");
        }

        // A request without an address is refused, not answered with a template.
        var bad = await ExternalTool.RunAsync(ExternalTool.Require("curl", "curl"),
            ["--silent", "--max-time", "30", "-o", "/dev/null", "-w", "%{http_code}", "--url", $"http://127.0.0.1:{_server.Port("http")}{path}"],
            timeout: TimeSpan.FromSeconds(60));
        Assert.Equal("400", bad.Stdout.Trim());
    }

    [Fact]
    public async Task Outlook_autodiscover_post_names_the_servers_real_ports()
    {
        using var tmp = new TempFolder("rempart-autodiscover");
        var request = Path.Combine(tmp.Path, "request.xml");
        await File.WriteAllTextAsync(request, """
            <?xml version="1.0" encoding="utf-8"?>
            <Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">
              <Request>
                <EMailAddress>alice@example.test</EMailAddress>
                <AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a</AcceptableResponseSchema>
              </Request>
            </Autodiscover>
            """);
        var r = await CurlAsync("-X", "POST", "-H", "Content-Type: text/xml", "--data-binary", "@" + request,
            "--url", $"http://127.0.0.1:{_server.Port("http")}/autodiscover/autodiscover.xml");
        var doc = XDocument.Parse(r.Stdout);
        Assert.Equal("Autodiscover", doc.Root?.Name.LocalName);

        var protocols = doc.Descendants().Where(e => e.Name.LocalName == "Protocol").ToList();
        string? Child(XElement p, string name) => p.Elements().FirstOrDefault(e => e.Name.LocalName == name)?.Value;
        Assert.Contains(protocols, p => Child(p, "Type") == "IMAP");
        Assert.Contains(protocols, p => Child(p, "Type") == "SMTP");
        foreach (var p in protocols)
        {
            var type = Child(p, "Type") ?? "";
            Assert.Equal("localhost", Child(p, "Server"));
            // Outlook: SSL=on with Encryption=TLS means STARTTLS; SSL=on alone (or Encryption=SSL) means implicit TLS.
            var ssl = string.Equals(Child(p, "SSL"), "on", StringComparison.OrdinalIgnoreCase);
            var encryption = Child(p, "Encryption");
            Assert.True(ssl || encryption is "TLS" or "SSL", $"{type} offered without TLS:\n{r.Stdout}");
            var implicitTls = encryption is null ? ssl : string.Equals(encryption, "SSL", StringComparison.OrdinalIgnoreCase);
            AssertPort(type, Child(p, "Port") ?? "", implicitTls, r.Stdout);
            var login = Child(p, "LoginName");
            Assert.True(login is null or "alice@example.test", $"{type} LoginName '{login}'");
        }
    }
}
