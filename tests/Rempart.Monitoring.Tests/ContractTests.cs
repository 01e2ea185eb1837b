using Rempart.Monitoring.Health;

namespace Rempart.Monitoring.Tests;

public sealed class ContractTests
{
    [Fact]
    public void Report_takes_the_worst_state_per_set_and_overall()
    {
        var now = DateTimeOffset.UnixEpoch;
        var report = new HealthReport("mx1", now,
        [
            new("service", "smtp", HealthState.Healthy, "ok", now, now),
            new("service", "imap", HealthState.Degraded, "slow", now, now),
            new("platform", "disk", HealthState.Unhealthy, "full", now, now),
        ]);

        Assert.Equal(HealthState.Unhealthy, report.Overall);
        Assert.Equal([("service", HealthState.Degraded), ("platform", HealthState.Unhealthy)], report.Sets.ToArray());
        Assert.Equal("mx1/service/imap", new HealthTransition("mx1", "service", "imap", HealthState.Healthy, HealthState.Degraded, "slow", now).Key);
    }
}
