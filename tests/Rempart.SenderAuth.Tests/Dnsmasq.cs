using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Rempart.SenderAuth.Tests;

/// <summary>A real DNS server (dnsmasq) on 127.0.0.1 answering for *.test; killed on dispose.</summary>
public sealed class Dnsmasq : IDisposable
{
    private static readonly string[] SbinFolders = ["/usr/sbin", "/sbin", "/usr/local/sbin"];
    private readonly Process process;
    private readonly StringBuilder output = new();

    private Dnsmasq(Process process, int port)
    {
        this.process = process;
        Port = port;
    }

    public int Port { get; }

    public string Endpoint => "127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>Starts dnsmasq with the given options (--txt-record=..., --host-record=..., --mx-host=...).</summary>
    public static async Task<Dnsmasq> StartAsync(IEnumerable<string> records)
    {
        var exe = Find("dnsmasq") ?? throw new InvalidOperationException("'dnsmasq' is not installed: the Debian package 'dnsmasq-base' provides it (./test.sh installs it).");
        var port = FreeUdpAndTcpPort();
        var psi = new ProcessStartInfo(exe) { UseShellExecute = false, RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in new[]
        {
            "--keep-in-foreground", "--conf-file=/dev/null", "--no-resolv", "--no-hosts", "--listen-address=127.0.0.1",
            "--bind-interfaces", "--port=" + port.ToString(CultureInfo.InvariantCulture), "--user=root", "--pid-file=",

            // Every name under .test that is not configured is NXDOMAIN (a "void" lookup), never forwarded.
            "--local=/test/", "--local=/in-addr.arpa/", "--local=/ip6.arpa/",
        })
        {
            psi.ArgumentList.Add(a);
        }

        foreach (var r in records)
        {
            psi.ArgumentList.Add(r);
        }

        var server = new Dnsmasq(Process.Start(psi) ?? throw new InvalidOperationException("dnsmasq did not start"), port);
        server.process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        server.process.OutputDataReceived += (_, e) => server.Append(e.Data);
        server.process.BeginErrorReadLine();
        server.process.BeginOutputReadLine();
        try
        {
            await server.WaitReadyAsync();
        }
        catch
        {
            server.Dispose();
            throw;
        }

        return server;
    }

    /// <summary>
    /// A TXT option; values over 255 octets are split into several character-strings (RFC 1035 3.3.14). On the command
    /// line dnsmasq takes commas as string separators and quotes literally, so values must not contain commas.
    /// </summary>
    public static string Txt(string name, string value)
    {
        if (value.Contains(',', StringComparison.Ordinal))
        {
            throw new ArgumentException("dnsmasq --txt-record values cannot contain commas", nameof(value));
        }

        return "--txt-record=" + name + "," + string.Join(',', value.Chunk(255).Select(c => new string(c)));
    }

    public static string Host(string name, params string[] addresses) => "--host-record=" + name + "," + string.Join(',', addresses);

    public static string Mx(string domain, string host, int preference) =>
        "--mx-host=" + domain + "," + host + "," + preference.ToString(CultureInfo.InvariantCulture);

    public static string Ptr(IPAddress address, string name) => "--ptr-record=" + address.GetArpaName() + "," + name;

    public void Dispose()
    {
        try
        {
            if (!process.HasExited)
            {
                process.Kill();
                process.WaitForExit(5000);
            }
        }
        catch (InvalidOperationException)
        {
        }

        process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }
    }

    private async Task WaitReadyAsync()
    {
        // A query for "ready.test" A; any answer (NXDOMAIN included) means the server is up. 50 tries of 200 ms at most.
        byte[] query = [0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 5, (byte)'r', (byte)'e', (byte)'a', (byte)'d', (byte)'y', 4, (byte)'t', (byte)'e', (byte)'s', (byte)'t', 0, 0, 1, 0, 1];
        using var udp = new UdpClient();
        for (var i = 0; i < 50; i++)
        {
            if (process.HasExited)
            {
                break;
            }

            await udp.SendAsync(query, "127.0.0.1", Port);
            using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
            try
            {
                var r = await udp.ReceiveAsync(cts.Token);
                if (r.Buffer.Length > 12)
                {
                    return;
                }
            }
            catch (OperationCanceledException)
            {
            }
            catch (SocketException)
            {
                await Task.Delay(100);
            }
        }

        string log;
        lock (output)
        {
            log = output.ToString();
        }

        throw new TimeoutException($"dnsmasq did not answer on port {Port}: {log}");
    }

    private static int FreeUdpAndTcpPort()
    {
        for (var i = 0; i < 20; i++)
        {
            using var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            tcp.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            var port = ((IPEndPoint)tcp.LocalEndPoint!).Port;
            try
            {
                using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                udp.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException)
            {
            }
        }

        throw new InvalidOperationException("no free port for dnsmasq");
    }

    private static string? Find(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(SbinFolders)
            .Select(d => Path.Combine(d, name))
            .FirstOrDefault(File.Exists);
}
