using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Text;
using Rempart.Antivirus;

namespace Rempart.Integration.Tests.Monitoring;

/// <summary>A real HTTP receiver on loopback (webhook and SMS gateway) recording every request.</summary>
internal sealed class AlertingHttpReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;

    public AlertingHttpReceiver()
    {
        for (var attempt = 0; ; attempt++)
        {
            Port = ServerProcess.FreePort();
            try
            {
                _listener.Prefixes.Clear();
                _listener.Prefixes.Add($"http://127.0.0.1:{Port}/");
                _listener.Start();
                break;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
            }
        }

        _loop = Task.Run(LoopAsync);
    }

    public int Port { get; }

    public string Url => $"http://127.0.0.1:{Port}";

    public ConcurrentQueue<(string Path, string Body)> Requests { get; } = new();

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext ctx;
            try
            {
                ctx = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            using var reader = new StreamReader(ctx.Request.InputStream, Encoding.UTF8);
            Requests.Enqueue((ctx.Request.Url!.AbsolutePath, await reader.ReadToEndAsync()));
            ctx.Response.StatusCode = 200;
            ctx.Response.Close();
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }
}

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
