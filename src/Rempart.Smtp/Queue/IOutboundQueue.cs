using Rempart.Store;

namespace Rempart.Smtp.Queue;

/// <summary>
/// What inbound SMTP (and later the protection pipeline and alerting) hands outward mail to: the durable queue and
/// its runner. Implemented in Queue/ by the outbound side.
/// </summary>
public interface IOutboundQueue
{
    /// <summary>
    /// Queues a message durably (one entry per destination domain) and wakes the queue runner. Its blob may come from
    /// <see cref="IBlobStore.PutForCommitAsync"/>: the store write that records the entries is what makes it durable.
    /// </summary>
    Task<IReadOnlyList<long>> EnqueueAsync(OutboundMessage message, CancellationToken ct = default);

    /// <summary>
    /// Sends an RFC 3464 "delivered" DSN to <paramref name="sender"/> for recipients that asked for NOTIFY=SUCCESS
    /// and were delivered locally. Does nothing for the null sender.
    /// </summary>
    Task ReportDeliveredAsync(string sender, IReadOnlyList<QueueRecipient> recipients, BlobRef original, string? envelopeId, string? ret, CancellationToken ct = default);
}
