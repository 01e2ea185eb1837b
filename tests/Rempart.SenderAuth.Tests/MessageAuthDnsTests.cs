using System.Net;
using System.Text;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Security;
using Rempart.SenderAuth.Dkim;

namespace Rempart.SenderAuth.Tests;

/// <summary>DKIM, ARC and DMARC of whole messages, keys and policies published in a real DNS server.</summary>
[Collection(DnsCollection.Name)]
public sealed class MessageAuthDnsTests(AuthWorld world)
{
    [Fact]
    public async Task A_message_signed_by_the_outbound_signer_verifies_through_dns()
    {
        var signed = world.Signer().Sign(AuthWorld.Message("alice@signed.test"), "signed.test");
        var result = await world.Authenticator().VerifyAsync(AuthWorld.Parse(signed), AuthWorld.NoSpf(), CancellationToken.None);

        var dkim = Assert.Single(result.Dkim);
        Assert.Equal(DkimStatus.Pass, dkim.Status);
        Assert.Equal("signed.test", dkim.Domain);
        Assert.Equal(world.Keys.GetActive("signed.test")!.Selector, dkim.Selector);
        Assert.Equal(DmarcStatus.Pass, result.Dmarc.Status);
        Assert.True(result.Dmarc.DkimAligned);
        Assert.False(result.Dmarc.ApplyPolicy);
    }

    [Fact]
    public async Task A_body_modified_after_signing_fails_dkim_and_then_dmarc()
    {
        var signed = Encoding.ASCII.GetString(world.Signer().Sign(AuthWorld.Message("alice@signed.test"), "signed.test"));
        var tampered = Encoding.ASCII.GetBytes(signed.Replace("Another line.", "Another line, changed.", StringComparison.Ordinal));
        var result = await world.Authenticator().VerifyAsync(AuthWorld.Parse(tampered), AuthWorld.NoSpf(), CancellationToken.None);

        Assert.Equal(DkimStatus.Fail, Assert.Single(result.Dkim).Status);
        Assert.Equal(DmarcStatus.Fail, result.Dmarc.Status);
        Assert.Equal(DmarcPolicy.Reject, result.Dmarc.Policy);
        Assert.True(result.Dmarc.ApplyPolicy);
    }

    [Fact]
    public async Task A_signed_header_changed_after_signing_fails_dkim()
    {
        var signed = Encoding.ASCII.GetString(world.Signer().Sign(AuthWorld.Message("alice@signed.test", "Invoice"), "signed.test"));
        var tampered = Encoding.ASCII.GetBytes(signed.Replace("Subject: Invoice", "Subject: Urgent invoice", StringComparison.Ordinal));
        var result = await world.Authenticator().VerifyAsync(AuthWorld.Parse(tampered), AuthWorld.NoSpf(), CancellationToken.None);
        Assert.Equal(DkimStatus.Fail, Assert.Single(result.Dkim).Status);
    }

    [Fact]
    public async Task After_a_rotation_the_new_key_signs_and_mail_signed_with_the_old_one_still_verifies()
    {
        var signer = world.Signer();
        var fresh = await world.Authenticator().VerifyAsync(AuthWorld.Parse(signer.Sign(AuthWorld.Message("a@rotated.test"), "rotated.test")), AuthWorld.NoSpf(), CancellationToken.None);
        var dkim = Assert.Single(fresh.Dkim);
        Assert.Equal((DkimStatus.Pass, "new"), (dkim.Status, dkim.Selector));

        // Mail signed with the retired key before the rotation (its record is still published).
        using var rsa = System.Security.Cryptography.RSA.Create();
        rsa.ImportFromPem(File.ReadAllText(world.RotatedOld.PrivateKeyPath));
        var old = new DkimSigner(DotNetUtilities.GetRsaKeyPair(rsa.ExportParameters(true)).Private, "rotated.test", "old", DkimSignatureAlgorithm.RsaSha256);
        var message = AuthWorld.Parse(AuthWorld.Message("a@rotated.test"));
        old.Sign(message, [HeaderId.From, HeaderId.Subject, HeaderId.Date]);
        var before = await world.Authenticator().VerifyAsync(Reparse(message), AuthWorld.NoSpf(), CancellationToken.None);
        Assert.Equal((DkimStatus.Pass, "old"), (before.Dkim[0].Status, before.Dkim[0].Selector));
    }

    [Fact]
    public async Task A_signature_whose_key_is_not_in_dns_is_a_permerror()
    {
        var message = AuthWorld.Parse(AuthWorld.Message("a@signed.test"));
        message.Headers.Insert(0, new Header(HeaderId.DkimSignature, "v=1; a=rsa-sha256; c=relaxed/relaxed; d=signed.test; s=missing; h=from:subject; bh=AAAA; b=AAAA"));
        var result = await world.Authenticator().VerifyAsync(Reparse(message), AuthWorld.NoSpf(), CancellationToken.None);
        var dkim = Assert.Single(result.Dkim);
        Assert.True(dkim.Status is DkimStatus.PermError or DkimStatus.Fail, dkim.Status + " " + dkim.Reason);
        Assert.Equal("missing", dkim.Selector);
        Assert.Equal(DmarcStatus.Fail, result.Dmarc.Status);
    }

    [Theory]
    [InlineData("v=1; d=signed.test; s=x")]
    [InlineData("garbage without tags")]
    [InlineData("v=1; a=rsa-sha256; c=relaxed/relaxed; d=signed.test; s=x; h=subject; bh=AAAA; b=AAAA")]
    public async Task A_malformed_signature_is_a_permerror(string value)
    {
        var message = AuthWorld.Parse(AuthWorld.Message("a@signed.test"));
        message.Headers.Insert(0, new Header(HeaderId.DkimSignature, value));
        var result = await world.Authenticator().VerifyAsync(Reparse(message), AuthWorld.NoSpf(), CancellationToken.None);
        var dkim = Assert.Single(result.Dkim);
        Assert.True(dkim.Status == DkimStatus.PermError, dkim.Status + " " + dkim.Reason);
        Assert.NotNull(dkim.Reason);
    }

    [Fact]
    public async Task A_spoofed_from_with_p_reject_fails_dmarc_and_asks_for_rejection()
    {
        var auth = world.Authenticator();
        var spf = await auth.CheckSpfAsync(IPAddress.Parse("198.51.100.1"), "evil.example", "attacker@evil.test", CancellationToken.None);
        var result = await auth.VerifyAsync(AuthWorld.Parse(AuthWorld.Message("ceo@reject.test")), spf, CancellationToken.None);

        Assert.Empty(result.Dkim);
        Assert.Equal(DmarcStatus.Fail, result.Dmarc.Status);
        Assert.Equal(DmarcPolicy.Reject, result.Dmarc.Policy);
        Assert.Equal("reject.test", result.Dmarc.FromDomain);
        Assert.True(result.Dmarc.ApplyPolicy);

        var header = SenderAuthenticator.AuthenticationResults("mx.rempart.test", spf, result);
        Assert.Contains("dmarc=fail (p=reject dis=reject) header.from=reject.test", header, StringComparison.Ordinal);
        Assert.Contains("dkim=none", header, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_aligned_spf_pass_is_a_dmarc_pass()
    {
        var auth = world.Authenticator();
        var spf = await auth.CheckSpfAsync(IPAddress.Parse("192.0.2.10"), "mx.reject.test", "bounce@reject.test", CancellationToken.None);
        var result = await auth.VerifyAsync(AuthWorld.Parse(AuthWorld.Message("ceo@reject.test")), spf, CancellationToken.None);
        Assert.Equal(DmarcStatus.Pass, result.Dmarc.Status);
        Assert.True(result.Dmarc.SpfAligned);
        Assert.False(result.Dmarc.DkimAligned);
    }

    [Fact]
    public async Task Strict_spf_alignment_needs_the_exact_domain()
    {
        var auth = world.Authenticator();
        var spf = await auth.CheckSpfAsync(IPAddress.Parse("192.0.2.10"), "mx.aspf.test", "bounce@mail.aspf.test", CancellationToken.None);
        Assert.Equal(SpfStatus.Pass, spf.Status);
        var result = await auth.VerifyAsync(AuthWorld.Parse(AuthWorld.Message("ceo@aspf.test")), spf, CancellationToken.None);
        Assert.Equal(DmarcStatus.Fail, result.Dmarc.Status);
        Assert.False(result.Dmarc.SpfAligned);
    }

    [Fact]
    public async Task Strict_dkim_alignment_rejects_a_parent_domain_signature_for_a_subdomain_from()
    {
        // news.signed.test has no record: the policy of the organizational domain (adkim=s) applies.
        var signed = world.Signer().Sign(AuthWorld.Message("news@news.signed.test"), "signed.test");
        var result = await world.Authenticator().VerifyAsync(AuthWorld.Parse(signed), AuthWorld.NoSpf(), CancellationToken.None);
        Assert.Equal(DkimStatus.Pass, Assert.Single(result.Dkim).Status);
        Assert.Equal(DmarcStatus.Fail, result.Dmarc.Status);
        Assert.Equal(DmarcPolicy.Reject, result.Dmarc.Policy);
        Assert.Equal("news.signed.test", result.Dmarc.FromDomain);
    }

    [Fact]
    public async Task Relaxed_dkim_alignment_accepts_the_organizational_domain_and_sp_applies_to_subdomains()
    {
        var auth = world.Authenticator();
        var signed = world.Signer().Sign(AuthWorld.Message("news@news.relaxed.test"), "relaxed.test");
        var pass = await auth.VerifyAsync(AuthWorld.Parse(signed), AuthWorld.NoSpf(), CancellationToken.None);
        Assert.Equal(DmarcStatus.Pass, pass.Dmarc.Status);
        Assert.True(pass.Dmarc.DkimAligned);

        // Unsigned mail from the subdomain: the organizational record's sp=reject applies, not p=quarantine.
        var fail = await auth.VerifyAsync(AuthWorld.Parse(AuthWorld.Message("news@news.relaxed.test")), AuthWorld.NoSpf(), CancellationToken.None);
        Assert.Equal((DmarcStatus.Fail, DmarcPolicy.Reject), (fail.Dmarc.Status, fail.Dmarc.Policy));

        // At the organizational domain itself p applies.
        var top = await auth.VerifyAsync(AuthWorld.Parse(AuthWorld.Message("ceo@relaxed.test")), AuthWorld.NoSpf(), CancellationToken.None);
        Assert.Equal((DmarcStatus.Fail, DmarcPolicy.Quarantine), (top.Dmarc.Status, top.Dmarc.Policy));
    }

    [Fact]
    public async Task Pct_zero_reports_the_failure_but_does_not_apply_the_policy()
    {
        var result = await world.Authenticator().VerifyAsync(AuthWorld.Parse(AuthWorld.Message("ceo@pct0.test")), AuthWorld.NoSpf(), CancellationToken.None);
        Assert.Equal(DmarcStatus.Fail, result.Dmarc.Status);
        Assert.Equal(DmarcPolicy.Reject, result.Dmarc.Policy);
        Assert.False(result.Dmarc.ApplyPolicy);
    }

    [Fact]
    public async Task A_domain_without_dmarc_record_gives_none()
    {
        var result = await world.Authenticator().VerifyAsync(AuthWorld.Parse(AuthWorld.Message("a@nospf.test")), AuthWorld.NoSpf(), CancellationToken.None);
        Assert.Equal(DmarcStatus.None, result.Dmarc.Status);
        Assert.False(result.Dmarc.ApplyPolicy);
    }

    [Theory]
    [InlineData("From: a@reject.test, b@reject.test\r\n")]
    [InlineData("From: a@reject.test\r\nFrom: b@reject.test\r\n")]
    [InlineData("")]
    public async Task Zero_or_several_from_addresses_are_a_dmarc_permerror(string fromLines)
    {
        var bytes = Encoding.ASCII.GetBytes(fromLines + "To: bob@example.net\r\nSubject: x\r\n\r\nbody\r\n");
        var result = await world.Authenticator().VerifyAsync(AuthWorld.Parse(bytes), AuthWorld.NoSpf(), CancellationToken.None);
        Assert.Equal(DmarcStatus.PermError, result.Dmarc.Status);
        Assert.False(result.Dmarc.ApplyPolicy);
        Assert.NotNull(result.Dmarc.Reason);
    }

    [Fact]
    public async Task An_arc_sealed_message_verifies_and_a_tampered_one_fails()
    {
        var message = AuthWorld.Parse(AuthWorld.Message("alice@reject.test", "Forwarded"));
        var sealer = new TestArcSigner(world.ArcKey);
        await sealer.SignAsync(message, [HeaderId.From, HeaderId.Subject, HeaderId.Date, HeaderId.To]);
        var sealedBytes = Bytes(message);

        var good = await world.Authenticator().VerifyAsync(AuthWorld.Parse(sealedBytes), AuthWorld.NoSpf(), CancellationToken.None);
        Assert.True(good.Arc.Status == ArcStatus.Pass, good.Arc.Reason);

        var tampered = Encoding.ASCII.GetBytes(Encoding.ASCII.GetString(sealedBytes).Replace("Subject: Forwarded", "Subject: Changed", StringComparison.Ordinal));
        var bad = await world.Authenticator().VerifyAsync(AuthWorld.Parse(tampered), AuthWorld.NoSpf(), CancellationToken.None);
        Assert.Equal(ArcStatus.Fail, bad.Arc.Status);

        var none = await world.Authenticator().VerifyAsync(AuthWorld.Parse(AuthWorld.Message("a@reject.test")), AuthWorld.NoSpf(), CancellationToken.None);
        Assert.Equal(ArcStatus.None, none.Arc.Status);
    }

    private static byte[] Bytes(MimeMessage message)
    {
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        using var stream = new MemoryStream();
        message.WriteTo(options, stream);
        return stream.ToArray();
    }

    private static MimeMessage Reparse(MimeMessage message) => AuthWorld.Parse(Bytes(message));

    /// <summary>An ARC sealer as an intermediary (a mailing list) would run it, with the test domain's key.</summary>
    private sealed class TestArcSigner : ArcSigner
    {
        public TestArcSigner(DkimKeyRecord key)
            : base(LoadKey(key.PrivateKeyPath), key.Domain, key.Selector, DkimSignatureAlgorithm.RsaSha256)
        {
            HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed;
            BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed;
        }

        protected override AuthenticationResults GenerateArcAuthenticationResults(FormatOptions options, MimeMessage message, CancellationToken cancellationToken)
        {
            var results = new AuthenticationResults("mx.arc.test");
            results.Results.Add(new AuthenticationMethodResult("spf", "pass"));
            return results;
        }

        protected override Task<AuthenticationResults> GenerateArcAuthenticationResultsAsync(FormatOptions options, MimeMessage message, CancellationToken cancellationToken) =>
            Task.FromResult(GenerateArcAuthenticationResults(options, message, cancellationToken));

        private static Org.BouncyCastle.Crypto.AsymmetricKeyParameter LoadKey(string path)
        {
            using var rsa = System.Security.Cryptography.RSA.Create();
            rsa.ImportFromPem(File.ReadAllText(path));
            return DotNetUtilities.GetRsaKeyPair(rsa.ExportParameters(true)).Private;
        }
    }
}
