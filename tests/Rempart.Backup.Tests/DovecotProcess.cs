using System.Diagnostics;
using System.Globalization;

namespace Rempart.Backup.Tests;

/// <summary>
/// Starting and stopping a private Dovecot's processes; shared by the backup tests' DovecotServer and the probe
/// tests' ProbeDovecot (linked into the integration tests).
/// </summary>
internal static class DovecotProcess
{
    /// <summary>Runs a short command to its end (bounded to 10 s); a non-zero exit throws.</summary>
    public static void Run(string file, params string[] args)
    {
        // No redirected pipes: dovecot's daemon child would hold them open and a read to the end would never end.
        using var p = Process.Start(new ProcessStartInfo(file, args) { UseShellExecute = false })!;
        if (!p.WaitForExit(10_000))
        {
            throw new TimeoutException($"{file} did not exit in 10 s");
        }

        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} failed with exit code {p.ExitCode}");
        }
    }

    /// <summary>Stops the master whose pid is in <paramref name="pidFile"/> and waits (10 s at most) for it to exit.</summary>
    public static async Task StopAsync(string pidFile)
    {
        if (!File.Exists(pidFile))
        {
            return;
        }

        var pid = int.Parse((await File.ReadAllTextAsync(pidFile)).Trim(), CultureInfo.InvariantCulture);
        try
        {
            using var master = Process.GetProcessById(pid);
            Run("kill", pid.ToString(CultureInfo.InvariantCulture));
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await master.WaitForExitAsync(cts.Token);
        }
        catch (ArgumentException)
        {
            // Already gone.
        }
    }
}
