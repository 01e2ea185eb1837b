using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography.X509Certificates;
using Rempart.Common.Configuration;
using Rempart.Monitoring.Health;

namespace Rempart.Monitoring.Checks;

/// <summary>
/// Platform: validity left on the server certificate ("certificate", days), free space on the file system of the
/// data folder, which holds the store, the blobs and the queue ("disk", percent free), and the process working set
/// ("memory", MiB).
/// </summary>
/// <param name="certificate">The certificate in use now (it can be reloaded), or null when TLS is not set up.</param>
public sealed class PlatformCheck(Func<X509Certificate2?> certificate, string dataFolder, HealthOptions options, TimeProvider time) : IHealthCheck
{
    public string HealthSet => "platform";

    public TimeSpan Interval => options.Platform.Interval ?? options.Interval;

    public Task<IReadOnlyList<CheckResult>> RunAsync(CancellationToken ct) =>
        Task.FromResult<IReadOnlyList<CheckResult>>([Certificate(), Disk(), Memory()]);

    private CheckResult Certificate()
    {
        var cert = certificate();
        if (cert is null)
        {
            return new CheckResult("certificate", CheckOutcome.Unknown, "no certificate");
        }

        var p = options.Platform;
        var left = new DateTimeOffset(cert.NotAfter.ToUniversalTime(), TimeSpan.Zero) - time.GetUtcNow();
        var outcome = left <= p.CertificateFail ? CheckOutcome.Fail : left <= p.CertificateWarn ? CheckOutcome.Warn : CheckOutcome.Pass;
        var state = left <= TimeSpan.Zero ? "expired" : string.Create(CultureInfo.InvariantCulture, $"expires in {left.TotalDays:0.#} days");
        return new CheckResult("certificate", outcome,
            string.Create(CultureInfo.InvariantCulture, $"{cert.Subject} {state} ({cert.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm}Z; warn under {p.CertificateWarn.TotalDays:0}, fail under {p.CertificateFail.TotalDays:0} days)"),
            left.TotalDays);
    }

    private CheckResult Disk()
    {
        var p = options.Platform;
        try
        {
            var drive = new DriveInfo(Path.GetFullPath(dataFolder));
            if (drive.TotalSize <= 0)
            {
                return new CheckResult("disk", CheckOutcome.Unknown, "file system size unknown for " + dataFolder);
            }

            var percent = 100.0 * drive.AvailableFreeSpace / drive.TotalSize;
            var outcome = percent <= p.DiskFreeFailPercent ? CheckOutcome.Fail : percent <= p.DiskFreeWarnPercent ? CheckOutcome.Warn : CheckOutcome.Pass;
            return new CheckResult("disk", outcome,
                string.Create(CultureInfo.InvariantCulture, $"{percent:0.#}% free ({drive.AvailableFreeSpace / (1024 * 1024)} MiB) for {dataFolder} (warn {p.DiskFreeWarnPercent}%, fail {p.DiskFreeFailPercent}%)"),
                percent);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            return new CheckResult("disk", CheckOutcome.Fail, "cannot read free space: " + ex.Message);
        }
    }

    private CheckResult Memory()
    {
        var p = options.Platform;
        using var self = Process.GetCurrentProcess();
        var mb = self.WorkingSet64 / (1024.0 * 1024.0);
        var outcome = p.MemoryFailMb > 0 && mb >= p.MemoryFailMb ? CheckOutcome.Fail
            : p.MemoryWarnMb > 0 && mb >= p.MemoryWarnMb ? CheckOutcome.Warn : CheckOutcome.Pass;
        return new CheckResult("memory", outcome,
            string.Create(CultureInfo.InvariantCulture, $"working set {mb:0} MiB (warn {p.MemoryWarnMb}, fail {p.MemoryFailMb} MiB)"), mb);
    }
}
