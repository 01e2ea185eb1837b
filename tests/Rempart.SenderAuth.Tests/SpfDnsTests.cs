using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Common.Configuration;

namespace Rempart.SenderAuth.Tests;

/// <summary>SPF evaluated against a real DNS server (dnsmasq on loopback).</summary>
[Collection(DnsCollection.Name)]
public sealed class SpfDnsTests(AuthWorld world)
{
    [Theory]
    [InlineData("192.0.2.10", "user@pass.test", SpfStatus.Pass)]
    [InlineData("198.51.100.1", "user@pass.test", SpfStatus.Fail)]
    [InlineData("198.51.100.1", "user@soft.test", SpfStatus.SoftFail)]
    [InlineData("198.51.100.1", "user@neutral.test", SpfStatus.Neutral)]
    [InlineData("198.51.100.1", "user@nospf.test", SpfStatus.None)]
    [InlineData("198.51.100.1", "user@nonexistent.test", SpfStatus.None)]
    [InlineData("203.0.113.7", "user@inc.test", SpfStatus.Pass)]
    [InlineData("198.51.100.1", "user@inc.test", SpfStatus.Fail)]
    [InlineData("198.51.100.1", "user@incnone.test", SpfStatus.PermError)]
    [InlineData("192.0.2.10", "user@redirect.test", SpfStatus.Pass)]
    [InlineData("198.51.100.1", "user@redirect.test", SpfStatus.Fail)]
    [InlineData("198.51.100.1", "user@redirnone.test", SpfStatus.PermError)]
    [InlineData("198.51.100.20", "user@amx.test", SpfStatus.Pass)]
    [InlineData("198.51.100.21", "user@amx.test", SpfStatus.Pass)]
    [InlineData("198.51.100.22", "user@amx.test", SpfStatus.Fail)]
    [InlineData("2001:db8:1:2::5", "user@v6.test", SpfStatus.Pass)]
    [InlineData("2001:db8:6::1234", "user@v6.test", SpfStatus.Pass)]
    [InlineData("2001:db8:7::1", "user@v6.test", SpfStatus.Fail)]
    [InlineData("192.0.2.1", "user@v6.test", SpfStatus.Fail)]
    [InlineData("192.0.2.10", "user@limit.test", SpfStatus.PermError)]
    [InlineData("192.0.2.1", "user@void.test", SpfStatus.PermError)]
    [InlineData("192.0.2.1", "user@twovoid.test", SpfStatus.Pass)]
    [InlineData("198.51.100.1", "user@twovoid.test", SpfStatus.Fail)]
    [InlineData("192.0.2.1", "user@multi.test", SpfStatus.PermError)]
    [InlineData("192.0.2.1", "user@bad.test", SpfStatus.PermError)]
    [InlineData("192.0.2.55", "bob@macro.test", SpfStatus.Pass)]
    [InlineData("198.51.100.1", "alice+news@macro.test", SpfStatus.Pass)]
    [InlineData("198.51.100.1", "carol@macro.test", SpfStatus.Fail)]
    [InlineData("192.0.2.77", "user@ptr.test", SpfStatus.Pass)]
    [InlineData("192.0.2.78", "user@ptr.test", SpfStatus.Fail)]
    [InlineData("192.0.2.200", "user@long.test", SpfStatus.Pass)]
    [InlineData("198.18.31.1", "user@long.test", SpfStatus.Fail)]
    [InlineData("::ffff:192.0.2.10", "user@pass.test", SpfStatus.Pass)]
    [InlineData("192.0.2.10", "pass.test", SpfStatus.Pass)]
    public async Task Mail_from_is_checked_through_dns(string client, string mailFrom, SpfStatus expected)
    {
        var result = await world.Authenticator().CheckSpfAsync(IPAddress.Parse(client), "mx.client.test", mailFrom, CancellationToken.None);
        Assert.True(expected == result.Status, $"{mailFrom} from {client}: expected {expected}, got {result.Status} ({result.Explanation})");
        Assert.False(result.CheckedHelo);
    }

    [Fact]
    public async Task The_null_sender_checks_the_helo_identity()
    {
        var auth = world.Authenticator();
        var pass = await auth.CheckSpfAsync(IPAddress.Parse("192.0.2.10"), "pass.test", "", CancellationToken.None);
        Assert.Equal(SpfStatus.Pass, pass.Status);
        Assert.Equal("pass.test", pass.Domain);
        Assert.True(pass.CheckedHelo);

        var fail = await auth.CheckSpfAsync(IPAddress.Parse("198.51.100.9"), "pass.test", "", CancellationToken.None);
        Assert.Equal(SpfStatus.Fail, fail.Status);

        // An address-literal HELO is not a domain: there is nothing to check.
        var literal = await auth.CheckSpfAsync(IPAddress.Parse("192.0.2.10"), "[192.0.2.10]", "", CancellationToken.None);
        Assert.Equal(SpfStatus.None, literal.Status);
    }

    [Fact]
    public async Task A_fail_carries_the_domains_explanation_with_macros_expanded()
    {
        var result = await world.Authenticator().CheckSpfAsync(IPAddress.Parse("198.51.100.1"), "h.test", "user@exp.test", CancellationToken.None);
        Assert.Equal(SpfStatus.Fail, result.Status);
        Assert.Equal("198.51.100.1 may not send mail for exp.test", result.Explanation);
    }

    [Fact]
    public async Task The_lookup_limit_error_says_why()
    {
        var result = await world.Authenticator().CheckSpfAsync(IPAddress.Parse("192.0.2.10"), "h.test", "user@limit.test", CancellationToken.None);
        Assert.Equal(SpfStatus.PermError, result.Status);
        Assert.Contains("more than 10 DNS lookups", result.Explanation, StringComparison.Ordinal);

        var voids = await world.Authenticator().CheckSpfAsync(IPAddress.Parse("192.0.2.1"), "h.test", "user@void.test", CancellationToken.None);
        Assert.Contains("void", voids.Explanation, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_unreachable_resolver_is_a_temperror_not_a_crash()
    {
        // Nothing listens on the port of a closed socket: every query fails, so SPF cannot know the answer.
        int deadPort;
        using (var s = new System.Net.Sockets.UdpClient(new IPEndPoint(IPAddress.Loopback, 0)))
        {
            deadPort = ((IPEndPoint)s.Client.LocalEndPoint!).Port;
        }

        var dns = new DnsOptions { Servers = ["127.0.0.1:" + deadPort], Timeout = TimeSpan.FromMilliseconds(500) };
        var auth = new SenderAuthenticator(new SenderAuthOptions(), dns, NullLoggerFactory.Instance);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var result = await auth.CheckSpfAsync(IPAddress.Parse("192.0.2.10"), "h.test", "user@pass.test", cts.Token);
        Assert.Equal(SpfStatus.TempError, result.Status);

        var message = AuthWorld.Parse(AuthWorld.Message("a@pass.test"));
        var verdict = await auth.VerifyAsync(message, result, cts.Token);
        Assert.Equal(DmarcStatus.TempError, verdict.Dmarc.Status);
    }
}
