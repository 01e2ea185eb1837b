using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Rempart.Common.Configuration;
using Rempart.Telemetry;

namespace Rempart.Net;

/// <summary>
/// Accepts TCP connections on every address of one listener, enforces the connection limits (total and per
/// remote address, banned addresses), optionally performs the implicit-TLS handshake, and runs the protocol's
/// <see cref="IConnectionHandler"/> for each connection. Stopping is graceful: no new connections, handlers see
/// the shutdown token, and connections still open after the deadline are closed.
/// </summary>
public sealed partial class TcpListenerService : IAsyncDisposable
{
    private readonly string _name;
    private readonly ListenerOptions _options;
    private readonly IConnectionHandler _handler;
    private readonly ITlsCertificateSource? _certificates;
    private readonly bool _implicitTls;
    private readonly Func<IPAddress, bool>? _isBanned;
    private readonly byte[]? _busyReply;
    private readonly ILogger _logger;
    private readonly List<Socket> _sockets = [];
    private readonly List<IPEndPoint> _endPoints = [];
    private readonly List<Task> _acceptLoops = [];
    private readonly ConcurrentDictionary<IPAddress, int> _perIp = new();
    private readonly ConcurrentDictionary<NetConnection, Task> _active = new();
    private readonly CancellationTokenSource _shutdown = new(); // never disposed: sessions may still observe it
    private int _total;
    private int _stopped;

    /// <param name="name">Listener name used in logs and metrics ("smtp", "imaps", ...).</param>
    /// <param name="busyReply">Line sent (in clear text only) to a connection refused by a limit, for example "421 4.7.0 Too many connections".</param>
    public TcpListenerService(string name, ListenerOptions options, IConnectionHandler handler, ITlsCertificateSource? certificates, bool implicitTls, Func<IPAddress, bool>? isBanned, string? busyReply, ILogger logger)
    {
        _name = name;
        _options = options;
        _handler = handler;
        _certificates = certificates;
        _implicitTls = implicitTls;
        _isBanned = isBanned;
        _busyReply = busyReply is null ? null : Encoding.ASCII.GetBytes(busyReply + "\r\n");
        _logger = logger;
        if (implicitTls && certificates is null)
        {
            throw new ArgumentException("An implicit-TLS listener needs a certificate source.", nameof(certificates));
        }
    }

    /// <summary>Where the listener is bound (the real port when 0 was configured).</summary>
    public IReadOnlyList<IPEndPoint> EndPoints => _endPoints;

    public int ActiveConnections => _active.Count;

    /// <summary>Binds every configured address and starts accepting.</summary>
    public void Start()
    {
        foreach (var address in _options.Addresses)
        {
            var ip = IPAddress.Parse(address);
            var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                if (ip.AddressFamily == AddressFamily.InterNetworkV6)
                {
                    socket.DualMode = false;
                }

                // SO_REUSEADDR only, so a restart can bind while old connections sit in TIME_WAIT. .NET's
                // ReuseAddress option also sets SO_REUSEPORT on Linux, which would let a second server bind the
                // same port and silently take half of the connections.
                if (OperatingSystem.IsLinux())
                {
                    socket.SetRawSocketOption(1 /* SOL_SOCKET */, 2 /* SO_REUSEADDR */, BitConverter.GetBytes(1));
                }
                socket.Bind(new IPEndPoint(ip, _options.Port));
                socket.Listen(512);
            }
            catch
            {
                socket.Dispose();
                throw;
            }

            _sockets.Add(socket);
            _endPoints.Add((IPEndPoint)socket.LocalEndPoint!);
            LogStarted(_logger, _name, (IPEndPoint)socket.LocalEndPoint!, _implicitTls ? "implicit TLS" : "plain/STARTTLS");
            _acceptLoops.Add(AcceptLoopAsync(socket));
        }
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_shutdown.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_shutdown.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException ex)
            {
                // Transient accept failures (EMFILE, ECONNABORTED): log, back off briefly, keep listening.
                LogConnectionError(_logger, _name, "accept", ex.Message);
                await Task.Delay(50);
                continue;
            }

            _ = RunConnectionAsync(client);
        }
    }

    private async Task RunConnectionAsync(Socket client)
    {
        var remote = (IPEndPoint)client.RemoteEndPoint!;
        var ip = remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address;
        string? refusal = null;
        if (Interlocked.Increment(ref _total) > _options.Limits.MaxConnections)
        {
            refusal = "limit";
        }

        var perIp = _perIp.AddOrUpdate(ip, 1, (_, n) => n + 1);
        if (refusal is null && perIp > _options.Limits.MaxConnectionsPerIp)
        {
            refusal = "per-ip-limit";
        }

        if (refusal is null && _isBanned?.Invoke(ip) == true)
        {
            refusal = "banned";
        }

        try
        {
            client.NoDelay = true;
            if (refusal is not null)
            {
                RempartMetrics.ConnectionsRejected.WithLabels(_name, refusal).Inc();
                LogRejected(_logger, _name, remote, refusal);
                if (_busyReply is not null && !_implicitTls)
                {
                    try
                    {
                        await client.SendAsync(_busyReply, SocketFlags.None).WaitAsync(TimeSpan.FromSeconds(2));
                    }
                    catch (Exception ex) when (ex is SocketException or TimeoutException)
                    {
                    }
                }

                return;
            }

            RempartMetrics.ConnectionsAccepted.WithLabels(_name).Inc();
            RempartMetrics.ConnectionsActive.WithLabels(_name).Inc();
            var connection = new NetConnection(new NetworkStream(client, ownsSocket: true), remote, client.LocalEndPoint, _certificates, _name);
            var run = ServeAsync(connection);
            _active[connection] = run;
            try
            {
                await run;
            }
            finally
            {
                _active.TryRemove(connection, out _);
                RempartMetrics.ConnectionsActive.WithLabels(_name).Dec();
            }
        }
        finally
        {
            Interlocked.Decrement(ref _total);
            if (_perIp.AddOrUpdate(ip, 0, (_, n) => n - 1) <= 0)
            {
                _perIp.TryRemove(new KeyValuePair<IPAddress, int>(ip, 0));
            }

            client.Dispose();
        }
    }

    private async Task ServeAsync(NetConnection connection)
    {
        await using (connection)
        {
            try
            {
                if (_implicitTls)
                {
                    await connection.UpgradeToTlsAsync(_options.Limits.HandshakeTimeout, _shutdown.Token);
                }

                await _handler.HandleAsync(connection, _shutdown.Token);
            }
            catch (OperationCanceledException)
            {
                // Shutdown or handshake timeout: the connection just closes.
            }
            catch (Exception ex) when (ex is IOException or SocketException or System.Security.Authentication.AuthenticationException or ObjectDisposedException)
            {
                LogConnectionError(_logger, _name, connection.RemoteEndPoint.ToString(), ex.Message);
            }
            catch (Exception ex)
            {
                // A handler bug must never take the server down; handlers own their message durability.
                LogHandlerFailed(_logger, ex, _name, connection.RemoteEndPoint);
            }
        }
    }

    /// <summary>Stops accepting, signals shutdown to every session and waits up to <paramref name="deadline"/> for them.</summary>
    public async Task StopAsync(TimeSpan deadline)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1)
        {
            return;
        }

        foreach (var s in _sockets)
        {
            s.Dispose();
        }

        await _shutdown.CancelAsync();
        await Task.WhenAll(_acceptLoops);
        var pending = _active.Values.ToArray();
        if (pending.Length > 0)
        {
            var all = Task.WhenAll(pending);
            if (await Task.WhenAny(all, Task.Delay(deadline)) != all)
            {
                LogDeadline(_logger, _name, _active.Count);
                foreach (var c in _active.Keys)
                {
                    await c.DisposeAsync();
                }
            }
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(TimeSpan.FromSeconds(1));

    [LoggerMessage(EventId = (int)EventIds.ListenerStarted, Level = LogLevel.Information, Message = "Listener {Name} on {EndPoint} ({Mode})")]
    private static partial void LogStarted(ILogger logger, string name, IPEndPoint endPoint, string mode);

    [LoggerMessage(EventId = (int)EventIds.ConnectionRejected, Level = LogLevel.Warning, Message = "Listener {Name} refused {Remote}: {Reason}")]
    private static partial void LogRejected(ILogger logger, string name, IPEndPoint remote, string reason);

    [LoggerMessage(EventId = (int)EventIds.ConnectionError, Level = LogLevel.Debug, Message = "Listener {Name} connection {Remote}: {Error}")]
    private static partial void LogConnectionError(ILogger logger, string name, string remote, string error);

    [LoggerMessage(EventId = (int)EventIds.ConnectionError, Level = LogLevel.Error, Message = "Listener {Name}: session with {Remote} failed")]
    private static partial void LogHandlerFailed(ILogger logger, Exception ex, string name, IPEndPoint remote);

    [LoggerMessage(EventId = (int)EventIds.ShutdownDeadlineReached, Level = LogLevel.Warning, Message = "Listener {Name}: {Count} connections still open at the shutdown deadline; closing them")]
    private static partial void LogDeadline(ILogger logger, string name, int count);
}
