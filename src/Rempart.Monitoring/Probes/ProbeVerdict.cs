using System.Globalization;

namespace Rempart.Monitoring.Probes;

/// <summary>How a probe result reads to an operator.</summary>
public enum ProbeStatus
{
    Ok = 0,

    /// <summary>The probe passed but the certificate expires within <see cref="ProbeVerdict.WarnDays"/>.</summary>
    Warn = 1,

    /// <summary>The probe failed, or the certificate expires within <see cref="ProbeVerdict.ErrorDays"/> (or has expired).</summary>
    Fail = 2,
}

/// <summary>Turns a <see cref="ProbeOutcome"/> into OK / WARN / FAIL, adding the certificate expiry rule of issue 6.</summary>
public static class ProbeVerdict
{
    /// <summary>A certificate expiring within this many days is a warning.</summary>
    public const int WarnDays = 30;

    /// <summary>A certificate expiring within this many days (or expired) is an error.</summary>
    public const int ErrorDays = 7;

    public static (ProbeStatus Status, string Detail) Judge(ProbeOutcome outcome, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(outcome);
        if (!outcome.Success)
        {
            return (ProbeStatus.Fail, outcome.Detail);
        }

        if (outcome.Certificate is { } cert)
        {
            var left = cert.NotAfter - now;
            if (left <= TimeSpan.Zero)
            {
                return (ProbeStatus.Fail, outcome.Detail + "; certificate expired " + cert.NotAfter.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture));
            }

            if (left < TimeSpan.FromDays(ErrorDays))
            {
                return (ProbeStatus.Fail, outcome.Detail + "; " + ExpiresIn(cert, left));
            }

            if (left < TimeSpan.FromDays(WarnDays))
            {
                return (ProbeStatus.Warn, outcome.Detail + "; " + ExpiresIn(cert, left));
            }
        }

        return (ProbeStatus.Ok, outcome.Detail);
    }

    private static string ExpiresIn(CertificateInfo cert, TimeSpan left) => string.Create(CultureInfo.InvariantCulture,
        $"certificate expires in {left.TotalDays:0.#} days ({cert.NotAfter:yyyy-MM-dd})");
}
