using System.Globalization;
using Rempart.Common.Configuration;
using Rempart.Monitoring.Health;
using Rempart.Monitoring.Probes;

namespace Rempart.Monitoring.Checks;

/// <summary>
/// The end-to-end mail-flow probe: the probe account sends itself a tagged message through submission (STARTTLS +
/// AUTH) and waits for it in its INBOX over IMAP (STARTTLS); the latency is the monitor's value. Unknown when
/// submission or IMAP (with or without implicit TLS) is not enabled.
/// </summary>
public sealed class MailFlowProbeCheck(RempartOptions options, ProbeCredentials credentials) : IHealthCheck
{
    public string HealthSet => "mailflow";

    public TimeSpan Interval => options.Monitoring.Health.MailFlow.ProbeInterval ?? options.Monitoring.Health.Interval;

    public async Task<IReadOnlyList<CheckResult>> RunAsync(CancellationToken ct)
    {
        var l = options.Listeners;
        var submission = Pick(("submission", l.Submission), ("submissions", l.Submissions));
        var imap = Pick(("imap", l.Imap), ("imaps", l.Imaps));
        if (submission is null || imap is null)
        {
            return [new CheckResult("end-to-end", CheckOutcome.Unknown, "needs an enabled submission and IMAP listener")];
        }

        var o = options.Monitoring.Health.MailFlow;
        var target = new MailFlowTarget(
            ServiceCheck.TargetFor(submission.Value.Name, submission.Value.Options, credentials),
            ServiceCheck.TargetFor(imap.Value.Name, imap.Value.Options, credentials),
            credentials.Address,
            credentials.Address);
        var outcome = await MailFlowProbe.RunAsync(target, o.ProbeDeadline, ct);
        var seconds = outcome.Latency.TotalSeconds;
        if (!outcome.Success)
        {
            return [new CheckResult("end-to-end", CheckOutcome.Fail, outcome.Detail, seconds)];
        }

        var slow = outcome.Latency > o.ProbeLatencyWarn;
        return [new CheckResult("end-to-end", slow ? CheckOutcome.Warn : CheckOutcome.Pass,
            string.Create(CultureInfo.InvariantCulture, $"delivered in {seconds:0.###} s{(slow ? $" (warn above {o.ProbeLatencyWarn.TotalSeconds:0} s)" : "")}"), seconds)];
    }

    private static (string Name, ListenerOptions Options)? Pick(params (string Name, ListenerOptions Options)[] candidates)
    {
        foreach (var c in candidates)
        {
            if (c.Options.Enabled && c.Options.Addresses.Count > 0)
            {
                return c;
            }
        }

        return null;
    }
}
