using System.Net;
using Rempart.Common.Configuration;
using Rempart.SenderAuth.Dkim;
using Rempart.SenderAuth.Dmarc;
using Rempart.SenderAuth.Spf;

namespace Rempart.SenderAuth.Tests;

/// <summary>Pure parsing and evaluation rules, no DNS.</summary>
public sealed class SpfRecordTests
{
    [Fact]
    public void A_record_parses_into_mechanisms_and_modifiers()
    {
        Assert.True(SpfRecord.TryParse("v=spf1 +a mx/24//64 -ip4:192.0.2.0/24 ~ip6:2001:db8::/32 ?include:_spf.example.com ptr exists:%{i}.x.test redirect=r.test exp=e.test unknown=ignored -all", out var r, out var error), error);
        Assert.Equal(
            [SpfMechanismKind.A, SpfMechanismKind.Mx, SpfMechanismKind.Ip4, SpfMechanismKind.Ip6, SpfMechanismKind.Include, SpfMechanismKind.Ptr, SpfMechanismKind.Exists, SpfMechanismKind.All],
            r.Mechanisms.Select(m => m.Kind));
        Assert.Equal([SpfStatus.Pass, SpfStatus.Pass, SpfStatus.Fail, SpfStatus.SoftFail, SpfStatus.Neutral, SpfStatus.Pass, SpfStatus.Pass, SpfStatus.Fail], r.Mechanisms.Select(m => m.Result));
        Assert.Equal((24, 64), (r.Mechanisms[1].Cidr4, r.Mechanisms[1].Cidr6));
        Assert.Equal(24, r.Mechanisms[2].Cidr4);
        Assert.Equal(32, r.Mechanisms[3].Cidr6);
        Assert.Equal("_spf.example.com", r.Mechanisms[4].DomainSpec);
        Assert.Equal("r.test", r.Redirect);
        Assert.Equal("e.test", r.Explanation);
    }

    [Theory]
    [InlineData("v=spf1 foo -all")]
    [InlineData("v=spf1 ip4:192.0.2.300 -all")]
    [InlineData("v=spf1 ip4:192.0.2.0/33")]
    [InlineData("v=spf1 ip6:192.0.2.1")]
    [InlineData("v=spf1 include")]
    [InlineData("v=spf1 include:")]
    [InlineData("v=spf1 a:%{z}.test")]
    [InlineData("v=spf1 redirect=a.test redirect=b.test")]
    [InlineData("v=spf1 all:x")]
    [InlineData("v=spf1 exists:%{i0}.x.test")]
    public void A_malformed_record_is_rejected_with_a_reason(string text)
    {
        Assert.False(SpfRecord.TryParse(text, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Theory]
    [InlineData("v=spf1", true)]
    [InlineData("V=SPF1 -all", true)]
    [InlineData("v=spf10 -all", false)]
    [InlineData("spf1 -all", false)]
    public void Only_v_spf1_records_count(string text, bool expected) => Assert.Equal(expected, SpfRecord.IsSpfRecord(text));

    [Theory]
    [InlineData("%{s}", "strong-bad@email.example.com")]
    [InlineData("%{o}", "email.example.com")]
    [InlineData("%{d}", "email.example.com")]
    [InlineData("%{d4}", "email.example.com")]
    [InlineData("%{d3}", "email.example.com")]
    [InlineData("%{d2}", "example.com")]
    [InlineData("%{d1}", "com")]
    [InlineData("%{dr}", "com.example.email")]
    [InlineData("%{d2r}", "example.email")]
    [InlineData("%{l}", "strong-bad")]
    [InlineData("%{l-}", "strong.bad")]
    [InlineData("%{lr}", "strong-bad")]
    [InlineData("%{lr-}", "bad.strong")]
    [InlineData("%{l1r-}", "strong")]
    [InlineData("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com")]
    [InlineData("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com")]
    [InlineData("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com")]
    [InlineData("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com")]
    [InlineData("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net")]
    [InlineData("%%%_%-", "% %20")]
    [InlineData("%{S}", "strong-bad%40email.example.com")]
    public void Macros_expand_as_in_rfc_7208_examples(string macro, string expected)
    {
        // RFC 7208 7.4: sender strong-bad@email.example.com, IP 192.0.2.3.
        var context = new SpfMacroContext("strong-bad@email.example.com", "email.example.com", IPAddress.Parse("192.0.2.3"), "mx.example.org");
        Assert.Equal(expected, SpfMacro.Expand(macro, context, explanation: false));
    }

    [Fact]
    public void Ipv6_macros_use_nibbles()
    {
        var context = new SpfMacroContext("strong-bad@email.example.com", "email.example.com", IPAddress.Parse("2001:db8::cb01"), "h.test");
        Assert.Equal("1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com", SpfMacro.Expand("%{ir}.%{v}._spf.%{d2}", context, false));
    }

    [Fact]
    public void Explanation_only_macros_are_refused_in_domains()
    {
        var context = new SpfMacroContext("a@b.test", "b.test", IPAddress.Parse("192.0.2.3"), "h.test");
        Assert.Throws<SpfMacroException>(() => SpfMacro.Expand("%{c}.b.test", context, explanation: false));
        Assert.Equal("192.0.2.3", SpfMacro.Expand("%{c}", context, explanation: true));
    }

    [Fact]
    public void Long_expansions_are_cut_from_the_left_to_253_characters()
    {
        var local = new string('a', 60) + "." + new string('b', 60) + "." + new string('c', 60);
        var context = new SpfMacroContext(local + "@example.com", "example.com", IPAddress.Parse("192.0.2.3"), "h.test");
        var expanded = SpfMacro.ExpandDomain("%{l}.%{l}.example.com", context);
        Assert.True(expanded.Length <= 253);
        Assert.EndsWith(".example.com", expanded, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("192.0.2.10", "192.0.2.0", 24, true)]
    [InlineData("192.0.3.10", "192.0.2.0", 24, false)]
    [InlineData("192.0.2.10", "192.0.2.10", 32, true)]
    [InlineData("10.1.2.3", "0.0.0.0", 0, true)]
    [InlineData("2001:db8:1::1", "2001:db8::", 32, true)]
    [InlineData("2001:db9::1", "2001:db8::", 32, false)]
    [InlineData("192.0.2.10", "2001:db8::", 0, false)]
    public void Cidr_matching(string ip, string network, int prefix, bool expected) =>
        Assert.Equal(expected, SpfEvaluator.InNetwork(IPAddress.Parse(ip), IPAddress.Parse(network), prefix));
}

public sealed class DmarcTests
{
    private static readonly PublicSuffixList Suffixes = PublicSuffixList.Parse(["// comment", "com", "uk", "co.uk", "*.ck", "!www.ck", "test"]);

    [Fact]
    public void A_full_record_parses()
    {
        var r = DmarcRecord.Parse("v=DMARC1; p=quarantine; sp=reject; adkim=s; aspf=r; pct=25; rua=mailto:d@example.com", out _);
        Assert.Equal(new DmarcRecord(DmarcPolicy.Quarantine, DmarcPolicy.Reject, true, false, 25), r);
    }

    [Fact]
    public void Defaults_are_relaxed_alignment_and_pct_100()
    {
        Assert.Equal(new DmarcRecord(DmarcPolicy.None, null, false, false, 100), DmarcRecord.Parse("v=DMARC1; p=none", out _));
        Assert.Equal(100, DmarcRecord.Parse("v=DMARC1; p=reject; pct=300", out _)!.Percent);
        Assert.False(DmarcRecord.Parse("v=DMARC1; p=reject; adkim=x", out _)!.StrictDkim);
    }

    [Theory]
    [InlineData("v=DMARC1")]
    [InlineData("v=DMARC1; p=block")]
    [InlineData("v=dmarc1; p=reject")]
    [InlineData("p=reject; v=DMARC1")]
    [InlineData("v=DMARC1; p=reject; p=none")]
    public void Unusable_records_are_ignored(string text) => Assert.Null(DmarcRecord.Parse(text, out _));

    [Fact]
    public void A_bad_policy_with_a_report_address_acts_as_p_none() =>
        Assert.Equal(DmarcPolicy.None, DmarcRecord.Parse("v=DMARC1; p=block; rua=mailto:d@example.com", out _)!.Policy);

    [Theory]
    [InlineData("mail.example.com", "example.com")]
    [InlineData("a.b.example.co.uk", "example.co.uk")]
    [InlineData("example.co.uk", "example.co.uk")]
    [InlineData("co.uk", "co.uk")]
    [InlineData("a.b.c.ck", "b.c.ck")]
    [InlineData("a.www.ck", "www.ck")]
    [InlineData("x.unknowntld", "x.unknowntld")]
    [InlineData("Deep.Sub.Example.COM.", "example.com")]
    public void Organizational_domain_follows_the_public_suffix_list(string domain, string expected) =>
        Assert.Equal(expected, Suffixes.OrganizationalDomain(domain));

    [Fact]
    public void The_installed_public_suffix_list_is_used_and_missing_files_fall_back_to_two_labels()
    {
        var missing = PublicSuffixList.Load("/nonexistent/public_suffix_list.dat");
        Assert.False(missing.Loaded);
        Assert.Equal("co.uk", missing.OrganizationalDomain("mail.example.co.uk"));
        Assert.Equal("example.com", missing.OrganizationalDomain("a.b.example.com"));

        var installed = new SenderAuthOptions().PublicSuffixListPath;
        if (File.Exists(installed))
        {
            var real = PublicSuffixList.Load(installed);
            Assert.True(real.Loaded);
            Assert.Equal("example.co.uk", real.OrganizationalDomain("mail.example.co.uk"));
        }
    }

    [Theory]
    [InlineData("example.com", "example.com", true, true)]
    [InlineData("mail.example.com", "example.com", true, false)]
    [InlineData("mail.example.com", "example.com", false, true)]
    [InlineData("example.com", "news.example.com", false, true)]
    [InlineData("a.example.co.uk", "b.example.co.uk", false, true)]
    [InlineData("example.co.uk", "other.co.uk", false, false)]
    [InlineData("EXAMPLE.com", "example.COM", true, true)]
    [InlineData("", "example.com", false, false)]
    public void Alignment(string authenticated, string from, bool strict, bool expected) =>
        Assert.Equal(expected, DmarcEvaluator.Aligned(authenticated, from, strict, Suffixes));
}

public sealed class AuthenticationResultsTests
{
    [Fact]
    public void The_header_value_lists_every_method()
    {
        var spf = new SpfResult(SpfStatus.Pass, "example.com", null) { MailFrom = "bounce@example.com" };
        var auth = new MessageAuthentication(
            [new DkimResult(DkimStatus.Pass, "example.com", "s1", null), new DkimResult(DkimStatus.Fail, "other.test", "x", "signature did not verify")],
            new ArcResult(ArcStatus.None, null),
            new DmarcResult(DmarcStatus.Fail, DmarcPolicy.Reject, "example.org", false, false, true, "neither"));
        Assert.Equal(
            "mx.rempart.test; spf=pass smtp.mailfrom=bounce@example.com; dkim=pass header.d=example.com header.s=s1; " +
            "dkim=fail reason=\"signature did not verify\" header.d=other.test header.s=x; arc=none; " +
            "dmarc=fail (p=reject dis=reject) header.from=example.org",
            SenderAuthenticator.AuthenticationResults("mx.rempart.test", spf, auth));
    }

    [Fact]
    public void Hostile_values_cannot_break_the_header()
    {
        var spf = new SpfResult(SpfStatus.PermError, "x.test", "bad \"quote\" \r\n(and) \\ more") { MailFrom = "a b;@x.test" };
        var auth = new MessageAuthentication([], new ArcResult(ArcStatus.Fail, "x"), new DmarcResult(DmarcStatus.PermError, DmarcPolicy.None, "", false, false, false, "no From"));
        var value = SenderAuthenticator.AuthenticationResults("mx.test", spf, auth);
        Assert.DoesNotContain("\r", value, StringComparison.Ordinal);
        Assert.DoesNotContain("\n", value, StringComparison.Ordinal);
        Assert.DoesNotContain("a b;", value, StringComparison.Ordinal);
        Assert.Contains("spf=permerror reason=\"bad quote (and)  more\"", value, StringComparison.Ordinal);
        Assert.EndsWith("dmarc=permerror reason=\"no From\"", value, StringComparison.Ordinal);
    }

    [Fact]
    public void The_null_sender_is_reported_as_smtp_helo()
    {
        var spf = new SpfResult(SpfStatus.Pass, "mx.example.com", null) { Helo = "mx.example.com", CheckedHelo = true };
        var auth = new MessageAuthentication([], new ArcResult(ArcStatus.None, null), new DmarcResult(DmarcStatus.None, DmarcPolicy.None, "example.com", false, false, false, null));
        Assert.StartsWith("mx; spf=pass smtp.helo=mx.example.com; dkim=none; arc=none; dmarc=none header.from=example.com", SenderAuthenticator.AuthenticationResults("mx", spf, auth), StringComparison.Ordinal);
    }

    [Fact]
    public void Options_validation_names_the_key()
    {
        Assert.Empty(new SenderAuthOptions().Validate("protection.senderAuth"));
        var errors = new SenderAuthOptions { DkimKeyBits = 1000, DkimSelectorPrefix = "bad prefix", MaxDkimSignatures = 0 }.Validate("protection.senderAuth").ToList();
        Assert.Contains(errors, e => e.StartsWith("'protection.senderAuth.dkimKeyBits'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("'protection.senderAuth.dkimSelectorPrefix'", StringComparison.Ordinal));
        Assert.Contains(errors, e => e.StartsWith("'protection.senderAuth.maxDkimSignatures'", StringComparison.Ordinal));
    }

    [Fact]
    public void Dkim_key_records_parse_and_revoked_keys_are_refused()
    {
        Assert.Equal("key revoked (empty p=)", DnsDkimKeyLocator.ParseKeyRecord("v=DKIM1; k=rsa; p=").Error);
        Assert.NotNull(DnsDkimKeyLocator.ParseKeyRecord("v=DKIM1; k=rsa; p=!!notbase64").Error);
        Assert.NotNull(DnsDkimKeyLocator.ParseKeyRecord("v=DKIM1; k=rsa; p=AAAA").Error);
        Assert.NotNull(DnsDkimKeyLocator.ParseKeyRecord("v=DKIM2; p=AAAA").Error);
        Assert.NotNull(DnsDkimKeyLocator.ParseKeyRecord("garbage").Error);
    }
}
