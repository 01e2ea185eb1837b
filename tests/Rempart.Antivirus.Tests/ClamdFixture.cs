using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Rempart.Antivirus.Tests;

/// <summary>
/// A real clamd (Debian package clamav-daemon) started for the tests with a configuration and a signature database
/// of our own in a temp folder: no freshclam, no download, the packaged service untouched. It listens on a unix
/// socket and on a free loopback TCP port, with StreamMaxLength 1 MiB so the size limit can be tested.
/// </summary>
public sealed class ClamdFixture : IDisposable
{
    public const string ClamdPath = "/usr/sbin/clamd";

    /// <summary>Our own test signature: any stream containing this marker is "infected".</summary>
    public const string Marker = "REMPART-AV-TEST-SIGNATURE-7f3a9c";

    public const string MarkerSignature = "Rempart.Test.Marker";

    public const string EicarSignature = "Rempart.Test.Eicar";

    public const int StreamMaxLength = 1024 * 1024;

    private readonly Process _process;
    private readonly StringBuilder _output = new();

    public ClamdFixture()
    {
        Directory = Path.Combine(Path.GetTempPath(), "rempart-clamd-" + Guid.NewGuid().ToString("N")[..12]);
        System.IO.Directory.CreateDirectory(Directory);
        if (!File.Exists(ClamdPath))
        {
            throw new InvalidOperationException($"{ClamdPath} is missing: install the Debian package clamav-daemon (test.sh does).");
        }

        // .hdb: MD5:size:name of the whole EICAR file; .ndb: name:target(0 = any):offset(* = anywhere):hex body.
#pragma warning disable CA5351 // clamd's .hdb format is MD5 by definition; this is a test signature, not security.
        var eicarMd5 = Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(TestData.Eicar));
#pragma warning restore CA5351
        File.WriteAllText(Path.Combine(Directory, "rempart.hdb"), $"{eicarMd5}:{TestData.Eicar.Length}:{EicarSignature}\n");
        File.WriteAllText(Path.Combine(Directory, "rempart.ndb"), $"{MarkerSignature}:0:*:{Convert.ToHexStringLower(Encoding.ASCII.GetBytes(Marker))}\n");

        SocketPath = Path.Combine(Directory, "clamd.sock");
        TcpPort = FreePort();
        var config = Path.Combine(Directory, "clamd.conf");
        File.WriteAllText(config, string.Join('\n',
            "Foreground yes",
            $"LocalSocket {SocketPath}",
            "TCPAddr 127.0.0.1",
            $"TCPSocket {TcpPort.ToString(CultureInfo.InvariantCulture)}",
            $"DatabaseDirectory {Directory}",
            $"TemporaryDirectory {Directory}",
            $"StreamMaxLength {StreamMaxLength.ToString(CultureInfo.InvariantCulture)}",
            "LogTime yes",
            "SelfCheck 3600",
            "") + "\n");

        var start = new ProcessStartInfo(ClamdPath) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("--config-file=" + config);
        _process = Process.Start(start) ?? throw new InvalidOperationException("clamd did not start");
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        // Loading two signatures takes well under a second; allow a slow machine one minute, polling every 200 ms.
        var client = new ClamdClient(UnixEndpoint, TimeSpan.FromSeconds(2));
        for (var i = 0; i < 300; i++)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"clamd exited with {_process.ExitCode}:\n{Output}");
            }

            if (File.Exists(SocketPath) && client.PingAsync(CancellationToken.None).GetAwaiter().GetResult())
            {
                return;
            }

            Thread.Sleep(200);
        }

        Dispose();
        throw new InvalidOperationException("clamd did not answer PING within 60 s:\n" + Output);
    }

    public string Directory { get; }

    public string SocketPath { get; }

    public int TcpPort { get; }

    public string UnixEndpoint => "unix:" + SocketPath;

    public string TcpEndpoint => "tcp:127.0.0.1:" + TcpPort.ToString(CultureInfo.InvariantCulture);

    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp folder is harmless.
        }
    }

    internal static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }
}

[CollectionDefinition("clamd")]
public sealed class ClamdCollection : ICollectionFixture<ClamdFixture>
{
}
