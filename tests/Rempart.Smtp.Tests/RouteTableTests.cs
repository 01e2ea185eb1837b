using System.Net;
using Rempart.Common.Configuration;
using Rempart.Smtp.Outbound;
using Rempart.Smtp.Routing;

namespace Rempart.Smtp.Tests;

public class RouteTableTests
{
    private static RempartOptions Options(params RouteOptions[] routes)
    {
        var options = new RempartOptions { HostName = "mx.rempart.test" };
        options.Routes.AddRange(routes);
        return options;
    }

    private static RouteOptions Route(string name, string smartHost, params string[] domains) =>
        new() { Name = name, SmartHost = smartHost, Domains = [.. domains] };

    [Theory]
    [InlineData("example.com", "example.com", true)]
    [InlineData("example.com", "EXAMPLE.com.", true)]
    [InlineData("example.com", "sub.example.com", false)]
    [InlineData("*.example.com", "sub.example.com", true)]
    [InlineData("*.example.com", "a.b.example.com", true)]
    [InlineData("*.example.com", "example.com", false)]
    [InlineData("*.example.com", "badexample.com", false)]
    [InlineData("*", "anything.org", true)]
    public void Patterns_match_exact_domains_subdomains_and_everything(string pattern, string domain, bool expected)
    {
        Assert.Equal(expected, RouteTable.Matches(pattern, domain));
    }

    [Fact]
    public void First_matching_route_in_configuration_order_wins()
    {
        var table = new RouteTable(Options(
            Route("partners", "relay1.test:25", "partner.com", "*.partner.com"),
            Route("wildcard", "relay2.test:587", "*"),
            Route("never", "relay3.test:25", "partner.com")));

        Assert.Equal("partners", table.Resolve("partner.com").Route!.Name);
        Assert.Equal("partners", table.Resolve("eu.partner.com").Route!.Name);
        Assert.Equal("wildcard", table.Resolve("other.org").Route!.Name);
        Assert.Equal("relay2.test", table.Resolve("other.org").Route!.Host);
        Assert.Equal(587, table.Resolve("other.org").Route!.Port);
    }

    [Fact]
    public void No_match_means_mx_delivery_with_opportunistic_tls()
    {
        var table = new RouteTable(Options(Route("partners", "relay1.test:25", "partner.com")));

        var decision = table.Resolve("gmail.com");

        Assert.Null(decision.Route);
        Assert.False(decision.IsSmartHost);
        Assert.Equal(TlsMode.Opportunistic, decision.Tls);
        Assert.False(decision.VerifyCertificate);
        Assert.Contains("MX delivery", decision.Reason);
    }

    [Fact]
    public void A_route_forced_by_name_wins_over_patterns()
    {
        var table = new RouteTable(Options(
            Route("partners", "relay1.test:25", "partner.com"),
            Route("archive", "archive.test:2525", "archive.invalid")));

        var decision = table.Resolve("partner.com", forcedRoute: "ARCHIVE");

        Assert.Equal("archive", decision.Route!.Name);
        Assert.Contains("forced", decision.Reason);
    }

    [Fact]
    public void An_unknown_forced_route_falls_back_to_patterns_and_says_so()
    {
        var table = new RouteTable(Options(Route("partners", "relay1.test:25", "partner.com")));

        var decision = table.Resolve("partner.com", forcedRoute: "gone");

        Assert.Equal("partners", decision.Route!.Name);
        Assert.Contains("\"gone\" does not exist", decision.Reason);
    }

    [Fact]
    public void Require_tls_domains_force_verified_tls_for_mx_delivery()
    {
        var options = Options();
        options.Queue.RequireTlsDomains.Add("*.bank.test");
        var table = new RouteTable(options);

        var decision = table.Resolve("secure.bank.test");

        Assert.Equal(TlsMode.Required, decision.Tls);
        Assert.True(decision.VerifyCertificate);
        Assert.Equal(TlsMode.Opportunistic, table.Resolve("bank.test").Tls);
    }

    [Fact]
    public void Route_tls_modes_and_verification_follow_the_configuration()
    {
        var table = new RouteTable(Options(
            new RouteOptions { Name = "req", SmartHost = "a.test:25", Domains = ["a.test"], Tls = "required" },
            new RouteOptions { Name = "req-insecure", SmartHost = "b.test:25", Domains = ["b.test"], Tls = "Required", InsecureSkipVerify = true },
            new RouteOptions { Name = "smtps", SmartHost = "c.test:465", Domains = ["c.test"], Tls = "implicit" },
            new RouteOptions { Name = "plain", SmartHost = "d.test:25", Domains = ["d.test"], Tls = "none" }));

        Assert.Equal((TlsMode.Required, true), (table.Resolve("a.test").Tls, table.Resolve("a.test").VerifyCertificate));
        Assert.Equal((TlsMode.Required, false), (table.Resolve("b.test").Tls, table.Resolve("b.test").VerifyCertificate));
        Assert.Equal((TlsMode.Implicit, true), (table.Resolve("c.test").Tls, table.Resolve("c.test").VerifyCertificate));
        Assert.Equal((TlsMode.None, false), (table.Resolve("d.test").Tls, table.Resolve("d.test").VerifyCertificate));
    }

    [Fact]
    public void Validate_reports_every_problem_clearly()
    {
        var options = Options(
            new RouteOptions { Name = "", SmartHost = "ok.test:25", Domains = ["x.test"] },
            new RouteOptions { Name = "nodomains", SmartHost = "ok.test:25", Domains = [] },
            new RouteOptions { Name = "badport", SmartHost = "relay.test:99999", Domains = ["a.test"] },
            new RouteOptions { Name = "noport", SmartHost = "relay.test", Domains = ["a.test"] },
            new RouteOptions { Name = "badtls", SmartHost = "relay.test:25", Domains = ["a.test"], Tls = "sometimes" },
            new RouteOptions { Name = "badpattern", SmartHost = "relay.test:25", Domains = ["exa mple.com", "a.*.com"] },
            new RouteOptions { Name = "nopass", SmartHost = "relay.test:25", Domains = ["a.test"], Password = "secret" },
            new RouteOptions { Name = "badpattern", SmartHost = "relay.test:25", Domains = ["b.test"] },
            new RouteOptions { Name = "cleartext", SmartHost = "relay.test:25", Domains = ["c.test"], Tls = "none", Username = "u", Password = "p" },
            new RouteOptions { Name = "mxauth", Domains = ["d.test"], Username = "u", Password = "p" });

        var errors = RouteTable.Validate(options);

        Assert.Contains(errors, e => e.Contains("routes[0]") && e.Contains("name is empty"));
        Assert.Contains(errors, e => e.Contains("\"nodomains\"") && e.Contains("domains is empty"));
        Assert.Contains(errors, e => e.Contains("\"badport\"") && e.Contains("99999"));
        Assert.Contains(errors, e => e.Contains("\"noport\"") && e.Contains("host:port"));
        Assert.Contains(errors, e => e.Contains("\"badtls\"") && e.Contains("sometimes"));
        Assert.Contains(errors, e => e.Contains("exa mple.com"));
        Assert.Contains(errors, e => e.Contains("a.*.com"));
        Assert.Contains(errors, e => e.Contains("\"nopass\"") && e.Contains("without a username"));
        Assert.Contains(errors, e => e.Contains("duplicate route name"));
        Assert.Contains(errors, e => e.Contains("\"cleartext\"") && e.Contains("in clear"));
        Assert.Contains(errors, e => e.Contains("\"mxauth\"") && e.Contains("no smartHost"));
        Assert.DoesNotContain(errors, e => e.Contains("secret"));
        Assert.Throws<ArgumentException>(() => new RouteTable(options));
    }

    [Fact]
    public void Validate_accepts_a_good_configuration_including_ipv6_smart_hosts()
    {
        var options = Options(
            new RouteOptions { Name = "v6", SmartHost = "[::1]:2525", Domains = ["v6.test"], Tls = "none" },
            new RouteOptions { Name = "auth", SmartHost = "smtp.relay.test:587", Domains = ["*"], Tls = "required", Username = "u", Password = "p" });

        Assert.Empty(RouteTable.Validate(options));
        var table = new RouteTable(options);
        Assert.Equal("::1", table.Resolve("v6.test").Route!.Host);
        Assert.Equal(2525, table.Resolve("v6.test").Route!.Port);
    }

    [Fact]
    public void Explain_names_the_route_smart_host_and_tls_policy_but_never_the_password()
    {
        var table = new RouteTable(Options(
            new RouteOptions { Name = "relay", SmartHost = "smtp.relay.test:587", Domains = ["*.corp.test"], Tls = "required", Username = "bob", Password = "hunter2" }));

        var text = table.Explain("user@eu.corp.test");

        Assert.Contains("relay", text);
        Assert.Contains("smtp.relay.test:587", text);
        Assert.Contains("required", text);
        Assert.Contains("bob", text);
        Assert.DoesNotContain("hunter2", text);
        Assert.DoesNotContain("hunter2", table.Routes[0].ToString());
    }

    [Fact]
    public void Explain_rejects_a_string_that_is_not_an_address()
    {
        var table = new RouteTable(Options());

        Assert.Contains("not an address", table.Explain("no-at-sign"));
    }

    [Fact]
    public async Task ExplainAsync_lists_the_resolved_mx_hosts_for_mx_delivery()
    {
        var options = Options();
        options.Queue.MxPort = 2526;
        var table = new RouteTable(options);
        var resolver = new FixedMxResolver(new MxResult(MxStatus.Ok,
            [new MxHost("mx1.dest.test", 10, [IPAddress.Parse("192.0.2.1"), IPAddress.Parse("2001:db8::1")]), new MxHost("mx2.dest.test", 20, [IPAddress.Parse("192.0.2.2")])], null));

        var text = await table.ExplainAsync("user@dest.test", resolver);

        Assert.Contains("MX hosts of dest.test, port 2526", text);
        Assert.True(text.IndexOf("mx1.dest.test", StringComparison.Ordinal) < text.IndexOf("mx2.dest.test", StringComparison.Ordinal));
        Assert.Contains("2001:db8::1", text);
        Assert.Contains("opportunistic", text);
    }
}

/// <summary>An MX resolver with a fixed answer (DNS itself is the integration suite's job).</summary>
internal sealed class FixedMxResolver(MxResult result) : IMxResolver
{
    public int Calls { get; private set; }

    public Task<MxResult> ResolveAsync(string domain, CancellationToken ct = default)
    {
        Calls++;
        return Task.FromResult(result);
    }
}
