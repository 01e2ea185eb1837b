using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Rempart.Common.Configuration;
using Rempart.Store;
using Rempart.Store.Sqlite;

namespace Rempart.Server.Tests;

/// <summary>Result of one in-process run of the <c>rempart</c> command.</summary>
public sealed record CliResult(int Code, string Out, string Err)
{
    public string All => Out + Err;
}

/// <summary>A temporary data folder and a way to run <c>rempart --data DIR ...</c> against it in-process.</summary>
public sealed class CliHarness : IDisposable
{
    public CliHarness()
    {
        Root = Path.Combine(Path.GetTempPath(), "rempart-cli-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        DataDir = Path.Combine(Root, "data");
    }

    public string Root { get; }

    public string DataDir { get; }

    /// <summary>Runs with --data pointing at the temp folder; <paramref name="stdin"/> feeds --password-stdin.</summary>
    public async Task<CliResult> RunWithStdinAsync(string stdin, params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        using var input = new StringReader(stdin);
        var code = await Rempart.Cli.Program.RunAsync(["--data", DataDir, .. args], input, output, error);
        return new CliResult(code, output.ToString(), error.ToString());
    }

    public Task<CliResult> RunAsync(params string[] args) => RunWithStdinAsync("", args);

    /// <summary>Opens the store the CLI wrote to, to check what it did (the CLI must have closed it).</summary>
    public async Task<IMailStore> OpenStoreAsync()
    {
        var data = DataFolder.Open(DataDir);
        return await SqliteMailStore.OpenAsync(data.DatabasePath, data.BlobsPath, new StoreOptions(), NullLogger.Instance);
    }

    /// <summary>Writes rempart.json into the data folder (picked up without --config).</summary>
    public void WriteConfig(string json)
    {
        Directory.CreateDirectory(DataDir);
        File.WriteAllText(Path.Combine(DataDir, "rempart.json"), json);
    }

    /// <summary>A loopback port nothing listens on (bound and released).</summary>
    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        var port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    /// <summary>Answers exactly one HTTP request with 200 "ok" on a loopback port; stops after 10 s at most.</summary>
    public static (int Port, Task Served) ServeOneHealthz()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var served = Task.Run(async () =>
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            try
            {
                using var client = await listener.AcceptTcpClientAsync(cts.Token);
                var stream = client.GetStream();
                var buffer = new byte[8192];
                var total = 0;
                while (total < buffer.Length)
                {
                    var n = await stream.ReadAsync(buffer.AsMemory(total), cts.Token);
                    if (n == 0)
                    {
                        break;
                    }

                    total += n;
                    if (Encoding.ASCII.GetString(buffer, 0, total).Contains("\r\n\r\n", StringComparison.Ordinal))
                    {
                        break;
                    }
                }

                var response = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n"u8.ToArray();
                await stream.WriteAsync(response, cts.Token);
            }
            finally
            {
                listener.Stop();
            }
        });
        return (port, served);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
