using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Rempart.Monitoring.Tests.Alerting;

/// <summary>
/// A real HTTP receiver on loopback that records every request; it can be told to fail the next N requests. Also
/// compiled into the integration tests (webhook, SMS gateway and Alertmanager receivers of the monitoring tests).
/// </summary>
internal sealed class AlertingReceiver : IDisposable
{
    private readonly HttpListener _listener = new();
    private readonly Task _loop;
    private int _failNext;

    public AlertingReceiver()
    {
        for (var attempt = 0; ; attempt++)
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            Port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
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

    public ConcurrentQueue<Received> Requests { get; } = new();

    /// <summary>The next <paramref name="count"/> requests get 503.</summary>
    public void FailNext(int count) => Volatile.Write(ref _failNext, count);

    public IReadOnlyList<Received> At(string path) => [.. Requests.Where(r => r.Path == path)];

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
            var body = await reader.ReadToEndAsync();
            var fail = Interlocked.Decrement(ref _failNext) >= 0;
            Requests.Enqueue(new Received(ctx.Request.HttpMethod, ctx.Request.Url!.AbsolutePath, ctx.Request.Url.Query,
                ctx.Request.ContentType ?? "", ctx.Request.Headers["Authorization"] ?? "", body, fail));
            ctx.Response.StatusCode = fail ? 503 : 200;
            ctx.Response.Close();
        }
    }

    public void Dispose()
    {
        _listener.Stop();
        _listener.Close();
        _loop.Wait(TimeSpan.FromSeconds(5));
    }

    internal sealed record Received(string Method, string Path, string Query, string ContentType, string Authorization, string Body, bool Failed);
}
