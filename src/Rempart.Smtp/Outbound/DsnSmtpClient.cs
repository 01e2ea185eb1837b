using MailKit;
using MailKit.Net.Smtp;
using MimeKit;
using Rempart.Store;

namespace Rempart.Smtp.Outbound;

/// <summary>
/// MailKit's SmtpClient with the RFC 3461 parameters of the queued envelope passed on (ENVID, RET, NOTIFY; MailKit
/// itself writes ORCPT as rfc822;recipient whenever NOTIFY is sent, and offers no hook to relay a received ORCPT)
/// and per-recipient RCPT replies recorded instead of thrown, so partial acceptance is reported recipient by recipient.
/// </summary>
internal sealed class DsnSmtpClient : SmtpClient
{
    private readonly Dictionary<MailboxAddress, QueueRecipient> _recipients = new(ReferenceEqualityComparer.Instance);
    private string? _envelopeId;

    public DsnSmtpClient()
    {
    }

    public DsnSmtpClient(IProtocolLogger protocolLogger)
        : base(protocolLogger)
    {
    }

    /// <summary>RCPT replies of the current transaction, in order.</summary>
    public List<(MailboxAddress Mailbox, SmtpResponse Response, bool Accepted)> RcptReplies { get; } = [];

    public DateTimeOffset LastUsed { get; set; }

    /// <summary>The transaction now starting: its DSN parameters and its recipients.</summary>
    public void Begin(DeliveryRequest request, IReadOnlyList<(MailboxAddress Mailbox, QueueRecipient Recipient)> recipients)
    {
        _recipients.Clear();
        RcptReplies.Clear();
        foreach (var (mailbox, recipient) in recipients)
        {
            _recipients[mailbox] = recipient;
        }

        _envelopeId = request.EnvelopeId;
        DeliveryStatusNotificationType = request.Ret?.ToUpperInvariant() switch
        {
            "FULL" => DeliveryStatusNotificationType.Full,
            "HDRS" => DeliveryStatusNotificationType.HeadersOnly,
            _ => DeliveryStatusNotificationType.Unspecified,
        };
    }

    protected override string GetEnvelopeId(MimeMessage message) => _envelopeId!;

    protected override DeliveryStatusNotification? GetDeliveryStatusNotifications(MimeMessage message, MailboxAddress mailbox) =>
        _recipients.TryGetValue(mailbox, out var recipient) ? ParseNotify(recipient.Notify) : null;

    protected override void OnRecipientAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) =>
        RcptReplies.Add((mailbox, response, true));

    protected override void OnRecipientNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) =>
        RcptReplies.Add((mailbox, response, false));

    protected override void OnNoRecipientsAccepted(MimeMessage message) => throw new NoRecipientsAcceptedException();

    /// <summary>RFC 3461 NOTIFY: "NEVER" or a comma list of SUCCESS, FAILURE, DELAY; null when absent.</summary>
    internal static DeliveryStatusNotification? ParseNotify(string? notify)
    {
        if (string.IsNullOrWhiteSpace(notify))
        {
            return null;
        }

        DeliveryStatusNotification result = 0;
        foreach (var part in notify.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            result |= part.ToUpperInvariant() switch
            {
                "NEVER" => DeliveryStatusNotification.Never,
                "SUCCESS" => DeliveryStatusNotification.Success,
                "FAILURE" => DeliveryStatusNotification.Failure,
                "DELAY" => DeliveryStatusNotification.Delay,
                _ => 0,
            };
        }

        return result;
    }
}

/// <summary>Every RCPT was refused; the replies are in <see cref="DsnSmtpClient.RcptReplies"/>.</summary>
internal sealed class NoRecipientsAcceptedException : Exception
{
    public NoRecipientsAcceptedException()
        : base("No recipient was accepted.")
    {
    }

    public NoRecipientsAcceptedException(string message)
        : base(message)
    {
    }

    public NoRecipientsAcceptedException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
