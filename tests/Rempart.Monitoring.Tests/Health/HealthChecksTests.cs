using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Time.Testing;
using Rempart.Common.Configuration;
using Rempart.Monitoring.Checks;
using Rempart.Monitoring.Health;
using Rempart.Monitoring.Probes;
using Rempart.Telemetry;

namespace Rempart.Monitoring.Tests.Health;

public sealed class HealthChecksTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 28, 4, 0, 0, TimeSpan.Zero));

    [Fact]
    public async Task Workers_check_passes_beating_workers_and_fails_stalled_and_crash_looping_ones()
    {
        var registry = new WorkerRegistry(_time);
        var options = new HealthOptions();
        options.Workers.StallFloor = TimeSpan.FromSeconds(10);
        options.Workers.BacklogWarn = 100;
        var fine = registry.Register("fine", TimeSpan.FromSeconds(5));
        var stalled = registry.Register("stalled", TimeSpan.FromSeconds(5));
        var crashing = registry.Register("crashing", TimeSpan.FromSeconds(5));
        var busy = registry.Register("busy", TimeSpan.FromSeconds(5));
        var stopped = registry.Register("stopped", TimeSpan.FromSeconds(5));
        _time.Advance(TimeSpan.FromSeconds(20));
        fine.Beat(3);
        busy.Beat(500);
        crashing.Beat();
        crashing.Failed(new IOException("disk gone"));
        stopped.Stop();

        var results = (await new WorkersCheck(registry, options, _time).RunAsync(default)).ToDictionary(r => r.Monitor);
        Assert.Equal(CheckOutcome.Pass, results["fine"].Outcome);
        Assert.Equal(3, results["fine"].Value);
        Assert.Equal(CheckOutcome.Fail, results["stalled"].Outcome);
        Assert.Contains("stalled: no heartbeat for 20 s (limit 15 s)", results["stalled"].Detail, StringComparison.Ordinal);
        Assert.Equal(CheckOutcome.Fail, results["crashing"].Outcome);
        Assert.Contains("IOException: disk gone", results["crashing"].Detail, StringComparison.Ordinal);
        Assert.Equal(CheckOutcome.Warn, results["busy"].Outcome);
        Assert.Equal(CheckOutcome.Unknown, results["stopped"].Outcome);

        // One successful iteration after the failure clears it.
        _time.Advance(TimeSpan.FromSeconds(1));
        crashing.Beat();
        results = (await new WorkersCheck(registry, options, _time).RunAsync(default)).ToDictionary(r => r.Monitor);
        Assert.Equal(CheckOutcome.Pass, results["crashing"].Outcome);
    }

    [Theory]
    [InlineData(5, CheckOutcome.Fail)]
    [InlineData(20, CheckOutcome.Warn)]
    [InlineData(90, CheckOutcome.Pass)]
    public async Task Platform_check_judges_certificate_expiry_against_warn_and_fail(int days, CheckOutcome expected)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=mx.example.test", key, HashAlgorithmName.SHA256);
        var now = _time.GetUtcNow();
        using var cert = request.CreateSelfSigned(now.AddDays(-1), now.AddDays(days));
        var check = new PlatformCheck(() => cert, Path.GetTempPath(), new HealthOptions(), _time);
        var results = (await check.RunAsync(default)).ToDictionary(r => r.Monitor);
        Assert.Equal(expected, results["certificate"].Outcome);
        Assert.InRange(results["certificate"].Value!.Value, days - 1, days + 0.01);
        Assert.NotEqual(CheckOutcome.Unknown, results["disk"].Outcome);
        Assert.True(results["memory"].Value > 0);
    }

    [Fact]
    public async Task Platform_check_without_a_certificate_is_unknown()
    {
        var check = new PlatformCheck(() => null, Path.GetTempPath(), new HealthOptions(), _time);
        Assert.Equal(CheckOutcome.Unknown, (await check.RunAsync(default)).Single(r => r.Monitor == "certificate").Outcome);
    }

    [Fact]
    public async Task Replication_is_always_unknown()
    {
        var r = Assert.Single(await new ReplicationCheck(TimeSpan.FromMinutes(1)).RunAsync(default));
        Assert.Equal(("standby", CheckOutcome.Unknown, "no standby configured"), (r.Monitor, r.Outcome, r.Detail));
    }

    [Fact]
    public void Service_targets_cover_every_enabled_listener_and_send_credentials_only_over_tls()
    {
        var options = new RempartOptions();
        options.Listeners.Pop3s.Enabled = false;
        options.Listeners.Imap.Addresses = ["0.0.0.0"];
        var targets = new ServiceCheck(options, new ProbeCredentials("health-probe@localhost", "secret")).Targets().ToDictionary(t => t.Listener, t => t.Target);
        Assert.DoesNotContain("pop3s", targets.Keys);
        Assert.Equal("127.0.0.1", targets["imap"].Host);
        Assert.Equal("/livez", targets["http"].Path);
        foreach (var t in targets.Values.Where(t => t.Password is not null))
        {
            Assert.NotEqual(ProbeTls.None, t.Tls);
        }

        Assert.Null(targets["smtp"].Password);
        Assert.Equal("health-probe@localhost", targets["imap"].User);
    }

    [Fact]
    public void Probe_account_address_defaults_to_health_probe_at_the_host_name()
    {
        var options = new RempartOptions { HostName = "Mail.Example.Test" };
        Assert.Equal("health-probe@mail.example.test", ProbeAccount.AddressFor(options));
        options.Monitoring.Health.Service.ProbeUser = "Watch@Example.Test";
        Assert.Equal("watch@example.test", ProbeAccount.AddressFor(options));
    }
}
