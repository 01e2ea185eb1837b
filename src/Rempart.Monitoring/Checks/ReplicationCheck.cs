using Rempart.Monitoring.Health;

namespace Rempart.Monitoring.Checks;

/// <summary>Replication: the standby's lag once replication exists; until then one monitor, always Unknown.</summary>
public sealed class ReplicationCheck(TimeSpan interval) : IHealthCheck
{
    public string HealthSet => "replication";

    public TimeSpan Interval => interval;

    public Task<IReadOnlyList<CheckResult>> RunAsync(CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<CheckResult>>([new CheckResult("standby", CheckOutcome.Unknown, "no standby configured")]);
}
