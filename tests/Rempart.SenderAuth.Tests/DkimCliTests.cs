using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Common.Configuration;
using Rempart.SenderAuth.Dkim;

namespace Rempart.SenderAuth.Tests;

/// <summary>`rempart dkim generate|rotate|list` run in-process; the printed record is published in a real DNS server.</summary>
public sealed class DkimCliTests : IDisposable
{
    private readonly string data = Path.Combine(Path.GetTempPath(), "rempart-dkimcli-" + Guid.NewGuid().ToString("n")[..8]);

    public void Dispose()
    {
        if (Directory.Exists(data))
        {
            Directory.Delete(data, recursive: true);
        }
    }

    [Fact]
    public async Task Generate_prints_a_record_that_verifies_a_signed_message_through_dns()
    {
        var (code, output, error) = await RunAsync("dkim", "generate", "cli.test", "--selector", "c1", "--bits", "1024");
        Assert.True(code == 0, error);
        var (name, value) = Record(output, "c1._domainkey.cli.test");
        Assert.StartsWith("v=DKIM1; k=rsa; p=", value, StringComparison.Ordinal);
        Assert.Null(DnsDkimKeyLocator.ParseKeyRecord(value).Error);

        using var dns = await Dnsmasq.StartAsync([Dnsmasq.Txt(name, value)]);
        var signer = new OutboundDkimSigner(new DkimKeyStore(Path.Combine(data, "dkim")), NullLogger.Instance);
        var signed = signer.Sign(AuthWorld.Message("a@cli.test"), "cli.test");
        var auth = new SenderAuthenticator(new SenderAuthOptions(), new DnsOptions { Servers = [dns.Endpoint], Timeout = TimeSpan.FromSeconds(3) }, NullLoggerFactory.Instance);
        var result = await auth.VerifyAsync(AuthWorld.Parse(signed), AuthWorld.NoSpf(), CancellationToken.None);
        var dkim = Assert.Single(result.Dkim);
        Assert.True(dkim.Status == DkimStatus.Pass, dkim.Reason);
        Assert.Equal("c1", dkim.Selector);
    }

    [Fact]
    public async Task Rotate_prints_the_new_record_and_the_retired_one_and_list_shows_both()
    {
        Assert.Equal(0, (await RunAsync("dkim", "generate", "cli.test", "--selector", "old", "--bits", "1024")).Code);
        var (code, output, error) = await RunAsync("dkim", "rotate", "cli.test", "--selector", "new");
        Assert.True(code == 0, error);
        Record(output, "new._domainkey.cli.test");
        Record(output, "old._domainkey.cli.test");
        Assert.Contains("Retired", output, StringComparison.Ordinal);

        var list = await RunAsync("dkim", "list");
        Assert.Equal(0, list.Code);
        var rows = list.Output.Split('\n').Where(l => l.Contains("cli.test", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, rows.Count);
        Assert.Contains(rows, r => r.Contains("new", StringComparison.Ordinal) && r.Contains("active", StringComparison.Ordinal));
        Assert.Contains(rows, r => r.Contains("old", StringComparison.Ordinal) && r.Contains("retired", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Mistakes_get_clear_errors_and_exit_codes()
    {
        Assert.Equal(0, (await RunAsync("dkim", "generate", "cli.test", "--bits", "1024")).Code);

        var again = await RunAsync("dkim", "generate", "cli.test", "--bits", "1024");
        Assert.Equal(1, again.Code);
        Assert.Contains("rotate", again.Error, StringComparison.Ordinal);

        var bad = await RunAsync("dkim", "generate", "not_a domain");
        Assert.Equal(2, bad.Code);
        Assert.Contains("not a domain", bad.Error, StringComparison.Ordinal);

        var bits = await RunAsync("dkim", "generate", "other.test", "--bits", "999");
        Assert.Equal(2, bits.Code);

        var rotate = await RunAsync("dkim", "rotate", "nokey.test");
        Assert.Equal(1, rotate.Code);
        Assert.Contains("generate", rotate.Error, StringComparison.Ordinal);

        var empty = await RunAsync("dkim", "list", "--data", Path.Combine(data, "empty"));
        Assert.Equal(0, empty.Code);
        Assert.Contains("No DKIM keys", empty.Error, StringComparison.Ordinal);
    }

    private async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        var all = args.Contains("--data") ? args : [.. args, "--data", data];
        using var stdout = new StringWriter();
        using var stderr = new StringWriter();
        var code = await Rempart.Cli.Program.RunAsync(all, TextReader.Null, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>The "name:" line and the "value:" line after it.</summary>
    private static (string Name, string Value) Record(string output, string name)
    {
        var lines = output.Split('\n').Select(l => l.TrimEnd('\r').Trim()).ToList();
        var at = lines.IndexOf("name:  " + name);
        Assert.True(at >= 0, $"no record {name} in:\n{output}");
        var value = lines.Skip(at).First(l => l.StartsWith("value: ", StringComparison.Ordinal));
        return (name, value["value: ".Length..]);
    }
}
