using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using MimeKit;
using Rempart.Common.Configuration;
using Rempart.SenderAuth.Dkim;

namespace Rempart.SenderAuth.Tests;

[CollectionDefinition(Name)]
public sealed class DnsCollection : ICollectionFixture<AuthWorld>
{
    public const string Name = "real DNS";
}

/// <summary>
/// The DNS world of the tests: one dnsmasq on loopback serving SPF, DKIM and DMARC records for *.test, with DKIM keys
/// made by <see cref="DkimKeyStore"/> (and the committed fixture key) published as TXT records.
/// </summary>
public sealed class AuthWorld : IAsyncLifetime
{
    public static readonly string FixtureKeyPath = Path.Combine(AppContext.BaseDirectory, "Fixtures", "keys", "fx.fixture.test.pem");

    public string KeyFolder { get; } = Path.Combine(Path.GetTempPath(), "rempart-auth-" + Guid.NewGuid().ToString("n")[..8]);

    public DkimKeyStore Keys { get; private set; } = null!;

    public Dnsmasq Dns { get; private set; } = null!;

    public DkimKeyRecord ArcKey { get; private set; } = null!;

    public DkimKeyRecord RotatedOld { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Keys = new DkimKeyStore(KeyFolder);
        var records = new List<string>();
        foreach (var domain in new[] { "signed.test", "relaxed.test", "pct0.test", "arc.test" })
        {
            var key = Keys.Generate(domain, domain == "arc.test" ? "arc" : null, 1024);
            records.Add(Dnsmasq.Txt(key.DnsName, DkimKeyStore.DnsRecord(key)));
        }

        // A rotated domain: the retired key stays published, the new one signs.
        RotatedOld = Keys.Generate("rotated.test", "old", 2048);
        var rotatedNew = Keys.Rotate("rotated.test", "new");
        records.Add(Dnsmasq.Txt(RotatedOld.DnsName, DkimKeyStore.DnsRecord(RotatedOld)));
        records.Add(Dnsmasq.Txt(rotatedNew.DnsName, DkimKeyStore.DnsRecord(rotatedNew)));
        ArcKey = Keys.GetActive("arc.test")!;

        // The committed key that signed the fixture messages (Fixtures/*.eml).
        using (var rsa = RSA.Create())
        {
            rsa.ImportFromPem(File.ReadAllText(FixtureKeyPath));
            records.Add(Dnsmasq.Txt("fx._domainkey.fixture.test", "v=DKIM1; k=rsa; p=" + Convert.ToBase64String(rsa.ExportSubjectPublicKeyInfo())));
        }

        records.AddRange(
        [
            // SPF (RFC 7208)
            Dnsmasq.Txt("pass.test", "v=spf1 ip4:192.0.2.0/24 -all"),
            Dnsmasq.Txt("soft.test", "v=spf1 ip4:192.0.2.1 ~all"),
            Dnsmasq.Txt("neutral.test", "v=spf1 ?all"),
            Dnsmasq.Host("nospf.test", "192.0.2.99"),
            Dnsmasq.Txt("nospf.test", "some unrelated text"),
            Dnsmasq.Txt("inc.test", "v=spf1 include:inc1.test -all"),
            Dnsmasq.Txt("inc1.test", "v=spf1 include:inc2.test ~all"),
            Dnsmasq.Txt("inc2.test", "v=spf1 ip4:203.0.113.7 -all"),
            Dnsmasq.Txt("incnone.test", "v=spf1 include:nospf.test -all"),
            Dnsmasq.Txt("redirect.test", "v=spf1 redirect=pass.test"),
            Dnsmasq.Txt("redirnone.test", "v=spf1 redirect=nospf.test"),
            Dnsmasq.Txt("amx.test", "v=spf1 a mx -all"),
            Dnsmasq.Host("amx.test", "198.51.100.20"),
            Dnsmasq.Mx("amx.test", "mail.amx.test", 10),
            Dnsmasq.Host("mail.amx.test", "198.51.100.21"),
            Dnsmasq.Txt("v6.test", "v=spf1 ip6:2001:db8:1::/48 a:host6.v6.test/32//64 -all"),
            Dnsmasq.Host("host6.v6.test", "2001:db8:6::1"),
            Dnsmasq.Txt("limit.test", "v=spf1 " + string.Join(' ', Enumerable.Range(1, 11).Select(i => $"include:l{i}.limit.test")) + " -all"),
            Dnsmasq.Txt("void.test", "v=spf1 a:void1.test a:void2.test a:void3.test ip4:192.0.2.1 -all"),
            Dnsmasq.Txt("twovoid.test", "v=spf1 a:void1.test a:void2.test ip4:192.0.2.1 -all"),
            Dnsmasq.Txt("multi.test", "v=spf1 -all"),
            Dnsmasq.Txt("multi.test", "v=spf1 +all"),
            Dnsmasq.Txt("bad.test", "v=spf1 foo:bar -all"),
            Dnsmasq.Txt("macro.test", "v=spf1 exists:%{i}._spf.macro.test exists:%{l1r+}.users.macro.test -all"),
            Dnsmasq.Host("192.0.2.55._spf.macro.test", "127.0.0.2"),
            Dnsmasq.Host("alice.users.macro.test", "127.0.0.2"),
            Dnsmasq.Txt("exp.test", "v=spf1 -all exp=why.exp.test"),
            Dnsmasq.Txt("why.exp.test", "%{i} may not send mail for %{d}"),
            Dnsmasq.Txt("ptr.test", "v=spf1 ptr -all"),
            Dnsmasq.Ptr(IPAddress.Parse("192.0.2.77"), "mail.ptr.test"),
            Dnsmasq.Host("mail.ptr.test", "192.0.2.77"),
            Dnsmasq.Txt("long.test", "v=spf1 " + string.Join(' ', Enumerable.Range(1, 30).Select(i => $"ip4:198.18.{i}.0/24")) + " ip4:192.0.2.0/24 -all"),

            // DMARC (RFC 7489)
            Dnsmasq.Txt("reject.test", "v=spf1 ip4:192.0.2.0/24 -all"),
            Dnsmasq.Txt("_dmarc.reject.test", "v=DMARC1; p=reject; rua=mailto:dmarc@reject.test"),
            Dnsmasq.Txt("_dmarc.signed.test", "v=DMARC1; p=reject; adkim=s"),
            Dnsmasq.Txt("_dmarc.relaxed.test", "v=DMARC1; p=quarantine; sp=reject"),
            Dnsmasq.Txt("_dmarc.pct0.test", "v=DMARC1; p=reject; pct=0"),
            Dnsmasq.Txt("_dmarc.aspf.test", "v=DMARC1; p=reject; aspf=s"),
            Dnsmasq.Txt("mail.aspf.test", "v=spf1 ip4:192.0.2.0/24 -all"),
            Dnsmasq.Txt("_dmarc.fixture.test", "v=DMARC1; p=reject"),
            Dnsmasq.Txt("fixture.test", "v=spf1 ip4:192.0.2.0/24 -all"),
            Dnsmasq.Txt("_dmarc.rotated.test", "v=DMARC1; p=none"),
        ]);
        records.AddRange(Enumerable.Range(1, 11).Select(i => Dnsmasq.Txt($"l{i}.limit.test", "v=spf1 -all")));

        Dns = await Dnsmasq.StartAsync(records);
    }

    public Task DisposeAsync()
    {
        Dns?.Dispose();
        try
        {
            Directory.Delete(KeyFolder, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }

        return Task.CompletedTask;
    }

    public DnsOptions DnsOptions => new() { Servers = [Dns.Endpoint], Timeout = TimeSpan.FromSeconds(3) };

    public SenderAuthenticator Authenticator(SenderAuthOptions? options = null) =>
        new(options ?? new SenderAuthOptions(), DnsOptions, NullLoggerFactory.Instance);

    public OutboundDkimSigner Signer() => new(Keys, NullLogger.Instance);

    public static byte[] Message(string from, string subject = "Hello", string body = "A body line.\r\nAnother line.\r\n") =>
        Encoding.ASCII.GetBytes(
            $"From: {from}\r\nTo: bob@example.net\r\nSubject: {subject}\r\nDate: Sat, 28 Nov 2026 00:00:00 +0000\r\n" +
            $"Message-ID: <{Guid.NewGuid():n}@test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n{body}");

    public static MimeMessage Parse(byte[] bytes)
    {
        using var stream = new MemoryStream(bytes);
        return MimeMessage.Load(stream);
    }

    /// <summary>The SPF result of a sender that did not pass SPF (so DMARC must rely on DKIM).</summary>
    public static SpfResult NoSpf(string domain = "elsewhere.test") => new(SpfStatus.None, domain, null) { MailFrom = "x@" + domain };
}
