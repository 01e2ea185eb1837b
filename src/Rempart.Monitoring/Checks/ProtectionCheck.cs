using System.Globalization;
using DnsClient;
using Rempart.Antispam;
using Rempart.Antivirus;
using Rempart.Common.Configuration;
using Rempart.Monitoring.Health;

namespace Rempart.Monitoring.Checks;

/// <summary>
/// Protection: clamd reachable and its signatures' age ("antivirus"; Unknown when no scanner is configured),
/// the spam classifier loaded ("classifier"; Unknown when anti-spam is off) and the DNS resolver answering ("dns":
/// any answer, NXDOMAIN included, is an answer; a timeout or SERVFAIL is not).
/// </summary>
public sealed class ProtectionCheck(MalwareScanner? scanner, SpamEngine? spam, ILookupClient dns, HealthOptions options, TimeProvider time) : IHealthCheck
{
    public string HealthSet => "protection";

    public TimeSpan Interval => options.Protection.Interval ?? options.Interval;

    public async Task<IReadOnlyList<CheckResult>> RunAsync(CancellationToken ct)
    {
        var antivirus = AntivirusAsync(ct);
        var resolver = DnsAsync(ct);
        return [await antivirus, Classifier(), await resolver];
    }

    private async Task<CheckResult> AntivirusAsync(CancellationToken ct)
    {
        if (scanner is null)
        {
            return new CheckResult("antivirus", CheckOutcome.Unknown, "off: no scanner configured");
        }

        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(options.ProbeDeadline);
        AntivirusHealth health;
        try
        {
            health = await scanner.CheckHealthAsync(deadline.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new CheckResult("antivirus", CheckOutcome.Fail, $"clamd did not answer within {options.ProbeDeadline.TotalSeconds:0} s");
        }

        switch (health.State)
        {
            case AntivirusState.Off:
                return new CheckResult("antivirus", CheckOutcome.Unknown, "off: no scanner configured");
            case AntivirusState.Down:
                return new CheckResult("antivirus", CheckOutcome.Fail, "clamd unreachable: " + health.Error);
        }

        if (health.SignatureDate is not { } date)
        {
            return new CheckResult("antivirus", CheckOutcome.Pass, "clamd answers: " + health.Version + " (signature date unknown)");
        }

        var age = time.GetUtcNow() - date;
        var p = options.Protection;
        var outcome = age >= p.SignatureAgeFail ? CheckOutcome.Fail : age >= p.SignatureAgeWarn ? CheckOutcome.Warn : CheckOutcome.Pass;
        return new CheckResult("antivirus", outcome,
            string.Create(CultureInfo.InvariantCulture, $"clamd answers: {health.Version}; signatures {age.TotalDays:0.#} days old (warn {p.SignatureAgeWarn.TotalDays:0}, fail {p.SignatureAgeFail.TotalDays:0})"),
            age.TotalDays);
    }

    private CheckResult Classifier()
    {
        if (spam is null)
        {
            return new CheckResult("classifier", CheckOutcome.Unknown, "off: anti-spam disabled");
        }

        var s = spam.GetStatus();
        var detail = string.Create(CultureInfo.InvariantCulture,
            $"{(spam.ModelLoaded ? "saved model loaded" : "no saved model (first run)")}; {s.GlobalSpam} spam / {s.GlobalHam} ham learned, {s.GlobalTokens} tokens, Bayes {(s.BayesActive ? "active" : "learning")}");
        return new CheckResult("classifier", CheckOutcome.Pass, detail, s.GlobalTokens);
    }

    private async Task<CheckResult> DnsAsync(CancellationToken ct)
    {
        var name = options.Protection.DnsProbeName;
        var started = time.GetTimestamp();
        try
        {
            using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
            deadline.CancelAfter(options.ProbeDeadline);
            var response = await dns.QueryAsync(name, QueryType.A, QueryClass.IN, deadline.Token);
            var seconds = time.GetElapsedTime(started).TotalSeconds;
            return response.Header.ResponseCode is DnsHeaderResponseCode.NoError or DnsHeaderResponseCode.NotExistentDomain
                ? new CheckResult("dns", CheckOutcome.Pass, string.Create(CultureInfo.InvariantCulture, $"{response.NameServer} answered {response.Header.ResponseCode} for {name} in {seconds * 1000:0} ms"), seconds)
                : new CheckResult("dns", CheckOutcome.Fail, $"{response.NameServer} answered {response.Header.ResponseCode} for {name}", seconds);
        }
        catch (DnsResponseException ex)
        {
            if (ex.Code == DnsResponseCode.NotExistentDomain)
            {
                return new CheckResult("dns", CheckOutcome.Pass, "resolver answered NXDOMAIN for " + name, time.GetElapsedTime(started).TotalSeconds);
            }

            return new CheckResult("dns", CheckOutcome.Fail, "resolver did not answer: " + ex.Message, time.GetElapsedTime(started).TotalSeconds);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return new CheckResult("dns", CheckOutcome.Fail, $"resolver did not answer within {options.ProbeDeadline.TotalSeconds:0} s");
        }
    }
}
