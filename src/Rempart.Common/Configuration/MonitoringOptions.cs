namespace Rempart.Common.Configuration;

/// <summary>
/// Monitoring: the health model (probes and monitors), alerting and the report page. docs/monitoring.md documents
/// every key.
/// </summary>
public sealed class MonitoringOptions
{
    /// <summary>Name of this server in alerts' deduplication keys; defaults to the host name.</summary>
    public string? ServerName { get; set; }

    public HealthOptions Health { get; set; } = new();

    public AlertingOptions Alerting { get; set; } = new();

    public ReportOptions Report { get; set; } = new();

    public IEnumerable<string> Validate(string prefix) =>
        Health.Validate(prefix + ".health")
            .Concat(Alerting.Validate(prefix + ".alerting"))
            .Concat(Report.Validate(prefix + ".report"));
}
