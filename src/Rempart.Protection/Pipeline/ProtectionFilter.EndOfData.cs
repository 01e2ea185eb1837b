using System.Globalization;
using System.Text;
using MimeKit;
using Rempart.Antispam;
using Rempart.Antivirus;
using Rempart.Protection.Reputation;
using Rempart.Protection.Rules;
using Rempart.SenderAuth;
using Rempart.Smtp.Filters;
using Rempart.Store;
using Rempart.Telemetry;

namespace Rempart.Protection.Pipeline;

/// <summary>End of data: every content stage, then one verdict.</summary>
public sealed partial class ProtectionFilter
{
    /// <summary>Recipients scored with their own spam model; beyond this the global verdict applies (bounded work).</summary>
    private const int MaxPersonalScores = 50;

    /// <summary>Text handed to body conditions of mail-flow rules.</summary>
    private const int MaxRuleBodyChars = 256 * 1024;

    private IReadOnlyList<string> _localDomains = [];
    private DateTimeOffset _localDomainsLoaded;

    public async ValueTask<FilterVerdict> OnEndOfDataAsync(FilterContext context, ReadOnlyMemory<byte> message, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (!_options.Enabled)
        {
            return FilterVerdict.Accept;
        }

        var outbound = context.AuthenticatedUser is not null;
        var traceId = context.QueueId ?? context.ConnectionId;
        var now = _s.Time.GetUtcNow();
        // Disposed at the end: MimeKit's messages and parts have finalizers, and an undisposed parse outlives a GC.
        using var mime = Parse(message);
        var evidence = new List<Evidence>();

        // Sender authentication, on the message exactly as received (DKIM signs those bytes).
        SpfResult? spf = null;
        MessageAuthentication? auth = null;
        if (!outbound && _s.SenderAuth is { } senderAuth)
        {
            try
            {
                spf = await senderAuth.CheckSpfAsync(context.RemoteAddress, context.HeloName ?? string.Empty, context.Sender ?? string.Empty, ct);
                auth = await senderAuth.VerifyAsync(mime, spf, ct);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogStageFailed(_logger, "sender-auth", ex);
            }
        }

        var malware = outbound && !_options.Outbound.Scan
            ? new MalwareVerdict(MalwareOutcome.Clean, null, null, [])
            : await _s.Antivirus.ScanAsync(mime, message, ct);

        var spam = _s.Spam?.Analyze(mime, message, null) ?? SpamAnalysis.Bypass;
        if (!outbound && spf is not null && _options.Connection.DnsblAction == "score" && _s.Dnsbl is { IsEmpty: false } dnsbl
            && await SafeDnsblAsync(dnsbl, context.RemoteAddress, ct) is { } listing)
        {
            evidence.Add(new Evidence("connect", "DNSBL", 3, $"listed by {listing.Zone}"));
        }

        var scl = ScoreToScl(spam, evidence, spf, auth);
        var rules = await EvaluateRulesAsync(context, mime, message, malware, scl, ct);
        if (rules.SetScl is { } forced)
        {
            scl = forced;
        }

        if (outbound && spam.Scl < 9 && rules.SetScl is null)
        {
            scl = -1;
        }

        var findings = new MessageFindings(outbound, spf, auth, malware, spam, rules);
        var decision = VerdictPolicy.Decide(findings, _options, scl);

        // Our headers, after removing copies a sender could have forged.
        var content = outbound ? message : HeaderSanitizer.RemoveForged(message, _s.Options.HostName);
        if (rules.ChangesContent)
        {
            content = MessageRewriter.Apply(rules, content);
        }

        var headers = new List<KeyValuePair<string, string>>();
        if (!outbound)
        {
            if (spf is not null && auth is not null)
            {
                headers.Add(new("Authentication-Results", SenderAuthenticator.AuthenticationResults(_s.Options.HostName, spf, auth)));
            }

            headers.Add(new("X-Rempart-Spam", SpamEngine.SpamHeaderValue(spam with { Scl = scl })));
        }

        if (malware.Outcome is MalwareOutcome.ScannerDownPassed or MalwareOutcome.TooLargeToScan)
        {
            headers.Add(new(MalwareScanner.NotScannedHeader, "not scanned: " + (malware.Reason ?? "scanner unavailable")));
        }

        var summary = Summary(scl, spf, auth, malware, rules, evidence);
        RecordOutcome(context, traceId, decision, summary, rules, now);

        FilterVerdict verdict;
        switch (decision.Kind)
        {
            case VerdictKind.Reject:
                return FilterVerdict.Reject(decision.Code, decision.Enhanced, decision.Reason);
            case VerdictKind.TempFail:
                return FilterVerdict.TempFail(decision.Reason) with { Code = decision.Code is >= 400 and < 500 ? decision.Code : 451, Enhanced = decision.Enhanced };
            case VerdictKind.Quarantine:
                await HoldAsync(context, mime, headers, content, context.Recipients, decision, traceId, now, ct);
                return FilterVerdict.Quarantine(decision.Reason);
            case VerdictKind.Junk:
                verdict = FilterVerdict.FileInto("Junk");
                break;
            default:
                verdict = FilterVerdict.Accept;
                break;
        }

        var perRecipient = outbound || _s.Spam is null || rules.SetScl is not null || decision.Category is "dmarc"
            ? []
            : await PersonalVerdictsAsync(context, mime, message, spam, decision, evidence, spf, auth, headers, content, traceId, now, ct);

        verdict = verdict with
        {
            Headers = headers,
            Message = content.Equals(message) ? (ReadOnlyMemory<byte>?)null : content,
            PerRecipient = perRecipient,
            RedirectTo = rules.RedirectTo.Count == 0 ? null : rules.RedirectTo,
            AddRecipients = [.. rules.AddRecipients, .. rules.Bcc],
            Route = rules.RouteName,
        };
        return verdict;
    }

    /// <summary>The spam score plus our own evidence (SPF/DMARC failures, DNSBL) as an SCL.</summary>
    private static int ScoreToScl(SpamAnalysis spam, List<Evidence> evidence, SpfResult? spf, MessageAuthentication? auth)
    {
        if (spam.Scl < 0)
        {
            return spam.Scl;
        }

        if (spf?.Status == SpfStatus.Fail)
        {
            evidence.Add(new Evidence("auth", "SPF_FAIL", 2, "SPF fail for " + spf.Domain));
        }
        else if (spf?.Status == SpfStatus.SoftFail)
        {
            evidence.Add(new Evidence("auth", "SPF_SOFTFAIL", 1, "SPF softfail for " + spf.Domain));
        }

        if (auth?.Dmarc is { Status: DmarcStatus.Fail } dmarc)
        {
            evidence.Add(new Evidence("auth", "DMARC_FAIL", 2, "DMARC fail for " + dmarc.FromDomain));
        }

        if (auth is not null && auth.Dkim.Any(d => d.Status == DkimStatus.Fail))
        {
            evidence.Add(new Evidence("auth", "DKIM_FAIL", 1, "a DKIM signature does not verify"));
        }

        var extra = evidence.Sum(e => e.Score);
        return spam.Gtube ? 9 : SpamEngine.SclOf(spam.Score + extra);
    }

    private async Task<RuleOutcome> EvaluateRulesAsync(FilterContext context, MimeMessage mime, ReadOnlyMemory<byte> raw, MalwareVerdict malware, int scl, CancellationToken ct)
    {
        var engine = await _s.Rules.GetAsync(ct);
        if (engine.Rules.Count == 0)
        {
            // Nothing to evaluate: no body text to extract (it was a visible part of each message's CPU).
            return new RuleOutcome();
        }

        var domains = await LocalDomainsAsync(ct);
        var body = mime.TextBody ?? StripTags(mime.HtmlBody) ?? string.Empty;
        var message = new RuleMessage
        {
            Sender = context.Sender ?? string.Empty,
            Recipients = context.Recipients,
            FromHeader = mime.From.Mailboxes.FirstOrDefault()?.Address,
            Headers = [.. mime.Headers.Select(h => new KeyValuePair<string, string>(h.Field, h.Value))],
            Subject = mime.Subject ?? string.Empty,
            BodyText = body.Length > MaxRuleBodyChars ? body[..MaxRuleBodyChars] : body,
            Attachments = [.. malware.Attachments.Select(a => new RuleAttachment(a.FileName, a.DetectedType, a.Size))],
            Size = raw.Length,
            Scl = scl,
            IsInternal = address =>
            {
                var at = address.LastIndexOf('@');
                return at > 0 && domains.Contains(address[(at + 1)..], StringComparer.OrdinalIgnoreCase);
            },
        };
        return engine.Evaluate(message);
    }

    /// <summary>
    /// Each local recipient's own spam model may disagree with the global one (they taught it by moving mail into
    /// or out of Junk): their copy goes where their model says.
    /// </summary>
    private async Task<IReadOnlyList<RecipientVerdict>> PersonalVerdictsAsync(
        FilterContext context, MimeMessage mime, ReadOnlyMemory<byte> raw, SpamAnalysis globalSpam, PipelineDecision global, List<Evidence> evidence,
        SpfResult? spf, MessageAuthentication? auth, List<KeyValuePair<string, string>> headers, ReadOnlyMemory<byte> content,
        string traceId, DateTimeOffset now, CancellationToken ct)
    {
        var result = new List<RecipientVerdict>();
        var toHold = new List<string>();
        foreach (var recipient in context.Recipients.Take(MaxPersonalScores))
        {
            var resolution = await _s.Store.Directory.ResolveRecipientAsync(recipient, ct);
            if (resolution.Status != RecipientStatus.Local || resolution.AccountIds.Count != 1)
            {
                continue;
            }

            // Without a model of their own the recipient's analysis is the global one: not computed twice.
            var personal = _s.Spam!.UsesPersonalModel(resolution.AccountIds[0]) ? _s.Spam.Analyze(mime, raw, resolution.AccountIds[0]) : globalSpam;
            var decision = VerdictPolicy.ForScl(ScoreToScl(personal, [.. evidence.Where(e => e.Stage == "connect")], spf, auth), _options, outbound: false);
            if (decision.Kind == global.Kind || decision.Kind is VerdictKind.Reject or VerdictKind.TempFail)
            {
                continue;
            }

            switch (decision.Kind)
            {
                case VerdictKind.Quarantine:
                    toHold.Add(recipient);
                    result.Add(new RecipientVerdict(recipient, FilterAction.Quarantine));
                    break;
                case VerdictKind.Junk:
                    result.Add(new RecipientVerdict(recipient, FilterAction.FileInto, "Junk"));
                    break;
                default:
                    result.Add(new RecipientVerdict(recipient, FilterAction.Accept));
                    break;
            }

            _s.Trace.Record(new TraceEvent(now, traceId, TraceEventKind.Verdict, context.Sender ?? string.Empty, recipient, MessageIdOf(mime), context.RemoteAddress.ToString(), $"{decision.Kind.ToString().ToLowerInvariant()} by the recipient's own model: {decision.Reason}", mime.Subject));
        }

        if (toHold.Count != 0)
        {
            await HoldAsync(context, mime, headers, content, toHold, new PipelineDecision(VerdictKind.Quarantine, "spam (recipient's own model)", "spam"), traceId, now, ct);
        }

        return result;
    }

    private async Task HoldAsync(FilterContext context, MimeMessage mime, List<KeyValuePair<string, string>> headers, ReadOnlyMemory<byte> content,
        IReadOnlyList<string> recipients, PipelineDecision decision, string traceId, DateTimeOffset now, CancellationToken ct)
    {
        var prefix = new StringBuilder();
        foreach (var (name, value) in headers)
        {
            prefix.Append(name).Append(": ").Append(value.ReplaceLineEndings(" ")).Append("\r\n");
        }

        var bytes = new byte[Encoding.UTF8.GetByteCount(prefix.ToString()) + content.Length];
        var n = Encoding.UTF8.GetBytes(prefix.ToString(), bytes);
        content.Span.CopyTo(bytes.AsSpan(n));
        var blob = await _s.Store.Blobs.PutAsync(bytes, ct);
        await _s.Quarantine.HoldAsync(
            new NewQuarantine(blob, context.Sender ?? string.Empty, recipients, mime.Subject ?? string.Empty, MessageIdOf(mime), decision.Reason, decision.Category, now,
                now + _options.Quarantine.Retention, traceId),
            ct);
    }

    private void RecordOutcome(FilterContext context, string traceId, PipelineDecision decision, string summary, RuleOutcome rules, DateTimeOffset now)
    {
        var direction = context.AuthenticatedUser is null ? "inbound" : "outbound";
        var kind = decision.Kind.ToString().ToLowerInvariant();
        RempartMetrics.ProtectionVerdicts.WithLabels(direction, kind).Inc();
        if (decision.Category != "none")
        {
            RempartMetrics.ProtectionDetections.WithLabels(decision.Category).Inc();
        }

        foreach (var hit in rules.Hits)
        {
            _s.Trace.Record(new TraceEvent(now, traceId, TraceEventKind.RuleHit, context.Sender ?? string.Empty, null, null, context.RemoteAddress.ToString(), "rule " + hit));
        }

        _s.Trace.Record(new TraceEvent(now, traceId, TraceEventKind.Verdict, context.Sender ?? string.Empty, null, null, context.RemoteAddress.ToString(), $"{kind}: {decision.Reason} [{summary}]"));
        LogVerdict(_logger, traceId, context.Sender ?? string.Empty, decision.Kind, decision.Reason + " [" + summary + "]");

        if (direction == "inbound")
        {
            var signal = decision.Category switch
            {
                "malware" or "policy" => ReputationSignal.Malware,
                "spam" or "dmarc" => ReputationSignal.Spam,
                _ => decision.Kind == VerdictKind.Inbox ? ReputationSignal.Ham : (ReputationSignal?)null,
            };
            if (signal is { } s && decision.Kind != VerdictKind.TempFail)
            {
                _s.Reputation.Record(context.RemoteAddress, s);
            }
        }
    }

    private static string Summary(int scl, SpfResult? spf, MessageAuthentication? auth, MalwareVerdict malware, RuleOutcome rules, List<Evidence> evidence)
    {
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"scl={scl}");
        if (spf is not null)
        {
            sb.Append(" spf=").Append(spf.Status.ToString().ToLowerInvariant());
        }

        if (auth is not null)
        {
            sb.Append(" dkim=").Append(auth.Dkim.Count == 0 ? "none" : string.Join(',', auth.Dkim.Select(d => d.Status.ToString().ToLowerInvariant())));
            sb.Append(" dmarc=").Append(auth.Dmarc.Status.ToString().ToLowerInvariant());
        }

        sb.Append(" av=").Append(malware.Outcome.ToString().ToLowerInvariant());
        if (malware.Name is not null)
        {
            sb.Append('(').Append(malware.Name).Append(')');
        }

        if (rules.Hits.Count != 0)
        {
            sb.Append(" rules=").Append(string.Join(',', rules.Hits));
        }

        foreach (var e in evidence)
        {
            sb.Append(' ').Append(e.Name);
        }

        return sb.ToString();
    }

    private async Task<IReadOnlyList<string>> LocalDomainsAsync(CancellationToken ct)
    {
        var now = _s.Time.GetUtcNow();
        if (now - _localDomainsLoaded > TimeSpan.FromSeconds(30))
        {
            _localDomains = [.. (await _s.Store.Directory.ListDomainsAsync(ct)).Select(d => d.Name)];
            _localDomainsLoaded = now;
        }

        return _localDomains;
    }

    private static MimeMessage Parse(ReadOnlyMemory<byte> message)
    {
        try
        {
            using var stream = new MemoryStream(message.ToArray(), writable: false);
            return MimeMessage.Load(stream);
        }
        catch (FormatException)
        {
            // Not MIME at all: scan it as one text body so the stages still see its content.
            return new MimeMessage { Body = new TextPart("plain") { Text = Encoding.UTF8.GetString(message.Span) } };
        }
    }

    private static string? MessageIdOf(MimeMessage mime) => string.IsNullOrEmpty(mime.MessageId) ? null : mime.MessageId;

    private static string? StripTags(string? html)
    {
        if (html is null)
        {
            return null;
        }

        var sb = new StringBuilder(html.Length);
        var inTag = false;
        foreach (var c in html)
        {
            if (c == '<')
            {
                inTag = true;
            }
            else if (c == '>')
            {
                inTag = false;
                sb.Append(' ');
            }
            else if (!inTag)
            {
                sb.Append(c);
            }
        }

        return sb.ToString();
    }
}
