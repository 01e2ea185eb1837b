using Rempart.Smtp.Filters;
using Rempart.Smtp.Protocol;
using Rempart.Store;

namespace Rempart.Smtp.Inbound;

/// <summary>One accepted recipient with what it resolved to.</summary>
internal sealed record AcceptedRecipient(SmtpAddress Address, RcptParameters Parameters, RecipientResolution Resolution)
{
    public bool IsRemote => Resolution.Status == RecipientStatus.Remote;
}

/// <summary>The mail transaction in progress (RFC 5321 section 3.3).</summary>
internal sealed class Transaction(SmtpAddress? sender, MailParameters parameters)
{
    /// <summary>Null for the null reverse-path.</summary>
    public SmtpAddress? Sender { get; } = sender;

    public string SenderText => Sender?.Address ?? string.Empty;

    public MailParameters Parameters { get; } = parameters;

    public List<AcceptedRecipient> Recipients { get; } = [];

    /// <summary>BDAT chunks collected so far.</summary>
    public MessageBuffer? Chunks { get; set; }
}

internal sealed partial class SmtpSession
{
    private async Task MailAsync(string argument)
    {
        if (!argument.StartsWith("FROM:", StringComparison.OrdinalIgnoreCase))
        {
            Error(SmtpReply.ParameterSyntax);
            return;
        }

        // RFC 6409 section 4.3 / RFC 4954: submission requires authentication before the transaction.
        if (_s.IsSubmission && _account is null)
        {
            Error(SmtpReply.AuthRequired);
            return;
        }

        var pathError = SmtpPathParser.TryParse(argument[5..], allowNull: true, out var sender, out var rest);
        if (pathError != PathError.None)
        {
            Error(pathError == PathError.TooLong ? new SmtpReply(501, "5.1.7", "Sender address too long") : SmtpReply.BadSenderSyntax);
            return;
        }

        if (!_esmtp && rest.Length != 0)
        {
            Error(SmtpReply.UnknownParameter);
            return;
        }

        if (EsmtpParameterParser.ParseMail(rest, out var parameters) is { } paramError)
        {
            Error(paramError);
            return;
        }

        // RFC 6531 section 3.4: a non-ASCII mailbox needs SMTPUTF8 on MAIL.
        if (sender is { IsUtf8: true } && !parameters.SmtpUtf8)
        {
            Error(SmtpReply.Utf8NotRequested);
            return;
        }

        // RFC 1870 section 6.2: refuse a declared size over the limit at once.
        if (parameters.Size > _s.Options.Smtp.MaxMessageSize)
        {
            Error(SmtpReply.MessageTooBig);
            return;
        }

        if (parameters.RequireTls)
        {
            // RFC 8689 section 4.1: only offered after TLS on submission ports.
            if (!_s.IsSubmission)
            {
                Error(SmtpReply.UnknownParameter);
                return;
            }

            if (!_connection.IsSecure)
            {
                Error(SmtpReply.RequireTlsNeedsTls);
                return;
            }
        }

        if (_s.IsSubmission)
        {
            // Send-as: the authenticated account may only use addresses it owns (RFC 6409 section 6.1).
            if (sender is null || sender.HasSourceRoute || sender.IsAddressLiteral
                || !await _s.Store.Directory.CanSendAsAsync(_account!.Id, sender.Address, _shutdown))
            {
                Error(SmtpReply.SenderNotOwned);
                return;
            }
        }

        _filterContext.Sender = sender?.Address ?? string.Empty;
        _filterContext.Recipients = [];
        var verdict = await _s.Filter.OnMailFromAsync(_filterContext.Snapshot(), _shutdown);
        if (ToRefusal(verdict) is { } refused)
        {
            _filterContext.Sender = null;
            Error(refused);
            return;
        }

        _tx = new Transaction(sender, parameters);
        _state = SmtpState.Mail;
        Reply(SmtpReply.SenderOk);
    }

    private async Task RcptAsync(string argument)
    {
        var tx = _tx!;
        if (!argument.StartsWith("TO:", StringComparison.OrdinalIgnoreCase))
        {
            Error(SmtpReply.ParameterSyntax);
            return;
        }

        var text = argument[3..];
        SmtpAddress? address;
        string rest;
        var trimmed = text.TrimStart(' ');
        if (trimmed.StartsWith("<postmaster>", StringComparison.OrdinalIgnoreCase))
        {
            // RFC 5321 section 4.1.1.3: "<Postmaster>" without a domain must be accepted: it means the postmaster
            // of this host's domain, else of the first local domain.
            var domain = HostName;
            if (!await _s.Store.Directory.IsLocalDomainAsync(domain, _shutdown))
            {
                var domains = await _s.Store.Directory.ListDomainsAsync(_shutdown);
                domain = domains.Count == 0 ? HostName : domains[0].Name;
            }

            address = new SmtpAddress("postmaster", domain, false, false, false, false);
            rest = trimmed["<postmaster>".Length..].Trim(' ');
        }
        else
        {
            var pathError = SmtpPathParser.TryParse(text, allowNull: false, out address, out rest);
            if (pathError != PathError.None || address is null)
            {
                Error(pathError == PathError.TooLong ? new SmtpReply(501, "5.1.3", "Recipient address too long") : SmtpReply.BadRecipientSyntax);
                return;
            }
        }

        if (!_esmtp && rest.Length != 0)
        {
            Error(SmtpReply.UnknownParameter);
            return;
        }

        if (EsmtpParameterParser.ParseRcpt(rest, out var parameters) is { } paramError)
        {
            Error(paramError);
            return;
        }

        if (tx.Recipients.Count >= _s.Options.Smtp.MaxRecipients)
        {
            // RFC 5321 section 4.5.3.1.10: 452 and the client sends the rest in another transaction. Not counted
            // as an error: a legitimate client with a long list must not be disconnected for it.
            Reply(SmtpReply.TooManyRecipients);
            return;
        }

        if (address.IsUtf8 && !tx.Parameters.SmtpUtf8)
        {
            Error(SmtpReply.Utf8NotRequested);
            return;
        }

        var (resolution, refusal) = await RecipientPolicy.EvaluateAsync(address, authenticated: _account is not null, _s.Store.Directory, _shutdown);
        if (refusal is { } policyRefusal)
        {
            Telemetry.RempartMetrics.MessagesRejected.WithLabels(_s.Protocol, policyRefusal.Enhanced).Inc();
            await _s.Filter.OnRecipientRefusedAsync(_filterContext.Snapshot(), address.Address, policyRefusal.Enhanced, _shutdown);
            Error(policyRefusal);
            return;
        }

        if (resolution!.Status == RecipientStatus.Local && await AllOverQuotaAsync(resolution, tx.Parameters.Size ?? 0))
        {
            Error(SmtpReply.MailboxFull);
            return;
        }

        var verdict = await _s.Filter.OnRcptToAsync(_filterContext.Snapshot(), address.Address, _shutdown);
        if (ToRefusal(verdict) is { } refused)
        {
            Error(refused);
            return;
        }

        tx.Recipients.Add(new AcceptedRecipient(address, parameters, resolution));
        _filterContext.Recipients = [.. tx.Recipients.Select(r => r.Address.Address)];
        _state = SmtpState.Rcpt;
        Reply(SmtpReply.RecipientOk);
    }

    /// <summary>Cheap quota check at RCPT (one lookup per account, small fan-out only): true when no target has room.</summary>
    private async Task<bool> AllOverQuotaAsync(RecipientResolution resolution, long declaredSize)
    {
        if (resolution.ForwardTo.Count != 0 || resolution.AccountIds.Count is 0 or > 10)
        {
            return false;
        }

        foreach (var id in resolution.AccountIds)
        {
            var q = await _s.Store.Messages.GetQuotaAsync(id, _shutdown);
            var bytesFull = q.MaxBytes is { } maxBytes && q.UsedBytes + declaredSize >= maxBytes;
            var countFull = q.MaxMessages is { } maxMessages && q.UsedMessages >= maxMessages;
            if (!bytesFull && !countFull)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>The reply for a refusing verdict, or null when the verdict lets the command through.</summary>
    private static SmtpReply? ToRefusal(FilterVerdict verdict) => verdict.Action switch
    {
        FilterAction.Reject => new SmtpReply(verdict.Code, verdict.Enhanced, verdict.Text),
        FilterAction.TempFail => new SmtpReply(verdict.Code is >= 400 and < 500 ? verdict.Code : 451, verdict.Enhanced.Length == 0 ? "4.7.1" : verdict.Enhanced, verdict.Text),
        _ => null,
    };
}

/// <summary>
/// Who may receive through this server. Unauthenticated clients (MX) reach local recipients only; every shape of
/// address that could make us or a downstream host relay is refused: source routes, address literals, '%' and '!'
/// routing and quoted local parts hiding an '@'.
/// </summary>
public static class RecipientPolicy
{
    public static async Task<(RecipientResolution? Resolution, SmtpReply? Refusal)> EvaluateAsync(SmtpAddress address, bool authenticated, IDirectoryStore directory, CancellationToken ct)
    {
        if (!authenticated)
        {
            if (address.HasSourceRoute || address.IsAddressLiteral || address.HasRoutingCharacters)
            {
                return (null, SmtpReply.RelayDenied);
            }
        }
        else if (address.IsAddressLiteral)
        {
            return (null, new SmtpReply(550, "5.1.2", "Address literals are not accepted as recipients"));
        }

        var resolution = await directory.ResolveRecipientAsync(address.Address, ct);
        return resolution.Status switch
        {
            RecipientStatus.Local => (resolution, null),
            RecipientStatus.UnknownLocal => (null, SmtpReply.UnknownUser),
            RecipientStatus.Disabled => (null, SmtpReply.MailboxDisabled),

            // A local domain with a routing trick in the local part is never forwarded either.
            RecipientStatus.Remote when authenticated => (resolution, null),
            _ => (null, SmtpReply.RelayDenied),
        };
    }
}
