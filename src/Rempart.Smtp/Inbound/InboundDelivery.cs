using System.Net;
using System.Text;
using MimeKit;
using MimeKit.Utils;
using Rempart.Smtp.Filters;
using Rempart.Smtp.Protocol;
using Rempart.Store;
using Rempart.Telemetry;
using Rempart.Smtp.Dsn;

namespace Rempart.Smtp.Inbound;

/// <summary>What end-of-data processing needs to know about the session.</summary>
internal sealed record DeliveryContext(
    SmtpSessionServices Services,
    string ConnectionId,
    string QueueId,
    string Helo,
    bool Esmtp,
    IPAddress Remote,
    string? TlsProtocol,
    string? TlsCipher,
    AccountRecord? Account,
    FilterContext FilterContext);

/// <summary>
/// End of DATA / BDAT LAST: checks (loop, From ownership, filter), trace headers, then one blob for all local
/// accounts and the outbound queue for remote recipients. The 250 goes out only after both are durable
/// (RFC 5321 section 6.1: an accepted message is never lost).
/// </summary>
internal static class InboundDelivery
{
    public static async Task<SmtpReply> DeliverAsync(DeliveryContext ctx, Transaction tx, ReadOnlyMemory<byte> message, CancellationToken ct)
    {
        var s = ctx.Services;
        var headers = LoadHeaders(message);

        // RFC 5321 section 6.3: count Received fields to stop mail loops.
        var hops = headers.Count(h => h.Id == HeaderId.Received);
        if (hops >= s.Options.Smtp.MaxHops)
        {
            Reject(ctx, "loop");
            Trace(ctx, tx, TraceEventKind.Rejected, null, "too many Received fields (mail loop)", headers);
            return SmtpReply.TooManyHops;
        }

        var extraHeaders = new StringBuilder();
        if (s.IsSubmission && ctx.Account is not null)
        {
            foreach (var from in headers.Where(h => h.Id == HeaderId.From))
            {
                if (!InternetAddressList.TryParse(from.Value, out var list))
                {
                    Reject(ctx, "from-not-owned");
                    return SmtpReply.FromNotOwned;
                }

                foreach (var mailbox in list.Mailboxes)
                {
                    if (!await s.Store.Directory.CanSendAsAsync(ctx.Account.Id, mailbox.Address, ct))
                    {
                        Reject(ctx, "from-not-owned");
                        return SmtpReply.FromNotOwned;
                    }
                }
            }

            // RFC 6409 section 8: the MSA may complete a message missing Date or Message-ID.
            if (!headers.Contains(HeaderId.Date))
            {
                extraHeaders.Append("Date: ").Append(DateUtils.FormatDate(DateTimeOffset.UtcNow)).Append("\r\n");
            }

            if (!headers.Contains(HeaderId.MessageId))
            {
                extraHeaders.Append("Message-ID: <").Append(MimeUtils.GenerateMessageId(s.Options.HostName)).Append(">\r\n");
            }
        }

        ctx.FilterContext.QueueId = ctx.QueueId;
        var verdict = await s.Filter.OnEndOfDataAsync(ctx.FilterContext.Snapshot(), message, ct);
        switch (verdict.Action)
        {
            case FilterAction.Reject:
                Reject(ctx, "filter");
                Trace(ctx, tx, TraceEventKind.Rejected, null, $"{verdict.Code} {verdict.Enhanced} {verdict.Text}", headers);
                return new SmtpReply(verdict.Code, verdict.Enhanced, verdict.Text);
            case FilterAction.TempFail:
                Reject(ctx, "filter-tempfail");
                Trace(ctx, tx, TraceEventKind.Rejected, null, $"451 {verdict.Enhanced} {verdict.Text} (temporary)", headers);
                return new SmtpReply(verdict.Code is >= 400 and < 500 ? verdict.Code : 451, verdict.Enhanced.Length == 0 ? "4.7.1" : verdict.Enhanced, verdict.Text);
            case FilterAction.Quarantine:
                // The filter holds the message durably before it answers; nothing is delivered.
                SmtpLog.Quarantined(s.Logger, ctx.ConnectionId, tx.SenderText, verdict.Text);
                RempartMetrics.MessagesRejected.WithLabels(s.Protocol, "quarantine").Inc();
                return new SmtpReply(250, "2.0.0", "OK queued as " + ctx.QueueId);
        }

        if (verdict.Message is { } rewritten)
        {
            message = rewritten;
        }

        foreach (var (name, value) in verdict.Headers)
        {
            extraHeaders.Append(name).Append(": ").Append(value.ReplaceLineEndings(" ")).Append("\r\n");
        }

        var now = DateTimeOffset.UtcNow;
        var received = ReceivedHeader(ctx, tx, now);
        var envelope = await EnvelopeAsync(s, tx, verdict, ct);

        // Targets: each local account once (with the folder its recipient's verdict names), each remote address once
        // (RFC 5321 section 3.7 forwarding for aliases).
        var accounts = new List<DeliveryTarget>();
        var accountRecipient = new Dictionary<long, string>();
        var remote = new List<QueueRecipient>();
        var seenRemote = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var held = 0;
        foreach (var r in envelope)
        {
            var decision = verdict.PerRecipient.FirstOrDefault(v => string.Equals(v.Recipient, r.Address, StringComparison.OrdinalIgnoreCase));
            if (decision?.Action == FilterAction.Quarantine)
            {
                held++;
                continue;
            }

            var orcpt = r.Parameters.OriginalRecipient ?? "rfc822;" + r.Address;
            if (r.Resolution.Status == RecipientStatus.Remote)
            {
                if (seenRemote.Add(r.Address))
                {
                    remote.Add(new QueueRecipient(r.Address, r.Parameters.Notify, r.Parameters.OriginalRecipient));
                }

                continue;
            }

            var folder = decision is { Action: FilterAction.FileInto } ? decision.Folder
                : decision is { Action: FilterAction.Accept } ? null
                : verdict.Action == FilterAction.FileInto ? verdict.Folder : null;
            foreach (var id in r.Resolution.AccountIds)
            {
                if (accountRecipient.TryAdd(id, r.Address))
                {
                    accounts.Add(new DeliveryTarget(id, folder));
                }
            }

            foreach (var forward in r.Resolution.ForwardTo)
            {
                if (!s.IsSubmission && !s.Options.Protection.Outbound.AllowExternalForwarding)
                {
                    // Automatic forwarding of inbound mail outside the organisation is off by default (as in EOP):
                    // a hijacked alias must not leak mail. The local members of the group still get their copy.
                    SmtpLog.ExternalForwardDropped(s.Logger, ctx.ConnectionId, r.Address, forward);
                    Trace(ctx, tx, TraceEventKind.Rejected, forward, "external forwarding from " + r.Address + " is disabled (protection.outbound.allowExternalForwarding)", headers);
                    continue;
                }

                if (seenRemote.Add(forward))
                {
                    remote.Add(new QueueRecipient(forward, r.Parameters.Notify, orcpt));
                }
            }
        }

        try
        {
            BlobRef? localBlob = null;
            byte[]? localContent = null;
            if (accounts.Count != 0)
            {
                // RFC 5321 section 4.4: the delivering server adds Return-Path.
                var returnPath = "Return-Path: <" + tx.SenderText + ">\r\n";
                localContent = Compose(returnPath + received + extraHeaders, message);
                // Made durable by the commit of the store write that refers to it (DeliverAsync below, or the
                // EnqueueAsync before it): no 250 rests on this body without such a write.
                localBlob = await s.Store.Blobs.PutForCommitAsync(localContent, ct);
            }

            if (remote.Count != 0)
            {
                ReadOnlyMemory<byte> outbound = Compose(received + extraHeaders, message);
                if (s.IsSubmission)
                {
                    outbound = s.Signer.Sign(outbound, ctx.FilterContext);
                }

                var remoteBlob = await s.Store.Blobs.PutForCommitAsync(outbound, ct);
                var entries = await s.Queue.EnqueueAsync(new OutboundMessage(tx.SenderText, remote, remoteBlob, now, tx.Parameters.EnvelopeId, tx.Parameters.Ret, verdict.Route), ct);
                RempartMetrics.MessagesDelivered.WithLabels("remote").Inc(remote.Count);
                var detail = "queue " + string.Join(", ", entries.Select(e => "queue:" + e.ToString(System.Globalization.CultureInfo.InvariantCulture))) + (verdict.Route is null ? string.Empty : " via route " + verdict.Route);
                foreach (var r in remote)
                {
                    Trace(ctx, tx, TraceEventKind.Queued, r.Address, detail, headers);
                }
            }

            var failed = new HashSet<long>();
            if (localBlob is not null)
            {
                var results = await s.Store.Messages.DeliverAsync(localBlob, localContent, accounts, now, ct);
                foreach (var result in results.Where(r => r.Outcome != DeliveryOutcome.Stored))
                {
                    SmtpLog.LocalDeliveryFailed(s.Logger, ctx.ConnectionId, result.AccountId, result.Outcome.ToString());
                    failed.Add(result.AccountId);
                }

                foreach (var target in accounts)
                {
                    var address = accountRecipient[target.AccountId];
                    Trace(ctx, tx, failed.Contains(target.AccountId) ? TraceEventKind.Bounced : TraceEventKind.Delivered, address,
                        failed.Contains(target.AccountId) ? "552 5.2.2 mailbox full" : "stored in " + (target.Mailbox ?? "INBOX"), headers);
                }

                RempartMetrics.MessagesDelivered.WithLabels("local").Inc(results.Count - failed.Count);
                if (failed.Count == accounts.Count && remote.Count == 0 && held == 0)
                {
                    // Nothing was stored anywhere: the client keeps the message and retries (RFC 5321 4.2.5).
                    Reject(ctx, "quota");
                    return SmtpReply.MailboxFull;
                }

                await ReportLocalOutcomesAsync(ctx, tx, localBlob, failed, message, ct);
            }

            RempartMetrics.MessagesReceived.WithLabels(s.Protocol).Inc();
            SmtpLog.MessageAccepted(s.Logger, ctx.ConnectionId, ctx.QueueId, tx.SenderText, tx.Recipients.Count, message.Length, accounts.Count - failed.Count, remote.Count);
            return new SmtpReply(250, "2.0.0", "OK queued as " + ctx.QueueId);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Internal error: 451 and a log entry; the client still holds the message (house style habit 7).
            SmtpLog.DeliveryFailed(s.Logger, ctx.ConnectionId, ex);
            return SmtpReply.LocalError;
        }
    }

    /// <summary>One recipient of the final envelope: as accepted at RCPT, or added by the filter.</summary>
    private sealed record EnvelopeRecipient(string Address, RcptParameters Parameters, RecipientResolution Resolution);

    /// <summary>
    /// The recipients after the filter's changes: a redirect replaces them, added recipients (BCC) join them. Added
    /// addresses come from the administrator's rules, so relaying to them is allowed; unknown local ones are skipped.
    /// </summary>
    private static async Task<List<EnvelopeRecipient>> EnvelopeAsync(SmtpSessionServices s, Transaction tx, FilterVerdict verdict, CancellationToken ct)
    {
        var list = verdict.RedirectTo is null
            ? tx.Recipients.Select(r => new EnvelopeRecipient(r.Address.Address, r.Parameters, r.Resolution)).ToList()
            : [];
        foreach (var address in (verdict.RedirectTo ?? []).Concat(verdict.AddRecipients))
        {
            if (list.Any(r => string.Equals(r.Address, address, StringComparison.OrdinalIgnoreCase)))
            {
                continue;
            }

            var resolution = await s.Store.Directory.ResolveRecipientAsync(address, ct);
            if (resolution.Status == RecipientStatus.UnknownLocal)
            {
                SmtpLog.AddedRecipientUnknown(s.Logger, address);
                continue;
            }

            list.Add(new EnvelopeRecipient(address, new RcptParameters(), resolution));
        }

        return list;
    }

    private static void Trace(DeliveryContext ctx, Transaction tx, TraceEventKind kind, string? recipient, string detail, HeaderList headers)
    {
        var messageId = headers[HeaderId.MessageId]?.Trim().Trim('<', '>');
        var subject = headers[HeaderId.Subject];
        ctx.Services.Trace.Record(new TraceEvent(DateTimeOffset.UtcNow, ctx.QueueId, kind, tx.SenderText, recipient, messageId, ctx.Remote.ToString(), detail, subject));
    }

    /// <summary>
    /// After a partly failed local delivery, bounces the failed recipients (RFC 3461 NOTIFY=FAILURE, the default);
    /// reports NOTIFY=SUCCESS deliveries (RFC 3461 section 6.2, "delivered").
    /// </summary>
    private static async Task ReportLocalOutcomesAsync(DeliveryContext ctx, Transaction tx, BlobRef localBlob, HashSet<long> failed, ReadOnlyMemory<byte> message, CancellationToken ct)
    {
        if (tx.Sender is null)
        {
            return;
        }

        var s = ctx.Services;
        var delivered = new List<QueueRecipient>();
        var bounced = new List<AcceptedRecipient>();
        foreach (var r in tx.Recipients.Where(r => !r.IsRemote && r.Resolution.AccountIds.Count != 0))
        {
            if (r.Resolution.AccountIds.Any(failed.Contains))
            {
                if (r.Parameters.Notify is null || r.Parameters.Notify.Contains("FAILURE", StringComparison.Ordinal))
                {
                    bounced.Add(r);
                }
            }
            else if (r.Parameters.Notify?.Contains("SUCCESS", StringComparison.Ordinal) == true)
            {
                delivered.Add(new QueueRecipient(r.Address.Address, r.Parameters.Notify, r.Parameters.OriginalRecipient));
            }
        }

        if (delivered.Count != 0)
        {
            await s.Queue.ReportDeliveredAsync(tx.SenderText, delivered, localBlob, tx.Parameters.EnvelopeId, tx.Parameters.Ret, ct);
        }

        if (bounced.Count != 0)
        {
            var now = DateTimeOffset.UtcNow;
            var report = new DsnReport(
                tx.SenderText,
                s.Options.HostName,
                now,
                now,
                tx.Parameters.EnvelopeId,
                tx.Parameters.Ret,
                [.. bounced.Select(r => new DsnRecipient(r.Address.Address, r.Parameters.OriginalRecipient, DsnAction.Failed, "5.2.2", "552 5.2.2 Mailbox full", DiagnosticIsSmtp: true))]);
            using var original = new MemoryStream(message.ToArray(), writable: false);
            var bounce = DsnBuilder.BuildBytes(report, original, message.Length);
            var blob = await s.Store.Blobs.PutAsync(bounce, ct);
            await s.Queue.EnqueueAsync(new OutboundMessage(string.Empty, [new QueueRecipient(tx.SenderText)], blob, DateTimeOffset.UtcNow), ct);
            RempartMetrics.Bounces.WithLabels("failure").Inc();
        }
    }

    private static void Reject(DeliveryContext ctx, string reason)
    {
        RempartMetrics.MessagesRejected.WithLabels(ctx.Services.Protocol, reason).Inc();
        SmtpLog.MessageRejected(ctx.Services.Logger, ctx.ConnectionId, reason);
    }

    /// <summary>The trace field of RFC 5321 section 4.4, with the protocol keywords of RFC 3848 and RFC 6531.</summary>
    internal static string ReceivedHeader(DeliveryContext ctx, Transaction tx, DateTimeOffset now)
    {
        var secure = ctx.TlsProtocol is not null;
        var authenticated = ctx.Account is not null;
        string with;
        if (!ctx.Esmtp)
        {
            with = "SMTP";
        }
        else
        {
            with = (tx.Parameters.SmtpUtf8 ? "UTF8SMTP" : "ESMTP") + (secure ? "S" : string.Empty) + (authenticated ? "A" : string.Empty);
        }

        var remoteLiteral = ctx.Remote.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 && !ctx.Remote.IsIPv4MappedToIPv6
            ? "IPv6:" + ctx.Remote
            : (ctx.Remote.IsIPv4MappedToIPv6 ? ctx.Remote.MapToIPv4() : ctx.Remote).ToString();
        var sb = new StringBuilder();
        sb.Append("Received: from ").Append(Sanitize(ctx.Helo)).Append(" ([").Append(remoteLiteral).Append("])\r\n");
        sb.Append("\tby ").Append(ctx.Services.Options.HostName).Append(" (Rempart)");
        if (secure)
        {
            sb.Append(" (using ").Append(ctx.TlsProtocol).Append(" with cipher ").Append(ctx.TlsCipher).Append(')');
        }

        sb.Append("\r\n\twith ").Append(with).Append(" id ").Append(ctx.ConnectionId);
        if (tx.Recipients.Count == 1)
        {
            // Only a single recipient is named: listing several would disclose Bcc recipients.
            sb.Append("\r\n\tfor <").Append(tx.Recipients[0].Address.Address).Append('>');
        }

        sb.Append(";\r\n\t").Append(DateUtils.FormatDate(now)).Append("\r\n");
        return sb.ToString();
    }

    private static string Sanitize(string helo)
    {
        var clean = new StringBuilder(Math.Min(helo.Length, 255));
        foreach (var c in helo.AsSpan(0, Math.Min(helo.Length, 255)))
        {
            clean.Append(c is '(' or ')' or '\\' or ';' || char.IsControl(c) ? '_' : c);
        }

        return clean.ToString();
    }

    private static HeaderList LoadHeaders(ReadOnlyMemory<byte> message)
    {
        try
        {
            using var stream = new MemoryStream(message.ToArray(), writable: false);
            return HeaderList.Load(ParserOptions.Default, stream);
        }
        catch (FormatException)
        {
            return [];
        }
    }

    private static byte[] Compose(string prefix, ReadOnlyMemory<byte> message) => Compose(Encoding.UTF8.GetBytes(prefix), message);

    private static byte[] Compose(byte[] prefix, ReadOnlyMemory<byte> message)
    {
        var all = new byte[prefix.Length + message.Length];
        prefix.CopyTo(all, 0);
        message.Span.CopyTo(all.AsSpan(prefix.Length));
        return all;
    }
}
