using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Rempart.Integration.Tests;

/// <summary>
/// A real <c>rempart serve</c> process on free loopback ports with its own data folder, started the way an
/// administrator starts it. Tests talk to it only over sockets and the CLI.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly StringBuilder _output = new();
    private Process? _process;

    private ServerProcess(string dataDir, JsonObject config)
    {
        DataDir = dataDir;
        Config = config;
    }

    public string DataDir { get; }

    public string ConfigPath => Path.Combine(DataDir, "rempart.json");

    public JsonObject Config { get; }

    /// <summary>The administrator password printed on first run.</summary>
    public string? AdminPassword { get; private set; }

    public int Port(string listener) => (int)Config["listeners"]![listener]!["port"]!;

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

    /// <summary>Makes a data folder and configuration with free ports; <paramref name="configure"/> may change it.</summary>
    public static ServerProcess Create(Action<JsonObject>? configure = null)
    {
        var dir = Path.Combine(Path.GetTempPath(), "rempart-it-" + Guid.NewGuid().ToString("n")[..10]);
        Directory.CreateDirectory(dir);
        var listeners = new JsonObject();
        var ports = FreePorts(9);
        var i = 0;
        foreach (var name in new[] { "smtp", "submission", "submissions", "imap", "imaps", "pop3", "pop3s", "http", "https" })
        {
            listeners[name] = new JsonObject { ["port"] = ports[i++] };
        }

        var config = new JsonObject
        {
            ["hostName"] = "localhost",
            ["listeners"] = listeners,
            // Cheaper Argon2id keeps many test logins fast; production defaults are tested in unit tests.
            ["auth"] = new JsonObject { ["argon2MemoryKib"] = 8192, ["argon2Iterations"] = 1 },
        };
        configure?.Invoke(config);
        var server = new ServerProcess(dir, config);
        server.WriteConfig();
        return server;
    }

    /// <summary>A new process over the same data folder and configuration (restart after stop or kill).</summary>
    public static ServerProcess Reuse(ServerProcess previous) => new(previous.DataDir, previous.Config) { _keepData = true };

    private bool _keepData;

    public void WriteConfig() => File.WriteAllText(ConfigPath, Config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));

    public static string CliDll
    {
        get
        {
            // An explicit path wins: builds with --artifacts-path put the CLI outside src/Rempart.Cli/bin.
            if (Environment.GetEnvironmentVariable("REMPART_CLI_DLL") is { Length: > 0 } overridden)
            {
                return File.Exists(overridden) ? overridden : throw new FileNotFoundException("REMPART_CLI_DLL names a missing file", overridden);
            }

            var here = AppContext.BaseDirectory;
            var config = here.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
            var dir = new DirectoryInfo(here);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Rempart.slnx")))
            {
                dir = dir.Parent;
            }

            if (dir is null)
            {
                throw new InvalidOperationException("Repository root (Rempart.slnx) not found above " + here);
            }

            var dll = Path.Combine(dir.FullName, "src", "Rempart.Cli", "bin", config, "net10.0", "rempart.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException("Build the CLI first (dotnet build Rempart.slnx -c " + config + ")", dll);
        }
    }

    /// <summary>Starts the server and waits until /readyz answers 200 (at most 60 s).</summary>
    public async Task StartAsync()
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { CliDll, "serve", "--data", DataDir, "--config", ConfigPath })
        {
            psi.ArgumentList.Add(a);
        }

        _process = Process.Start(psi) ?? throw new InvalidOperationException("could not start rempart");
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"rempart exited with {_process.ExitCode}:\n{Output}");
            }

            try
            {
                var r = await http.GetAsync(new Uri($"http://127.0.0.1:{Port("http")}/readyz"));
                if (r.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("rempart did not become ready in 60 s:\n" + Output);
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

        const string marker = "Password (shown once): ";
        var i = line.IndexOf(marker, StringComparison.Ordinal);
        if (i >= 0)
        {
            AdminPassword = line[(i + marker.Length)..].Trim();
        }
    }

    /// <summary>SIGKILL: no chance to flush or clean up.</summary>
    public async Task KillAsync()
    {
        if (_process is { HasExited: false })
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
    }

    /// <summary>SIGTERM and wait (graceful shutdown); returns the exit code.</summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        if (_process is null || _process.HasExited)
        {
            return _process?.ExitCode ?? 0;
        }

        using (var kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
        {
            await kill!.WaitForExitAsync();
        }

        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(30));
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    /// <summary>Runs a CLI command against this server's data folder (a separate process, as an admin would).</summary>
    public Task<CliResult> CliAsync(string? stdin, params string[] args) => RunCliAsync(DataDir, ConfigPath, stdin, args);

    public static async Task<CliResult> RunCliAsync(string dataDir, string? configPath, string? stdin, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(CliDll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        psi.ArgumentList.Add("--data");
        psi.ArgumentList.Add(dataDir);
        if (configPath is not null)
        {
            psi.ArgumentList.Add("--config");
            psi.ArgumentList.Add(configPath);
        }

        using var p = Process.Start(psi)!;
        if (stdin is not null)
        {
            await p.StandardInput.WriteAsync(stdin);
        }

        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync(cts.Token);
        return new CliResult(p.ExitCode, await stdout, await stderr);
    }

    /// <summary>Adds a domain and a user (password via stdin, as documented).</summary>
    public async Task AddUserAsync(string address, string password)
    {
        var domain = address[(address.IndexOf('@', StringComparison.Ordinal) + 1)..];
        var d = await CliAsync(null, "domain", "list");
        // Whole names only: "b.test" is not served just because "mx.b.test" is.
        var served = d.Stdout.Split([' ', '\t', '\n', '\r', '|', '│'], StringSplitOptions.RemoveEmptyEntries);
        if (!served.Contains(domain, StringComparer.OrdinalIgnoreCase))
        {
            (await CliAsync(null, "domain", "add", domain)).EnsureSuccess();
        }

        (await CliAsync(password + "\n", "user", "add", address, "--password-stdin")).EnsureSuccess();
    }

    /// <summary>Ports handed out by this test process, never handed out twice.</summary>
    private static readonly HashSet<int> s_given = [];

    /// <summary>
    /// Distinct free ports for listeners, taken below the kernel's ephemeral range. A port the kernel picked for us
    /// (bind to port 0) is free only until someone else's outgoing connection takes it as its local port, which
    /// happened between picking and the server's bind ("Address already in use") while other tests were connecting.
    /// Ports below the ephemeral range are never given to outgoing connections.
    /// </summary>
    public static int[] FreePorts(int count)
    {
        var ports = new int[count];
        for (var i = 0; i < count; i++)
        {
            ports[i] = FreePort();
        }

        return ports;
    }

    public static int FreePort()
    {
        const int Lowest = 10_000;
        var ceiling = EphemeralLow();
        lock (s_given)
        {
            for (var attempt = 0; attempt < 2_000 && ceiling > Lowest; attempt++)
            {
                var port = Random.Shared.Next(Lowest, ceiling);
                if (!s_given.Contains(port) && CanBind(port))
                {
                    s_given.Add(port);
                    return port;
                }
            }

            // No free port below the range (or no range to read): let the kernel choose.
            using var l = new TcpListener(IPAddress.Loopback, 0);
            l.Start();
            var chosen = ((IPEndPoint)l.LocalEndpoint).Port;
            s_given.Add(chosen);
            return chosen;
        }
    }

    private static bool CanBind(int port)
    {
        try
        {
            using var l = new TcpListener(IPAddress.Loopback, port);
            l.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>First port of the kernel's ephemeral range (net.ipv4.ip_local_port_range), 32768 by default.</summary>
    private static int EphemeralLow()
    {
        try
        {
            var text = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            return int.Parse(text[0], System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return 32_768;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync();
        _process?.Dispose();
        if (_keepData)
        {
            return;
        }

        try
        {
            Directory.Delete(DataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

public sealed record CliResult(int ExitCode, string Stdout, string Stderr)
{
    public CliResult EnsureSuccess() => ExitCode == 0 ? this : throw new InvalidOperationException($"CLI exit {ExitCode}: {Stdout}\n{Stderr}");
}
