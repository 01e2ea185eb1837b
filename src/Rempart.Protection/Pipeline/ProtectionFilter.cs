using System.Net;
using Microsoft.Extensions.Logging;
using Rempart.Common.Configuration;
using Rempart.Protection.Reputation;
using Rempart.Smtp.Filters;
using Rempart.Store;
using Rempart.Telemetry;

namespace Rempart.Protection.Pipeline;

/// <summary>
/// The protection pipeline as SMTP sees it (docs/protection/pipeline.md). Connect: allow and block lists, our own
/// IP reputation, DNSBLs. MAIL and RCPT: rate limits per IP, per sender and per authenticated user; refused
/// recipients feed the reputation. End of data (ProtectionFilter.EndOfData.cs): sender authentication, antivirus and
/// attachment policy, anti-spam, mail-flow rules, then one verdict (<see cref="VerdictPolicy"/>).
/// </summary>
public sealed partial class ProtectionFilter : IMessageFilter
{
    private readonly ProtectionServices _s;
    private readonly ProtectionOptions _options;
    private readonly IpNetworkList _allow;
    private readonly IpNetworkList _block;
    private readonly RateLimiter _perMinute;
    private readonly RateLimiter _perHour;
    private readonly RateLimiter _perDay;
    private readonly ILogger _logger;

    public ProtectionFilter(ProtectionServices services)
    {
        ArgumentNullException.ThrowIfNull(services);
        _s = services;
        _options = services.Options.Protection;
        _allow = new IpNetworkList(_options.Connection.Allow);
        _block = new IpNetworkList(_options.Connection.Block);
        _perMinute = new RateLimiter(TimeSpan.FromMinutes(1), services.Time);
        _perHour = new RateLimiter(TimeSpan.FromHours(1), services.Time);
        _perDay = new RateLimiter(TimeSpan.FromDays(1), services.Time);
        _logger = services.Loggers.CreateLogger("Rempart.Protection");
    }

    private static bool IsMx(FilterContext c) => c.Role == "mx";

    public async ValueTask<FilterVerdict> OnConnectAsync(FilterContext context, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(context);
        var ip = context.RemoteAddress;
        if (!_options.Enabled || _allow.Contains(ip))
        {
            return FilterVerdict.Accept;
        }

        if (_block.Contains(ip))
        {
            return Refuse(context, "blocklist", $"{ip} is on the administrator's block list");
        }

        if (!IsMx(context))
        {
            // Submission clients authenticate; AuthService bans their failures. Lists above still apply.
            return FilterVerdict.Accept;
        }

        var reputation = _s.Reputation.Get(ip);
        if (reputation.Score >= _options.Connection.ReputationRefuseAt)
        {
            return Refuse(context, "reputation", $"poor reputation of {ip} ({reputation.Scope}, {reputation.Score:0.00})");
        }

        if (reputation.Score >= _options.Connection.ReputationSlowAt)
        {
            // Tarpit: the worse the record, the longer the wait (at most 10 s), so bulk senders lose throughput.
            var delay = TimeSpan.FromSeconds(10 * (reputation.Score - _options.Connection.ReputationSlowAt) / (1 - _options.Connection.ReputationSlowAt + 1e-9));
            await Task.Delay(delay, _s.Time, ct);
        }

        if (_options.Connection.DnsblAction == "reject" && _s.Dnsbl is { IsEmpty: false } dnsbl)
        {
            var listing = await SafeDnsblAsync(dnsbl, ip, ct);
            if (listing is not null)
            {
                return Refuse(context, "dnsbl", $"{ip} is listed by {listing.Zone} ({listing.Answer})");
            }
        }

        return FilterVerdict.Accept;
    }

    public ValueTask<FilterVerdict> OnMailFromAsync(FilterContext context, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!_options.Enabled)
        {
            return new(FilterVerdict.Accept);
        }

        if (context.AuthenticatedUser is { } user)
        {
            if (!_perHour.TryAcquire("user:" + user, _options.Outbound.MaxMessagesPerHourPerUser))
            {
                return new(RateLimited(context, $"{user} sent more than {_options.Outbound.MaxMessagesPerHourPerUser} messages in the last hour"));
            }

            return new(FilterVerdict.Accept);
        }

        if (_allow.Contains(context.RemoteAddress) || IPAddress.IsLoopback(context.RemoteAddress))
        {
            // Local tools and relays on this host are not rate limited (and never scored, see ReputationTracker).
            return new(FilterVerdict.Accept);
        }

        if (!_perMinute.TryAcquire("ip:" + context.RemoteAddress, _options.Connection.MaxMessagesPerMinutePerIp))
        {
            return new(RateLimited(context, $"{context.RemoteAddress} sent more than {_options.Connection.MaxMessagesPerMinutePerIp} messages a minute"));
        }

        if (!string.IsNullOrEmpty(context.Sender) && !_perMinute.TryAcquire("sender:" + context.Sender, _options.Connection.MaxMessagesPerMinutePerSender))
        {
            return new(RateLimited(context, $"<{context.Sender}> sent more than {_options.Connection.MaxMessagesPerMinutePerSender} messages a minute"));
        }

        return new(FilterVerdict.Accept);
    }

    public ValueTask<FilterVerdict> OnRcptToAsync(FilterContext context, string recipient, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (_options.Enabled && context.AuthenticatedUser is { } user
            && !_perDay.TryAcquire("rcpt:" + user, _options.Outbound.MaxRecipientsPerDayPerUser))
        {
            return new(RateLimited(context, $"{user} addressed more than {_options.Outbound.MaxRecipientsPerDayPerUser} recipients today"));
        }

        return new(FilterVerdict.Accept);
    }

    public ValueTask OnRecipientRefusedAsync(FilterContext context, string recipient, string enhanced, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (_options.Enabled && IsMx(context) && enhanced == "5.1.1")
        {
            _s.Reputation.Record(context.RemoteAddress, ReputationSignal.UnknownRecipient);
        }

        return ValueTask.CompletedTask;
    }

    private async Task<DnsblListing?> SafeDnsblAsync(DnsblChecker dnsbl, IPAddress ip, CancellationToken ct)
    {
        try
        {
            return await dnsbl.CheckAsync(ip, ct);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A DNSBL that does not answer must not stop mail.
            LogStageFailed(_logger, "dnsbl", ex);
            return null;
        }
    }

    private FilterVerdict Refuse(FilterContext context, string kind, string reason)
    {
        RempartMetrics.ProtectionDetections.WithLabels(kind).Inc();
        LogConnectionRefused(_logger, context.ConnectionId, context.RemoteAddress.ToString(), reason);
        _s.Trace.Record(new TraceEvent(_s.Time.GetUtcNow(), context.ConnectionId, TraceEventKind.Rejected, context.Sender ?? string.Empty, null, null, context.RemoteAddress.ToString(), "connection refused: " + reason));
        return FilterVerdict.Reject(554, "5.7.1", "Connection refused: " + reason);
    }

    private FilterVerdict RateLimited(FilterContext context, string reason)
    {
        RempartMetrics.ProtectionDetections.WithLabels("ratelimit").Inc();
        LogRateLimited(_logger, context.ConnectionId, reason);
        return FilterVerdict.TempFail("Rate limit exceeded: " + reason + "; try again later") with { Enhanced = "4.7.0" };
    }

    [LoggerMessage(EventId = (int)EventIds.ProtectionConnectionRefused, Level = LogLevel.Warning, Message = "SMTP {ConnectionId} from {Remote} refused: {Reason}")]
    private static partial void LogConnectionRefused(ILogger logger, string connectionId, string remote, string reason);

    [LoggerMessage(EventId = (int)EventIds.ProtectionRateLimited, Level = LogLevel.Warning, Message = "SMTP {ConnectionId} rate limited: {Reason}")]
    private static partial void LogRateLimited(ILogger logger, string connectionId, string reason);

    [LoggerMessage(EventId = (int)EventIds.ProtectionStageFailed, Level = LogLevel.Error, Message = "Protection stage {Stage} failed; continuing without it")]
    private static partial void LogStageFailed(ILogger logger, string stage, Exception exception);

    [LoggerMessage(EventId = (int)EventIds.ProtectionVerdict, Level = LogLevel.Information, Message = "Message {TraceId} from <{Sender}>: {Verdict} ({Summary})")]
    private static partial void LogVerdict(ILogger logger, string traceId, string sender, VerdictKind verdict, string summary);
}
