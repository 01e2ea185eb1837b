using Rempart.Store;

namespace Rempart.Smtp.Outbound;

/// <summary>Delivers one queue entry (one destination domain) to the next hop.</summary>
public interface IOutboundTransport
{
    /// <summary>
    /// Tries to deliver; never throws for remote failures (they come back per recipient), only for cancellation.
    /// Every recipient of the request appears exactly once in the result.
    /// </summary>
    Task<DeliveryReport> DeliverAsync(DeliveryRequest request, CancellationToken ct = default);
}

/// <summary>One delivery attempt for the recipients of one domain.</summary>
/// <param name="Sender">Envelope sender; empty for the null sender.</param>
/// <param name="OpenContent">Opens the message bytes (called once per attempted connection).</param>
/// <param name="Route">Route forced by a transport rule, or null.</param>
public sealed record DeliveryRequest(
    string Domain,
    string Sender,
    IReadOnlyList<QueueRecipient> Recipients,
    Func<Stream> OpenContent,
    string? EnvelopeId = null,
    string? Ret = null,
    string? Route = null);

public enum RecipientOutcome
{
    Delivered,

    /// <summary>4xx, connection or DNS trouble: try again later.</summary>
    Temporary,

    /// <summary>5xx or a definitive DNS answer (no such domain, null MX): bounce.</summary>
    Permanent,
}

/// <param name="Code">SMTP reply code (0 when no reply was received).</param>
/// <param name="Status">RFC 3463 enhanced status code, for example "5.1.1".</param>
/// <param name="Diagnostic">The remote reply ("550 5.1.1 no such user") or a local explanation.</param>
/// <param name="FromRemote">True when <paramref name="Diagnostic"/> is an SMTP reply of the remote host (DSN Diagnostic-Code: smtp).</param>
public sealed record RecipientResult(string Address, RecipientOutcome Outcome, int Code, string Status, string Diagnostic, bool FromRemote);

/// <param name="RemoteMta">Host that answered (DSN Remote-MTA), or null when none was reached.</param>
/// <param name="PeerSupportsDsn">The peer advertised DSN, so it took over the NOTIFY duties (else a "relayed" DSN is due).</param>
public sealed record DeliveryReport(IReadOnlyList<RecipientResult> Recipients, string? RemoteMta, bool PeerSupportsDsn)
{
    /// <summary>Every recipient gets the same outcome (connection failures, DNS failures).</summary>
    public static DeliveryReport All(IEnumerable<QueueRecipient> recipients, RecipientOutcome outcome, int code, string status, string diagnostic, string? remoteMta = null, bool fromRemote = false) =>
        new(recipients.Select(r => new RecipientResult(r.Address, outcome, code, status, diagnostic, fromRemote)).ToList(), remoteMta, false);
}
