using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using MimeKit;
using Rempart.Monitoring.Alerting;
using Rempart.Server.Http;
using Rempart.Store;

namespace Rempart.Server;

internal sealed partial class MonitoringRuntime
{
    private AlertManager? _alerts;

    /// <summary>The alert manager when alerting is configured (the probe CLI builds its own).</summary>
    public AlertManager? Alerts => _alerts;

    private Task StartAlertingAsync(CancellationToken ct)
    {
        _ = ct;
        var options = context.Options.Monitoring.Alerting;
        if (!options.IsActive)
        {
            _sink = Monitoring.Health.NoTransitionSink.Instance;
            return Task.CompletedTask;
        }

        // Ack links need a URL people can reach; without publicUrl, the HTTP listener's first address is the best guess.
        var http = context.Options.Listeners.Http;
        if (options.PublicUrl is null && http.Enabled && http.Addresses.Count > 0)
        {
            var host = http.Addresses[0] is "0.0.0.0" or "::" ? context.Options.HostName : http.Addresses[0];
            options.PublicUrl = new UriBuilder(Uri.UriSchemeHttp, host, http.Port).Uri.ToString().TrimEnd('/');
        }

        Directory.CreateDirectory(context.Data.MonitoringPath);
        _alerts = new AlertManager(
            options,
            context.ServerName,
            new QueueAlertEmailSender(context),
            Path.Combine(context.Data.MonitoringPath, "alerts.json"),
            TimeProvider.System,
            context.LoggerFactory.CreateLogger<AlertManager>());
        _sink = _alerts;
        return Task.CompletedTask;
    }

    private void MapAlerting(IEndpointRouteBuilder app) => AlertEndpoints.Map(app, context.Admin, () => _alerts);

    private async ValueTask StopAlertingAsync()
    {
        if (_alerts is { } a)
        {
            _sink = Monitoring.Health.NoTransitionSink.Instance;
            _alerts = null;
            await a.DisposeAsync();
        }
    }

    /// <summary>
    /// Alert email through Rempart's own delivery, as DSNs are sent (DsnSender): a local recipient gets the message
    /// in its INBOX at once (alerting must work when outbound mail is what is broken), other addresses go through the
    /// outbound queue.
    /// </summary>
    private sealed class QueueAlertEmailSender(MonitoringContext context) : IAlertEmailSender
    {
        public async Task SendAsync(string? from, IReadOnlyList<string> to, string subject, string body, CancellationToken ct)
        {
            var sender = from ?? "postmaster@" + context.Options.HostName;
            var message = new MimeMessage();
            message.From.Add(new MailboxAddress("Rempart alerting", sender));
            foreach (var t in to)
            {
                message.To.Add(MailboxAddress.Parse(t));
            }

            message.Subject = subject;
            message.Date = DateTimeOffset.UtcNow;
            message.MessageId = MimeKit.Utils.MimeUtils.GenerateMessageId(context.Options.HostName);

            // RFC 3834: automatic replies must not answer this message.
            message.Headers.Add("Auto-Submitted", "auto-generated");
            message.Body = new TextPart("plain") { Text = body };
            using var buffer = new MemoryStream();
            await message.WriteToAsync(FormatOptions.Default, buffer, ct);

            var store = context.Store;
            var blob = await store.Blobs.PutAsync(buffer.ToArray(), ct);
            var now = DateTimeOffset.UtcNow;
            var remote = new List<QueueRecipient>();
            foreach (var address in to)
            {
                var resolution = await store.Directory.ResolveRecipientAsync(address, ct);
                switch (resolution.Status)
                {
                    case RecipientStatus.Local:
                        if (resolution.AccountIds.Count > 0)
                        {
                            await store.Messages.DeliverAsync(blob, resolution.AccountIds.Select(id => new DeliveryTarget(id)).ToList(), now, ct);
                        }

                        remote.AddRange(resolution.ForwardTo.Select(a => new QueueRecipient(a)));
                        break;
                    case RecipientStatus.Remote:
                        remote.Add(new QueueRecipient(address));
                        break;
                    default:
                        throw new AlertChannelException($"{address} is a local address that does not exist ({resolution.Status})");
                }
            }

            if (remote.Count > 0)
            {
                await context.Queue.EnqueueAsync(new OutboundMessage(sender, remote, blob, now), ct);
            }
        }
    }
}
