using System.Globalization;
using System.Net;
using System.Text;
using DnsClient;
using Microsoft.Extensions.Logging;
using MimeKit;
using MimeKit.Cryptography;
using Rempart.Common.Configuration;
using Rempart.SenderAuth.Dkim;
using Rempart.SenderAuth.Dmarc;
using Rempart.SenderAuth.Dns;
using Rempart.SenderAuth.Spf;
using Rempart.Telemetry;

namespace Rempart.SenderAuth;

/// <summary>
/// Checks who sent a message: SPF on the SMTP envelope (RFC 7208), DKIM signatures (RFC 6376), the ARC chain
/// (RFC 8617) and the DMARC policy of the From domain (RFC 7489). Thread-safe; create one per server.
/// </summary>
public sealed partial class SenderAuthenticator
{
    private readonly SenderAuthOptions options;
    private readonly SpfEvaluator spf;
    private readonly DkimVerifier dkimVerifier;
    private readonly ArcVerifier arcVerifier;
    private readonly DmarcEvaluator dmarc;
    private readonly ILogger logger;

    /// <summary>Uses the resolvers of <paramref name="dns"/> (or the system's when it names none).</summary>
    public SenderAuthenticator(SenderAuthOptions options, DnsOptions dns, ILoggerFactory loggers)
        : this(options, DnsLookup.CreateClient(dns), loggers)
    {
    }

    /// <summary>Uses the given DNS client (tests point it at a local DNS server).</summary>
    public SenderAuthenticator(SenderAuthOptions options, ILookupClient dns, ILoggerFactory loggers, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(dns);
        ArgumentNullException.ThrowIfNull(loggers);
        this.options = options;
        var lookup = new DnsLookup(dns, time);
        Suffixes = PublicSuffixList.Load(options.PublicSuffixListPath);
        spf = new SpfEvaluator(lookup, options.SpfLookupLimit, options.SpfVoidLookupLimit);
        var locator = new DnsDkimKeyLocator(lookup, options.DkimKeyCacheTime, time ?? TimeProvider.System);
        dkimVerifier = new DkimVerifier(locator);
        arcVerifier = new ArcVerifier(locator);
        dmarc = new DmarcEvaluator(lookup, Suffixes, () => PercentSample());
        logger = loggers.CreateLogger<SenderAuthenticator>();
        Time = time ?? TimeProvider.System;
    }

    /// <summary>The suffix list in use; <see cref="PublicSuffixList.Loaded"/> is false when the file was missing.</summary>
    public PublicSuffixList Suffixes { get; }

    /// <summary>Draws the 0..99 number compared with DMARC "pct" (tests replace it).</summary>
    internal Func<int> PercentSample { get; set; } = () => Random.Shared.Next(100);

    private TimeProvider Time { get; }

    /// <summary>
    /// SPF for the MAIL FROM identity, or for the HELO identity when <paramref name="mailFrom"/> is "" (the null
    /// sender, RFC 7208 2.3). Never throws for DNS trouble: that is <see cref="SpfStatus.TempError"/>.
    /// </summary>
    public async Task<SpfResult> CheckSpfAsync(IPAddress client, string helo, string mailFrom, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(client);
        if (!options.Enabled)
        {
            return new SpfResult(SpfStatus.None, "", "sender authentication is disabled") { MailFrom = mailFrom ?? "", Helo = helo ?? "" };
        }

        var result = await spf.CheckAsync(client, helo ?? "", mailFrom ?? "", ct);
        LogSpf(logger, client, result.Domain, result.Status, result.Explanation);
        return result;
    }

    /// <summary>DKIM (one result per signature, at most <see cref="SenderAuthOptions.MaxDkimSignatures"/>), ARC and DMARC.</summary>
    public async Task<MessageAuthentication> VerifyAsync(MimeMessage message, SpfResult spf, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(message);
        ArgumentNullException.ThrowIfNull(spf);
        if (!options.Enabled)
        {
            return new MessageAuthentication([], new ArcResult(ArcStatus.None, null), new DmarcResult(DmarcStatus.None, DmarcPolicy.None, "", false, false, false, "sender authentication is disabled"));
        }

        var dkim = new List<DkimResult>();
        foreach (var header in message.Headers.Where(h => h.Id == HeaderId.DkimSignature).Take(options.MaxDkimSignatures))
        {
            dkim.Add(await VerifyDkimAsync(message, header, ct));
        }

        var arc = await VerifyArcAsync(message, ct);
        var dmarcResult = await VerifyDmarcAsync(message, spf, dkim, ct);
        LogMessage(logger, message.MessageId ?? "-", string.Join(',', dkim.Select(d => d.Status + ":" + d.Domain)), arc.Status, dmarcResult.Status, dmarcResult.FromDomain);
        return new MessageAuthentication(dkim, arc, dmarcResult);
    }

    private async Task<DkimResult> VerifyDkimAsync(MimeMessage message, Header header, CancellationToken ct)
    {
        var tags = TagList.Parse(header.Value) ?? [];
        var domain = tags.GetValueOrDefault("d", "").ToLowerInvariant();
        var selector = tags.GetValueOrDefault("s", "");
        try
        {
            // RFC 6376 3.5: x= is an expiry time; MimeKit does not look at it.
            if (tags.TryGetValue("x", out var x) && long.TryParse(x, NumberStyles.None, CultureInfo.InvariantCulture, out var expires)
                && expires < Time.GetUtcNow().ToUnixTimeSeconds())
            {
                return new DkimResult(DkimStatus.Fail, domain, selector, "signature expired");
            }

            return await dkimVerifier.VerifyAsync(message, header, ct)
                ? new DkimResult(DkimStatus.Pass, domain, selector, null)
                : new DkimResult(DkimStatus.Fail, domain, selector, "signature did not verify");
        }
        catch (FormatException ex)
        {
            return new DkimResult(DkimStatus.PermError, domain, selector, ex.Message);
        }
        catch (DkimKeyException ex)
        {
            return new DkimResult(ex.Temporary ? DkimStatus.TempError : DkimStatus.PermError, domain, selector, ex.Message);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A hostile signature (wrong key type for the algorithm, odd encodings) must give a verdict, not a crash.
            LogError(logger, "DKIM " + domain, ex);
            return new DkimResult(DkimStatus.PermError, domain, selector, ex.GetType().Name + ": " + ex.Message);
        }
    }

    private async Task<ArcResult> VerifyArcAsync(MimeMessage message, CancellationToken ct)
    {
        try
        {
            var result = await arcVerifier.VerifyAsync(message, ct);
            return result.Chain switch
            {
                ArcSignatureValidationResult.Pass => new ArcResult(ArcStatus.Pass, null),
                ArcSignatureValidationResult.Fail => new ArcResult(ArcStatus.Fail, result.ChainErrors.ToString()),
                _ => new ArcResult(ArcStatus.None, null),
            };
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogError(logger, "ARC", ex);
            return new ArcResult(ArcStatus.Fail, ex.GetType().Name + ": " + ex.Message);
        }
    }

    private async Task<DmarcResult> VerifyDmarcAsync(MimeMessage message, SpfResult spf, IReadOnlyList<DkimResult> dkim, CancellationToken ct)
    {
        // RFC 7489 6.6.1: exactly one RFC5322.From domain is needed to pick a policy.
        var fromHeaders = message.Headers.Count(h => h.Id == HeaderId.From);
        var mailboxes = message.From.Mailboxes.ToList();
        string? problem = fromHeaders switch
        {
            0 => "message has no From header",
            > 1 => "message has several From headers",
            _ => mailboxes.Count switch
            {
                0 => "From header has no address",
                > 1 => "From header has several addresses",
                _ => mailboxes[0].Domain.Length == 0 || !mailboxes[0].Domain.Contains('.', StringComparison.Ordinal)
                    ? "From address has no domain"
                    : null,
            },
        };
        if (problem is not null)
        {
            var domain = mailboxes.Count > 0 ? mailboxes[0].Domain.ToLowerInvariant() : "";
            return new DmarcResult(DmarcStatus.PermError, DmarcPolicy.None, domain, false, false, false, problem);
        }

        return await dmarc.EvaluateAsync(mailboxes[0].Domain, spf, dkim, ct);
    }

    /// <summary>
    /// The value of an Authentication-Results header (RFC 8601) for these results, for example
    /// "mx.example.org; spf=pass smtp.mailfrom=a@example.com; dkim=pass header.d=example.com header.s=s1; arc=none;
    /// dmarc=pass (p=reject) header.from=example.com".
    /// </summary>
    public static string AuthenticationResults(string authServId, SpfResult spf, MessageAuthentication auth)
    {
        ArgumentNullException.ThrowIfNull(authServId);
        ArgumentNullException.ThrowIfNull(spf);
        ArgumentNullException.ThrowIfNull(auth);
        var sb = new StringBuilder(authServId);

        sb.Append("; spf=").Append(Name(spf.Status));
        AppendReason(sb, spf.Status is SpfStatus.Pass or SpfStatus.None ? null : spf.Explanation);
        if (spf.CheckedHelo)
        {
            AppendProperty(sb, "smtp.helo", spf.Helo);
        }
        else
        {
            AppendProperty(sb, "smtp.mailfrom", spf.MailFrom.Length > 0 ? spf.MailFrom : spf.Domain);
        }

        if (auth.Dkim.Count == 0)
        {
            sb.Append("; dkim=none");
        }

        foreach (var d in auth.Dkim)
        {
            sb.Append("; dkim=").Append(Name(d.Status));
            AppendReason(sb, d.Reason);
            AppendProperty(sb, "header.d", d.Domain);
            AppendProperty(sb, "header.s", d.Selector);
        }

        sb.Append("; arc=").Append(auth.Arc.Status.ToString().ToLowerInvariant());
        AppendReason(sb, auth.Arc.Reason);

        var m = auth.Dmarc;
        sb.Append("; dmarc=").Append(m.Status.ToString().ToLowerInvariant());
        if (m.Status is DmarcStatus.Pass or DmarcStatus.Fail)
        {
            sb.Append(" (p=").Append(m.Policy.ToString().ToLowerInvariant());
            if (m.Status == DmarcStatus.Fail)
            {
                sb.Append(" dis=").Append((m.ApplyPolicy ? m.Policy : DmarcPolicy.None).ToString().ToLowerInvariant());
            }

            sb.Append(')');
        }
        else
        {
            AppendReason(sb, m.Status == DmarcStatus.None ? null : m.Reason);
        }

        AppendProperty(sb, "header.from", m.FromDomain);
        return sb.ToString();
    }

    private static string Name(SpfStatus status) => status.ToString().ToLowerInvariant();

    private static string Name(DkimStatus status) => status.ToString().ToLowerInvariant();

    /// <summary>RFC 8601 2.2: reason="..." as a quoted-string, one line, bounded.</summary>
    private static void AppendReason(StringBuilder sb, string? reason)
    {
        if (string.IsNullOrWhiteSpace(reason))
        {
            return;
        }

        var clean = new string(reason.Where(c => c >= ' ' && c < 0x7F && c != '"' && c != '\\').Take(120).ToArray());
        sb.Append(" reason=\"").Append(clean).Append('"');
    }

    /// <summary>RFC 8601 2.3: a property value is a token or an address; anything else is dropped rather than misquoted.</summary>
    private static void AppendProperty(StringBuilder sb, string name, string value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > 320 || value.Any(c => c <= ' ' || c >= 0x7F || c is ';' or '(' or ')' or '"' or '\\'))
        {
            return;
        }

        sb.Append(' ').Append(name).Append('=').Append(value);
    }

    [LoggerMessage(EventId = (int)EventIds.SenderAuthChecked, Level = LogLevel.Debug, Message = "SPF for {Client}: {Domain} {Status} ({Explanation})")]
    private static partial void LogSpf(ILogger logger, IPAddress client, string domain, SpfStatus status, string? explanation);

    [LoggerMessage(EventId = (int)EventIds.SenderAuthChecked, Level = LogLevel.Debug, Message = "Message {MessageId}: dkim [{Dkim}] arc {Arc} dmarc {Dmarc} for {From}")]
    private static partial void LogMessage(ILogger logger, string messageId, string dkim, ArcStatus arc, DmarcStatus dmarc, string from);

    [LoggerMessage(EventId = (int)EventIds.SenderAuthError, Level = LogLevel.Warning, Message = "{Check} verification failed unexpectedly")]
    private static partial void LogError(ILogger logger, string check, Exception ex);
}
