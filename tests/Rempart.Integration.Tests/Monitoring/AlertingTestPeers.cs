using System.Diagnostics;
using Rempart.Antivirus;

namespace Rempart.Integration.Tests.Monitoring;

/// <summary>
/// A real clamd (Debian clamav-daemon) on a unix socket with one signature of our own, that can be killed and started
/// again on the same socket: the antivirus monitor's subject, broken for real.
/// </summary>
internal sealed class AlertingClamd : IDisposable
{
    private readonly string _config;
    private Process? _process;

    public AlertingClamd()
    {
        Directory = Path.Combine(Path.GetTempPath(), "rempart-alert-clamd-" + Guid.NewGuid().ToString("N")[..10]);
        System.IO.Directory.CreateDirectory(Directory);
        File.WriteAllText(Path.Combine(Directory, "rempart.ndb"), "Rempart.Test.Alerting:0:*:" + Convert.ToHexStringLower("REMPART-ALERTING-MARKER"u8) + "\n");
        SocketPath = Path.Combine(Directory, "clamd.sock");
        _config = Path.Combine(Directory, "clamd.conf");
        File.WriteAllText(_config, $"Foreground yes\nLocalSocket {SocketPath}\nDatabaseDirectory {Directory}\nTemporaryDirectory {Directory}\nSelfCheck 3600\n");
    }

    public string Directory { get; }

    public string SocketPath { get; }

    public async Task StartAsync()
    {
        var start = new ProcessStartInfo(Rempart.Antivirus.Tests.ClamdFixture.ClamdPath) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("--config-file=" + _config);
        _process = Process.Start(start) ?? throw new InvalidOperationException("clamd did not start");
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var client = new ClamdClient("unix:" + SocketPath, TimeSpan.FromSeconds(2));
        for (var i = 0; i < 300; i++)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"clamd exited with {_process.ExitCode}");
            }

            if (File.Exists(SocketPath) && await client.PingAsync(CancellationToken.None))
            {
                return;
            }

            await Task.Delay(200);
        }

        throw new InvalidOperationException("clamd did not answer PING within 60 s");
    }

    public void Kill()
    {
        if (_process is { HasExited: false } p)
        {
            p.Kill(entireProcessTree: true);
            p.WaitForExit(10_000);
        }

        _process?.Dispose();
        _process = null;
        File.Delete(SocketPath);
    }

    public void Dispose()
    {
        Kill();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
