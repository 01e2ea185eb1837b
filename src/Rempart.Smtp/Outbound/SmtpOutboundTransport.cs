using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging;
using MimeKit;
using Rempart.Common.Configuration;
using Rempart.Smtp.Routing;
using TlsAuthenticationException = System.Security.Authentication.AuthenticationException;

namespace Rempart.Smtp.Outbound;

/// <summary>
/// Outbound SMTP with MailKit: smart hosts from the route table, otherwise MX hosts in preference order
/// (RFC 5321 5.1), each address tried in turn. Connections are kept in a small pool per (route, host, address, port,
/// TLS) for <see cref="PoolIdleTime"/> so a burst of messages to one host shares a session; MailKit pipelines the
/// envelope when the peer offers PIPELINING (RFC 2920).
/// </summary>
public sealed partial class SmtpOutboundTransport : IOutboundTransport, IAsyncDisposable
{
    /// <summary>Most addresses tried for one delivery attempt (RFC 5321 5.1 asks for at least two).</summary>
    private const int MaxTargets = 10;

    private readonly RempartOptions _options;
    private readonly RouteTable _routes;
    private readonly IMxResolver _mx;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Dictionary<PoolKey, List<DsnSmtpClient>> _pool = [];
    private readonly Lock _poolLock = new();
    private readonly ITimer _evictTimer;
    private int _connectionsOpened;
    private bool _disposed;

    public SmtpOutboundTransport(RempartOptions options, ILoggerFactory loggerFactory)
        : this(options, new RouteTable(options), new DnsMxResolver(options.Dns), TimeProvider.System, loggerFactory)
    {
    }

    public SmtpOutboundTransport(RempartOptions options, RouteTable routes, IMxResolver mx, TimeProvider time, ILoggerFactory loggerFactory)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _options = options;
        _routes = routes;
        _mx = mx;
        _time = time;
        _logger = loggerFactory.CreateLogger<SmtpOutboundTransport>();
        _evictTimer = time.CreateTimer(_ => EvictIdle(), null, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(5));
    }

    /// <summary>How long an idle connection stays in the pool.</summary>
    public TimeSpan PoolIdleTime { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Idle connections kept per pool key.</summary>
    public int MaxIdlePerHost { get; init; } = 4;

    /// <summary>TCP connections opened so far (diagnostics; tests check reuse with it).</summary>
    public int ConnectionsOpened => Volatile.Read(ref _connectionsOpened);

    public RouteTable Routes => _routes;

    public async Task<DeliveryReport> DeliverAsync(DeliveryRequest request, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var decision = _routes.Resolve(request.Domain, request.Route);
        var targets = new List<Target>();
        if (decision.IsSmartHost)
        {
            var route = decision.Route!;
            IPAddress[] addresses;
            if (IPAddress.TryParse(route.Host, out var literal))
            {
                addresses = [literal];
            }
            else
            {
                try
                {
                    addresses = await Dns.GetHostAddressesAsync(route.Host!, ct);
                }
                catch (SocketException ex)
                {
                    return DeliveryReport.All(request.Recipients, RecipientOutcome.Temporary, 451, "4.4.3", $"cannot resolve smart host {route.Host}: {ex.Message}");
                }
            }

            targets.AddRange(addresses.Select(a => new Target(route.Host!, a, route.Port)));
        }
        else
        {
            var mx = await _mx.ResolveAsync(decision.Domain, ct);
            switch (mx.Status)
            {
                case MxStatus.NullMx:
                    // RFC 7505 4.3: 556 5.1.10 for a domain that publishes a null MX.
                    return DeliveryReport.All(request.Recipients, RecipientOutcome.Permanent, 556, "5.1.10", mx.Error ?? "null MX");
                case MxStatus.NoSuchDomain:
                    return DeliveryReport.All(request.Recipients, RecipientOutcome.Permanent, 550, "5.1.2", mx.Error ?? "no such domain");
                case MxStatus.TemporaryFailure:
                    return DeliveryReport.All(request.Recipients, RecipientOutcome.Temporary, 451, "4.4.3", mx.Error ?? "DNS failure");
            }

            foreach (var host in mx.Hosts)
            {
                targets.AddRange(host.Addresses.Select(a => new Target(host.Name, a, _routes.MxPort)));
            }
        }

        DeliveryReport? last = null;
        foreach (var target in targets.Take(MaxTargets))
        {
            var (report, completed) = await TryTargetAsync(target, decision, request, ct);
            if (completed)
            {
                return report;
            }

            last = report;
        }

        return last ?? DeliveryReport.All(request.Recipients, RecipientOutcome.Temporary, 451, "4.4.4", $"no host to deliver to for {decision.Domain}");
    }

    /// <summary>
    /// One host: returns the report and whether it is final for this attempt (false: connection-level trouble, so
    /// the next host should be tried).
    /// </summary>
    private async Task<(DeliveryReport Report, bool Completed)> TryTargetAsync(Target target, RouteDecision decision, DeliveryRequest request, CancellationToken ct)
    {
        var remoteMta = target.Host;
        var tls = decision.Tls;
        for (var attempt = 0; attempt < 3; attempt++)
        {
            DsnSmtpClient client;
            bool reused;
            try
            {
                (client, reused) = await RentAsync(target, decision, tls, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex) when (tls == TlsMode.Opportunistic && ex is SslHandshakeException or TlsAuthenticationException)
            {
                // RFC 7435: opportunistic TLS that fails falls back to plaintext rather than not delivering at all.
                LogTlsFallback(_logger, target.Host, ex.Message);
                tls = TlsMode.None;
                continue;
            }
            catch (Exception ex)
            {
                return (ConnectFailure(request, target, decision, tls, ex), false);
            }

            try
            {
                var report = await SendAsync(client, request, remoteMta, ct);
                Return(client, target, decision, tls);
                return (report, true);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                client.Dispose();
                throw;
            }
            catch (Exception ex) when (reused && ex is IOException or SmtpProtocolException or ServiceNotConnectedException && client.RcptReplies.Count == 0)
            {
                // A pooled connection the peer closed while idle: open a fresh one once.
                client.Dispose();
                continue;
            }
            catch (SmtpCommandException ex)
            {
                var report = CommandFailure(client, request, remoteMta, ex);
                client.Dispose();
                return (report, ex.ErrorCode != SmtpErrorCode.SenderNotAccepted || (int)ex.StatusCode >= 500);
            }
            catch (NoRecipientsAcceptedException)
            {
                var report = FromReplies(client, request, remoteMta, null);
                Return(client, target, decision, tls);
                return (report, true);
            }
            catch (Exception ex) when (ex is IOException or SmtpProtocolException or ServiceNotConnectedException or SocketException or TimeoutException or OperationCanceledException or ServiceNotAuthenticatedException or FormatException)
            {
                client.Dispose();
                return (DeliveryReport.All(request.Recipients, RecipientOutcome.Temporary, 451, "4.4.2", $"connection to {target.Host} [{target.Address}] lost: {ex.Message}", remoteMta), false);
            }
        }

        return (DeliveryReport.All(request.Recipients, RecipientOutcome.Temporary, 451, "4.4.2", $"could not use a connection to {target.Host}", remoteMta), false);
    }

    private async Task<DeliveryReport> SendAsync(DsnSmtpClient client, DeliveryRequest request, string remoteMta, CancellationToken ct)
    {
        MimeMessage message;
        await using (var content = request.OpenContent())
        {
            message = await MimeMessage.LoadAsync(content, ct);
        }

        using (message)
        {
            var mailboxes = request.Recipients.Select(r => (Mailbox: ToMailbox(r.Address), Recipient: r)).ToList();
            client.Begin(request, mailboxes);
            var sender = ToMailbox(request.Sender);
            var response = await client.SendAsync(FormatOptions.Default, message, sender, mailboxes.Select(m => m.Mailbox), ct);
            client.LastUsed = _time.GetUtcNow();
            return FromReplies(client, request, remoteMta, "250 " + response);
        }
    }

    /// <summary>Maps RCPT replies, and the final DATA reply for the accepted ones, to one result per recipient.</summary>
    private static DeliveryReport FromReplies(DsnSmtpClient client, DeliveryRequest request, string remoteMta, string? dataReply, int dataCode = 250)
    {
        var results = new List<RecipientResult>(request.Recipients.Count);
        for (var i = 0; i < request.Recipients.Count; i++)
        {
            var recipient = request.Recipients[i];
            var reply = i < client.RcptReplies.Count ? client.RcptReplies[i] : default;
            if (reply.Mailbox is null)
            {
                results.Add(new RecipientResult(recipient.Address, RecipientOutcome.Temporary, 451, "4.4.2", "no reply to RCPT", false));
            }
            else if (!reply.Accepted)
            {
                var code = (int)reply.Response.StatusCode;
                results.Add(new RecipientResult(recipient.Address, Classify(code), code, EnhancedStatus(code, reply.Response.Response), Format(code, reply.Response.Response), true));
            }
            else if (dataReply is null)
            {
                results.Add(new RecipientResult(recipient.Address, RecipientOutcome.Temporary, 451, "4.4.2", "transaction ended before DATA", false));
            }
            else
            {
                var text = dataReply.Length > 4 && dataReply[3] == ' ' ? dataReply[4..] : dataReply;
                results.Add(new RecipientResult(recipient.Address, Classify(dataCode), dataCode, EnhancedStatus(dataCode, text), Format(dataCode, text), true));
            }
        }

        return new DeliveryReport(results, remoteMta, (client.Capabilities & SmtpCapabilities.Dsn) != 0);
    }

    private static DeliveryReport CommandFailure(DsnSmtpClient client, DeliveryRequest request, string remoteMta, SmtpCommandException ex)
    {
        var code = (int)ex.StatusCode;
        if (ex.ErrorCode is SmtpErrorCode.MessageNotAccepted or SmtpErrorCode.UnexpectedStatusCode && client.RcptReplies.Count > 0)
        {
            // The DATA (or final dot) reply applies to every recipient that RCPT accepted.
            return FromReplies(client, request, remoteMta, "000 " + ex.Message, code);
        }

        var report = DeliveryReport.All(request.Recipients, Classify(code), code, EnhancedStatus(code, ex.Message), Format(code, ex.Message), remoteMta, fromRemote: true);
        return report with { PeerSupportsDsn = (client.Capabilities & SmtpCapabilities.Dsn) != 0 };
    }

    private DeliveryReport ConnectFailure(DeliveryRequest request, Target target, RouteDecision decision, TlsMode tls, Exception ex)
    {
        var where = $"{target.Host} [{target.Address}]:{target.Port.ToString(CultureInfo.InvariantCulture)}";
        string status;
        string text;
        switch (ex)
        {
            case NotSupportedException when tls == TlsMode.Required:
                status = "4.7.4";
                text = $"TLS is required for {decision.Domain} but {where} does not offer STARTTLS";
                break;
            case SslHandshakeException or TlsAuthenticationException:
                status = "4.7.5";
                text = $"TLS with {where} failed: {ex.Message}";
                break;
            case MailKit.Security.AuthenticationException:
                status = "4.7.8";
                text = $"authentication to smart host {where} failed";
                break;
            case SmtpCommandException command:
                // RFC 5321 3.1: a 554 greeting means "no service here"; another host may do better, so temporary.
                status = "4.4.1";
                text = $"{where} refused the session: {Format((int)command.StatusCode, command.Message)}";
                break;
            default:
                status = "4.4.1";
                text = $"cannot connect to {where}: {ex.Message}";
                break;
        }

        LogConnectFailed(_logger, target.Host, target.Address.ToString(), target.Port, text);
        return DeliveryReport.All(request.Recipients, RecipientOutcome.Temporary, 451, status, text);
    }

    private async Task<(DsnSmtpClient Client, bool Reused)> RentAsync(Target target, RouteDecision decision, TlsMode tls, CancellationToken ct)
    {
        var key = new PoolKey(decision.Route?.Name ?? "", target.Host, target.Address, target.Port, tls, decision.VerifyCertificate);
        var now = _time.GetUtcNow();
        lock (_poolLock)
        {
            if (_pool.TryGetValue(key, out var idle))
            {
                while (idle.Count > 0)
                {
                    var candidate = idle[^1];
                    idle.RemoveAt(idle.Count - 1);
                    if (candidate.IsConnected && now - candidate.LastUsed < PoolIdleTime)
                    {
                        return (candidate, true);
                    }

                    candidate.Dispose();
                }
            }
        }

        var client = _options.Logging.Protocol
            ? new DsnSmtpClient(new OutboundProtocolLogger(_logger, target.Host))
            : new DsnSmtpClient();
        client.LocalDomain = _options.HostName;
        client.Timeout = (int)Math.Clamp(_options.Queue.ConnectTimeout.TotalMilliseconds, 1000, int.MaxValue);
        client.CheckCertificateRevocation = false;
        if (!decision.VerifyCertificate)
        {
            // Opportunistic TLS (RFC 7435) encrypts without authenticating; only required/implicit TLS verifies.
#pragma warning disable CA5359 // deliberate: see the comment above; verified modes never reach this line.
            client.ServerCertificateValidationCallback = static (_, _, _, _) => true;
#pragma warning restore CA5359
        }

        try
        {
            var socket = new Socket(target.Address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                using var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                connectTimeout.CancelAfter(_options.Queue.ConnectTimeout);
                await socket.ConnectAsync(new IPEndPoint(target.Address, target.Port), connectTimeout.Token);
            }
            catch
            {
                socket.Dispose();
                throw;
            }

            Interlocked.Increment(ref _connectionsOpened);
            var secure = tls switch
            {
                TlsMode.Required => SecureSocketOptions.StartTls,
                TlsMode.Implicit => SecureSocketOptions.SslOnConnect,
                TlsMode.None => SecureSocketOptions.None,
                _ => SecureSocketOptions.StartTlsWhenAvailable,
            };
            await client.ConnectAsync(socket, target.Host, target.Port, secure, ct);
            var route = decision.Route;
            if (route?.Username is not null)
            {
                if ((client.Capabilities & SmtpCapabilities.Authentication) == 0)
                {
                    throw new MailKit.Security.AuthenticationException("the smart host does not offer AUTH");
                }

                await client.AuthenticateAsync(route.Username, route.Password ?? "", ct);
            }

            client.LastUsed = _time.GetUtcNow();
            return (client, false);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    private void Return(DsnSmtpClient client, Target target, RouteDecision decision, TlsMode tls)
    {
        if (!client.IsConnected || _disposed)
        {
            client.Dispose();
            return;
        }

        client.LastUsed = _time.GetUtcNow();
        var key = new PoolKey(decision.Route?.Name ?? "", target.Host, target.Address, target.Port, tls, decision.VerifyCertificate);
        lock (_poolLock)
        {
            if (!_pool.TryGetValue(key, out var idle))
            {
                idle = [];
                _pool[key] = idle;
            }

            if (idle.Count < MaxIdlePerHost)
            {
                idle.Add(client);
                return;
            }
        }

        _ = QuitAsync(client);
    }

    /// <summary>Closes connections idle longer than <see cref="PoolIdleTime"/>.</summary>
    public void EvictIdle()
    {
        var now = _time.GetUtcNow();
        var closing = new List<DsnSmtpClient>();
        lock (_poolLock)
        {
            foreach (var (key, idle) in _pool)
            {
                closing.AddRange(idle.Where(c => now - c.LastUsed >= PoolIdleTime || !c.IsConnected));
                idle.RemoveAll(c => now - c.LastUsed >= PoolIdleTime || !c.IsConnected);
            }
        }

        foreach (var client in closing)
        {
            _ = QuitAsync(client);
        }
    }

    private static async Task QuitAsync(DsnSmtpClient client)
    {
        try
        {
            if (client.IsConnected)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await client.DisconnectAsync(true, timeout.Token);
            }
        }
        catch (Exception ex) when (ex is IOException or SmtpProtocolException or SmtpCommandException or OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // The peer may already be gone; the connection is being dropped either way.
        }
        finally
        {
            client.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        await _evictTimer.DisposeAsync();
        List<DsnSmtpClient> all;
        lock (_poolLock)
        {
            all = _pool.Values.SelectMany(v => v).ToList();
            _pool.Clear();
        }

        await Task.WhenAll(all.Select(QuitAsync));
    }

    private static MailboxAddress ToMailbox(string address) =>
        // MailboxAddress keeps the address as given; an empty one is written MAIL FROM:<> (the null sender).
        new(string.Empty, address);

    internal static RecipientOutcome Classify(int code) => code switch
    {
        >= 200 and < 300 => RecipientOutcome.Delivered,
        >= 500 and < 600 => RecipientOutcome.Permanent,
        _ => RecipientOutcome.Temporary,
    };

    /// <summary>The RFC 3463 code at the start of the reply text, else the generic one for the reply class.</summary>
    internal static string EnhancedStatus(int code, string text)
    {
        var match = EnhancedStatusRegex().Match(text);
        if (match.Success && match.Value[0] - '0' == code / 100)
        {
            return match.Value;
        }

        return code switch
        {
            >= 200 and < 300 => "2.0.0",
            >= 500 and < 600 => "5.0.0",
            _ => "4.0.0",
        };
    }

    private static string Format(int code, string text) =>
        string.Create(CultureInfo.InvariantCulture, $"{code} {text.ReplaceLineEndings(" ").Trim()}");

    [GeneratedRegex(@"^\s*[245]\.\d{1,3}\.\d{1,3}\b")]
    private static partial Regex EnhancedStatusRegex();

    [LoggerMessage(Level = LogLevel.Information, Message = "Outbound connection to {Host} [{Address}]:{Port} failed: {Reason}")]
    private static partial void LogConnectFailed(ILogger logger, string host, string address, int port, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Opportunistic TLS with {Host} failed ({Reason}); retrying in plaintext")]
    private static partial void LogTlsFallback(ILogger logger, string host, string reason);

    private readonly record struct Target(string Host, IPAddress Address, int Port);

    private readonly record struct PoolKey(string Route, string Host, IPAddress Address, int Port, TlsMode Tls, bool Verify);
}
