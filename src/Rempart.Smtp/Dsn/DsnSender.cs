using Microsoft.Extensions.Logging;
using Rempart.Common.Configuration;
using Rempart.Store;
using Rempart.Telemetry;

namespace Rempart.Smtp.Dsn;

/// <summary>
/// Sends DSNs from MAILER-DAEMON with the null sender (RFC 3461 6.2, RFC 5321 4.5.5: so a DSN is never answered by
/// another DSN). Local senders get the report in their INBOX directly; remote ones through the queue.
/// </summary>
public sealed partial class DsnSender
{
    private readonly IMailStore _store;
    private readonly RempartOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Action? _queued;

    /// <param name="queued">Called after a DSN was queued for remote delivery (the runner wakes itself).</param>
    public DsnSender(IMailStore store, RempartOptions options, TimeProvider time, ILogger logger, Action? queued = null)
    {
        _store = store;
        _options = options;
        _time = time;
        _logger = logger;
        _queued = queued;
    }

    /// <summary>
    /// Builds and sends one DSN for <paramref name="report"/>. Returns false (and sends nothing) for the null sender,
    /// for reports without recipients and for a local sender that no longer exists.
    /// </summary>
    public async Task<bool> SendAsync(DsnReport report, BlobRef? original, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(report);
        if (string.IsNullOrEmpty(report.To) || report.Recipients.Count == 0)
        {
            return false;
        }

        byte[] bytes;
        Stream? content = null;
        try
        {
            if (original is not null && _store.Blobs.Exists(original.Hash))
            {
                content = _store.Blobs.Open(original.Hash);
            }

            bytes = DsnBuilder.BuildBytes(report, content, original?.Size ?? 0);
        }
        finally
        {
            if (content is not null)
            {
                await content.DisposeAsync();
            }
        }

        var blob = await _store.Blobs.PutAsync(bytes, ct);
        var now = _time.GetUtcNow();
        var resolution = await _store.Directory.ResolveRecipientAsync(report.To, ct);
        var sent = false;
        switch (resolution.Status)
        {
            case RecipientStatus.Local:
                if (resolution.AccountIds.Count > 0)
                {
                    await _store.Messages.DeliverAsync(blob, resolution.AccountIds.Select(id => new DeliveryTarget(id)).ToList(), now, ct);
                    sent = true;
                }

                if (resolution.ForwardTo.Count > 0)
                {
                    await _store.Queue.EnqueueAsync(new OutboundMessage("", resolution.ForwardTo.Select(a => new QueueRecipient(a)).ToList(), blob, now), ct);
                    sent = true;
                    _queued?.Invoke();
                }

                break;
            case RecipientStatus.Remote:
                await _store.Queue.EnqueueAsync(new OutboundMessage("", [new QueueRecipient(report.To)], blob, now), ct);
                sent = true;
                _queued?.Invoke();
                break;
            default:
                LogDsnDropped(_logger, report.To, resolution.Status.ToString());
                break;
        }

        if (sent)
        {
            var kind = report.Recipients[0].Action switch
            {
                DsnAction.Failed => "failure",
                DsnAction.Delayed => "delay",
                DsnAction.Relayed => "relayed",
                _ => "success",
            };
            RempartMetrics.Bounces.WithLabels(kind).Inc();
        }

        return sent;
    }

    /// <summary>Reporting-MTA name used in every DSN.</summary>
    public string ReportingMta => _options.HostName;

    [LoggerMessage(EventId = (int)EventIds.QueueBounced, Level = LogLevel.Warning, Message = "DSN for {Sender} dropped: the local sender is {Status}")]
    private static partial void LogDsnDropped(ILogger logger, string sender, string status);
}
