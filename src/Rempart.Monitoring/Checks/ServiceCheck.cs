using Rempart.Common.Configuration;
using Rempart.Monitoring.Health;
using Rempart.Monitoring.Probes;

namespace Rempart.Monitoring.Checks;

/// <summary>
/// Service state: every enabled listener accepts a connection and answers its greeting and a real command within
/// the probe deadline. smtp: EHLO; submission(s): EHLO + AUTH as the probe account; imap(s): LOGIN + SELECT INBOX;
/// pop3(s): USER/PASS + STAT; http(s): GET /livez. Credentials go only over TLS: STARTTLS on the plain ports, with the
/// certificate not verified (the server's own, often self-signed; the platform set watches its expiry).
/// </summary>
public sealed class ServiceCheck(RempartOptions options, ProbeCredentials? credentials) : IHealthCheck
{
    public string HealthSet => "service";

    public TimeSpan Interval => options.Monitoring.Health.Service.Interval ?? options.Monitoring.Health.Interval;

    /// <summary>The probe targets for the enabled listeners, by listener name.</summary>
    public IReadOnlyList<(string Listener, ProbeTarget Target)> Targets() =>
        [.. options.Listeners.All().Where(l => l.Options.Enabled && l.Options.Addresses.Count > 0).Select(l => (l.Name, TargetFor(l.Name, l.Options, credentials)))];

    public async Task<IReadOnlyList<CheckResult>> RunAsync(CancellationToken ct)
    {
        var deadline = options.Monitoring.Health.ProbeDeadline;
        var runs = Targets().Select(async t =>
        {
            var outcome = await ProtocolProbe.RunAsync(t.Target, deadline, ct);
            return outcome.Success
                ? new CheckResult(t.Listener, CheckOutcome.Pass, outcome.Detail, outcome.Latency.TotalSeconds)
                : new CheckResult(t.Listener, CheckOutcome.Fail, outcome.Detail, outcome.Latency.TotalSeconds);
        });
        return await Task.WhenAll(runs);
    }

    /// <summary>A wildcard bind address is probed on loopback of the same family.</summary>
    public static string ConnectHost(string address) => address switch
    {
        "0.0.0.0" => "127.0.0.1",
        "::" or "[::]" => "::1",
        _ => address,
    };

    public static ProbeTarget TargetFor(string listener, ListenerOptions l, ProbeCredentials? credentials)
    {
        ArgumentNullException.ThrowIfNull(l);
        var host = ConnectHost(l.Addresses[0]);
        var user = credentials?.Address;
        var password = credentials?.Password;
        return listener switch
        {
            "smtp" => new ProbeTarget("smtp", host, l.Port, ProbeTls.None),
            "submission" => new ProbeTarget("smtp", host, l.Port, ProbeTls.StartTls, user, password),
            "submissions" => new ProbeTarget("smtp", host, l.Port, ProbeTls.Implicit, user, password),
            "imap" => new ProbeTarget("imap", host, l.Port, ProbeTls.StartTls, user, password),
            "imaps" => new ProbeTarget("imap", host, l.Port, ProbeTls.Implicit, user, password),
            "pop3" => new ProbeTarget("pop3", host, l.Port, ProbeTls.StartTls, user, password),
            "pop3s" => new ProbeTarget("pop3", host, l.Port, ProbeTls.Implicit, user, password),
            "https" => new ProbeTarget("http", host, l.Port, ProbeTls.Implicit, Path: "/livez"),
            _ => new ProbeTarget("http", host, l.Port, ProbeTls.None, Path: "/livez"),
        };
    }
}
